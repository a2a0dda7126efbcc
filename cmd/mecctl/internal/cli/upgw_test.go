package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/upgw/tracefmt"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

// upgwState is a UPGW's control API state for the tests: the agent itself needs its N3
// interfaces and eBPF, so the tests run the generated control API server (the one the
// agent serves, upgwapi) over fixed answers.
type upgwState struct{ delay time.Duration }

var _ upgwapi.StrictServerInterface = upgwState{}

var applied = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (s upgwState) wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(s.delay):
	}
}

func (s upgwState) GetStatus(ctx context.Context, _ upgwapi.GetStatusRequestObject) (upgwapi.GetStatusResponseObject, error) {
	s.wait(ctx)
	last := "mep: connection refused"
	return upgwapi.GetStatus200JSONResponse{RuleSetVersion: 7, RuleSetSource: "feed", ActiveRules: 2, RejectedRules: 1,
		Sessions: 1, AppliedAt: &applied, Feed: upgwapi.FeedStatus{Enabled: true, Connected: false, LastSuccess: &applied, LastError: &last}}, nil
}

func (s upgwState) GetRuleSet(ctx context.Context, _ upgwapi.GetRuleSetRequestObject) (upgwapi.GetRuleSetResponseObject, error) {
	return upgwapi.GetRuleSet200JSONResponse{Version: 7, Source: "feed", AppliedAt: &applied, Inactive: 1,
		Rules: []upgwapi.CompiledRule{
			{AppInstanceId: "cache-1", TrafficRuleId: "tr-cache", Priority: 3, Action: "FORWARD_DECAPSULATED", Matches: 1},
			{AppInstanceId: "cache-2", TrafficRuleId: "tr-drop", Priority: 1, Action: "DROP", Matches: 2},
		},
		Rejected: []upgwapi.RejectedRule{{AppInstanceId: "cache-3", TrafficRuleId: "tr-far", Reason: "destination 198.51.100.1 is no app port"}},
	}, nil
}

// traceEvents are the events the fake UPGW streams for a trace of app cache-1.
var traceEvents = func() []upgwapi.TraceEvent {
	app, rule, teid, qfi, sport, dport := "cache-1", "tr-cache", int64(0x100), 9, 40000, 8080
	frame := make([]byte, 60)
	for i := range frame {
		frame[i] = byte(i)
	}
	return []upgwapi.TraceEvent{
		{Time: applied, Path: "ul_decap", Program: "xdp_gnb", AppInstanceId: &app, TrafficRuleId: &rule, Teid: &teid, Qfi: &qfi,
			Outer:   &upgwapi.TraceFlow{Src: "10.0.0.1", Dst: "10.0.0.2", Protocol: "UDP"},
			Inner:   &upgwapi.TraceFlow{Src: "10.60.0.1", SrcPort: &sport, Dst: "192.0.2.10", DstPort: &dport, Protocol: "UDP"},
			Ifindex: 3, Length: 250, Captured: len(frame), Data: frame},
		{Time: applied.Add(time.Millisecond), Path: "dl_encap", Program: "tc_app", Teid: &teid,
			Inner:   &upgwapi.TraceFlow{Src: "192.0.2.10", Dst: "10.60.0.1", Protocol: "UDP"},
			Ifindex: 4, Length: 266, Captured: 20, Data: frame[:20]},
	}
}()

