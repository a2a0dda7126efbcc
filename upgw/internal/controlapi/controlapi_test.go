package controlapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
	"github.com/edgemec/edgemec/upgw/internal/rules"
	"github.com/edgemec/edgemec/upgw/internal/ruleset"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

// fakeDP stands in for the loaded data plane.
type fakeDP struct {
	mu     sync.Mutex
	swaps  [][]dataplane.Entry
	resets []uint32
	count  map[uint32]dataplane.Counter
	owners []dataplane.OwnerID
}

func (f *fakeDP) RuleOwners() ([]dataplane.OwnerID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owners == nil {
		f.owners = make([]dataplane.OwnerID, dataplane.MaxRules)
	}
	return append([]dataplane.OwnerID(nil), f.owners...), nil
}

func (f *fakeDP) SetRuleOwner(slot uint32, id dataplane.OwnerID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owners == nil {
		f.owners = make([]dataplane.OwnerID, dataplane.MaxRules)
	}
	f.owners[slot] = id
	return nil
}

func (f *fakeDP) SwapRuleSet(e []dataplane.Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.swaps = append(f.swaps, e)
	return nil
}

func (f *fakeDP) ResetRuleCounter(s uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, s)
	delete(f.count, s)
	return nil
}

func (f *fakeDP) RuleCounter(s uint32) (dataplane.Counter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[s], nil
}

func (f *fakeDP) PathStats() ([]dataplane.Counter, error) {
	cs := make([]dataplane.Counter, dataplane.NumStats)
	cs[dataplane.StatULDecap] = dataplane.Counter{Packets: 3, Bytes: 300}
	return cs, nil
}

func (f *fakeDP) Sessions() ([]dataplane.SessionEntry, error) {
	return []dataplane.SessionEntry{{UE: netip.MustParseAddr("10.60.0.1"),
		Session: dataplane.Session{Gnb: dataplane.AddrFrom(netip.MustParseAddr("10.0.0.1")),
			Upf: dataplane.AddrFrom(netip.MustParseAddr("10.0.0.2")), Teid: 0xa1, Qfi: 9, Learned: 2}}}, nil
}

type oneApp struct{}

func (oneApp) App(d mp1api.DestinationInterface) (uint8, error) {
	var ip string
	if d.DstIpAddress != nil {
		ip = *d.DstIpAddress
	}
	if ip == "192.0.2.10" {
		return 2, nil
	}
	return 0, fmt.Errorf("%w: %s", rules.ErrNoTarget, ip)
}

func (oneApp) Endpoint(mp1api.DestinationInterface) (uint8, error) { return 0, rules.ErrNoTarget }

const snapV1 = `{"version":1,"rules":[
 {"appInstanceId":"app1","trafficRule":{"trafficRuleId":"tr1","filterType":"FLOW","priority":1,"action":"FORWARD_DECAPSULATED","state":"ACTIVE",
  "dstInterface":{"interfaceType":"IP","dstIpAddress":"192.0.2.10"},"trafficFilter":[{"dstAddress":["192.0.2.10"],"dstPort":["8080"],"protocol":["UDP"]}]}},
 {"appInstanceId":"app1","trafficRule":{"trafficRuleId":"tr2","filterType":"FLOW","priority":2,"action":"FORWARD_DECAPSULATED","state":"ACTIVE",
  "dstInterface":[{"interfaceType":"IP","dstIpAddress":"198.51.100.1"}],"trafficFilter":[{}]}},
 {"appInstanceId":"app2","trafficRule":{"trafficRuleId":"tr3","filterType":"PACKET","priority":0,"action":"DROP","state":"INACTIVE","trafficFilter":[{}]}}]}`

func do(t *testing.T, h http.Handler, method, path, body string) (int, string, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, rec.Header().Get("Content-Type"), string(b)
}