// Trace streams traceEvents and the end line for app cache-1 on the paths ul_decap and
// dl_encap at rate 5 for 2 seconds, and refuses any other selection.
func (upgwState) Trace(_ context.Context, r upgwapi.TraceRequestObject) (upgwapi.TraceResponseObject, error) {
	p := r.Params
	if p.App == nil || *p.App != "cache-1" || p.Path == nil || strings.Join(*p.Path, ",") != "ul_decap,dl_encap" ||
		p.Rate == nil || *p.Rate != 5 || p.Duration == nil || *p.Duration != 2 {
		return upgwapi.Trace400ApplicationProblemPlusJSONResponse{ProblemApplicationProblemPlusJSONResponse: upgwapi.ProblemApplicationProblemPlusJSONResponse{Status: 400, Detail: "unexpected selection"}}, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range traceEvents {
		_ = enc.Encode(upgwapi.TraceLine{Event: &traceEvents[i]})
	}
	_ = enc.Encode(upgwapi.TraceLine{End: &upgwapi.TraceEnd{Reason: "time_limit", Events: 2}})
	return upgwapi.Trace200ApplicationxNdjsonResponse{Body: &b}, nil
}

func (upgwState) PutRuleSet(context.Context, upgwapi.PutRuleSetRequestObject) (upgwapi.PutRuleSetResponseObject, error) {
	return upgwapi.PutRuleSet409ApplicationProblemPlusJSONResponse{Status: 409, Detail: "stale version"}, nil
}

func (upgwState) GetRuleCounters(context.Context, upgwapi.GetRuleCountersRequestObject) (upgwapi.GetRuleCountersResponseObject, error) {
	return upgwapi.GetRuleCounters200JSONResponse{{AppInstanceId: "cache-1", TrafficRuleId: "tr-cache", Packets: 42, Bytes: 4200}}, nil
}

func (upgwState) GetPathCounters(context.Context, upgwapi.GetPathCountersRequestObject) (upgwapi.GetPathCountersResponseObject, error) {
	return upgwapi.GetPathCounters200JSONResponse{{Path: "ul_decap", Packets: 42, Bytes: 4200}, {Path: "ul_pass", Packets: 9, Bytes: 900}}, nil
}

func (upgwState) ListSessions(context.Context, upgwapi.ListSessionsRequestObject) (upgwapi.ListSessionsResponseObject, error) {
	return upgwapi.ListSessions200JSONResponse{{UeAddress: "10.60.0.1", GnbAddress: "192.0.2.1", UpfAddress: "192.0.2.2", Teid: 0xa1, Qfi: 9, Learned: 2}}, nil
}

func upgwHandler(s upgwState) http.Handler {
	e := echo.New()
	upgwapi.RegisterHandlersWithBaseURL(e, upgwapi.NewStrictHandler(s, nil), "/upgw/v1")
	return e
}

func TestUPGWViewsGolden(t *testing.T) {
	srv := httptest.NewServer(upgwHandler(upgwState{}))
	t.Cleanup(srv.Close)
	e := newEnv(t)
	ok(t, e, "", "config", "set-context", "lab", "--site-upgw", "edge-1="+strings.TrimPrefix(srv.URL, "http://"))
	n := &normalizer{}
	goldenFormats(t, e, n, "upgw-status", "site", "upgw", "edge-1")
	goldenFormats(t, e, n, "upgw-rules", "site", "upgw", "rules", "edge-1")
	goldenFormats(t, e, n, "upgw-counters", "site", "upgw", "counters", "edge-1")
	goldenFormats(t, e, n, "upgw-counters-paths", "site", "upgw", "counters", "edge-1", "--paths")
	goldenFormats(t, e, n, "upgw-sessions", "site", "upgw", "sessions", "edge-1")
}

// TLS: a self-signed endpoint is refused (exit 5, with the hint), trusted with --ca-file
// or the context's CA file, and reached with --insecure-skip-verify.
func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(upgwHandler(upgwState{}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	e := newEnv(t)
	// A loopback host without a scheme means http: the scheme is given here.
	ok(t, e, "", "config", "set-context", "lab", "--site-upgw", "edge-1="+srv.URL)

	r := run(t, e, "", "site", "upgw", "edge-1", "-o", "name")
	assert.Equal(t, ExitUnreachable, r.code, r.err)
	assert.Contains(t, r.err, "--ca-file")

	assert.Equal(t, "upgw/edge-1\n", ok(t, e, "", "site", "upgw", "edge-1", "-o", "name", "--ca-file", ca))
	assert.Equal(t, "upgw/edge-1\n", ok(t, e, "", "site", "upgw", "edge-1", "-o", "name", "--insecure-skip-verify"))
	e["MECCTL_CA_FILE"] = ca
	assert.Equal(t, "upgw/edge-1\n", ok(t, e, "", "site", "upgw", "edge-1", "-o", "name"))
	delete(e, "MECCTL_CA_FILE")
	ok(t, e, "", "config", "set-context", "lab", "--ca-file", ca)
	assert.Equal(t, "upgw/edge-1\n", ok(t, e, "", "site", "upgw", "edge-1", "-o", "name"))

	// http spoken to a TLS port.
	r = run(t, e, "", "site", "upgw", "edge-1", "--upgw", strings.Replace(srv.URL, "https://", "http://", 1))
	assert.Equal(t, ExitRefused, r.code, r.err) // Go's TLS server answers plain HTTP with 400
	assert.Contains(t, r.err, "Client sent an HTTP request to an HTTPS server")
}

func TestRequestTimeout(t *testing.T) {
	srv := httptest.NewServer(upgwHandler(upgwState{delay: 5 * time.Second}))
	t.Cleanup(srv.Close)
	e := newEnv(t)
	start := time.Now()
	r := run(t, e, "", "site", "upgw", "x", "--upgw", srv.URL, "--request-timeout", "200ms")
	assert.Equal(t, ExitTimeout, r.code, r.err)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Contains(t, r.err, "Client.Timeout")
}

// trace: the events as lines (and the end line), as NDJSON with -o json, and in a pcap file
// that gopacket's pcapgo reads back with each packet's bytes, length and time.
func TestUPGWTrace(t *testing.T) {
	srv := httptest.NewServer(upgwHandler(upgwState{}))
	t.Cleanup(srv.Close)
	e := newEnv(t)
	ok(t, e, "", "config", "set-context", "lab", "--site-upgw", "edge-1="+strings.TrimPrefix(srv.URL, "http://"))
	args := []string{"site", "upgw", "trace", "edge-1", "--app", "cache-1", "--path", "ul_decap", "--path", "dl_encap",
		"--rate", "5", "--duration", "2s"}

	pcapFile := filepath.Join(t.TempDir(), "t.pcap")
	r := run(t, e, "", append(args, "-w", pcapFile)...)
	require.Equal(t, 0, r.code, r.err)
	want := tracefmt.Line(traceEvents[0]) + "\n" + tracefmt.Line(traceEvents[1]) + "\n" +
		"trace ended (time_limit): 2 events, 0 over the rate cap, 0 lost\n"
	assert.Equal(t, want, r.out)
	assert.Contains(t, r.out, " ul_decap rule cache-1/tr-cache teid 0x100 qfi 9: 10.0.0.1 -> 10.0.0.2")
	assert.Equal(t, "2 packets written to "+pcapFile+"\n", r.err)

	f, err := os.Open(pcapFile)
	require.NoError(t, err)
	defer f.Close()
	pr, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	assert.Equal(t, layers.LinkTypeEthernet, pr.LinkType())
	for i, ev := range traceEvents {
		data, ci, err := pr.ReadPacketData()
		require.NoError(t, err, "packet %d", i)
		assert.Equal(t, ev.Data, data)
		assert.Equal(t, ev.Length, ci.Length)
		assert.True(t, ev.Time.Equal(ci.Timestamp), "packet %d time %v", i, ci.Timestamp)
	}
	_, _, err = pr.ReadPacketData()
	assert.ErrorIs(t, err, io.EOF)

	out := ok(t, e, "", append(args, "-o", "json")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	var l upgwapi.TraceLine
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &l))
	require.NotNil(t, l.Event)
	assert.Equal(t, "dl_encap", l.Event.Path)
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &l))
	require.NotNil(t, l.End)

	r = run(t, e, "", "site", "upgw", "trace", "edge-1", "--app", "other")
	assert.Equal(t, ExitRefused, r.code, r.err)
	assert.Contains(t, r.err, "unexpected selection")
}