func TestControlAPI(t *testing.T) {
	dp := &fakeDP{count: map[uint32]dataplane.Counter{}}
	state := filepath.Join(t.TempDir(), "ruleset.json")
	m := ruleset.New(dp, oneApp{}, state, slog.New(slog.DiscardHandler), noop.NewTracerProvider())
	h, err := NewHandler(m, nil, Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	code, _, body := do(t, h, http.MethodPut, "/upgw/v1/ruleset", snapV1)
	if code != 200 {
		t.Fatalf("PUT ruleset: %d %s; want 200", code, body)
	}
	var rs upgwapi.RuleSet
	if err := json.Unmarshal([]byte(body), &rs); err != nil {
		t.Fatal(err)
	}
	if rs.Version != 1 || rs.Source != "api" || len(rs.Rules) != 1 || rs.Rules[0].TrafficRuleId != "tr1" || rs.Inactive != 1 {
		t.Errorf("rule set %+v; want version 1 from api with tr1 active and 1 inactive", rs)
	}
	if len(rs.Rejected) != 1 || rs.Rejected[0].TrafficRuleId != "tr2" || !strings.Contains(rs.Rejected[0].Reason, "198.51.100.1") {
		t.Errorf("rejected %+v; want tr2 with a reason naming 198.51.100.1", rs.Rejected)
	}
	if len(dp.swaps) != 1 || len(dp.swaps[0]) != 1 {
		t.Fatalf("data plane swaps %d; want 1 with 1 prefix", len(dp.swaps))
	}

	tests := []struct {
		name, method, path, body string
		code                     int
		ctype, contains          string
	}{
		{"same version again", http.MethodPut, "/upgw/v1/ruleset", snapV1, 409, "application/problem+json", `"status":409`},
		{"not json", http.MethodPut, "/upgw/v1/ruleset", `{"version":`, 400, "application/problem+json", `"detail"`},
		{"zero version", http.MethodPut, "/upgw/v1/ruleset", `{"version":0,"rules":[]}`, 400, "application/problem+json", "version must be positive"},
		{"negative version", http.MethodPut, "/upgw/v1/ruleset", `{"version":-3,"rules":[]}`, 400, "application/problem+json", "version must be positive"},
		{"bad dstInterface", http.MethodPut, "/upgw/v1/ruleset", `{"version":9,"rules":[{"appInstanceId":"a","trafficRule":{"dstInterface":7}}]}`, 400, "application/problem+json", "dstInterface"},
		{"status", http.MethodGet, "/upgw/v1/status", "", 200, "application/json", `"ruleSetVersion":1`},
		{"rule set", http.MethodGet, "/upgw/v1/ruleset", "", 200, "application/json", `"trafficRuleId":"tr1"`},
		{"rule counters", http.MethodGet, "/upgw/v1/counters/rules", "", 200, "application/json", `"trafficRuleId":"tr1"`},
		{"path counters", http.MethodGet, "/upgw/v1/counters/paths", "", 200, "application/json", `{"bytes":300,"packets":3,"path":"ul_decap"}`},
		{"sessions", http.MethodGet, "/upgw/v1/sessions", "", 200, "application/json", `"gnbAddress":"10.0.0.1","learned":2,"qfi":9,"teid":161,"ueAddress":"10.60.0.1"`},
		{"unknown path", http.MethodGet, "/upgw/v1/nope", "", 404, "application/problem+json", `"status":404`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ctype, body := do(t, h, tt.method, tt.path, tt.body)
			if code != tt.code || !strings.HasPrefix(ctype, tt.ctype) || !strings.Contains(body, tt.contains) {
				t.Errorf("got %d %s %s; want %d %s containing %s", code, ctype, body, tt.code, tt.ctype, tt.contains)
			}
		})
	}

	// A restarted agent re-applies the persisted version before the MEP answers.
	dp2 := &fakeDP{count: map[uint32]dataplane.Counter{}}
	m2 := ruleset.New(dp2, oneApp{}, state, slog.New(slog.DiscardHandler), noop.NewTracerProvider())
	v, err := m2.Restore(t.Context())
	if err != nil || v.Version != 1 {
		t.Fatalf("restore: version %d, %v; want 1", v.Version, err)
	}
	if cur := m2.Current(); cur.Source != ruleset.SourceState || len(cur.Rules) != 1 || len(dp2.swaps) != 1 {
		t.Errorf("restored %+v with %d swaps; want tr1 from state in one swap", cur, len(dp2.swaps))
	}
}
