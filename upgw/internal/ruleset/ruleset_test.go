package ruleset

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
	"github.com/edgemec/edgemec/upgw/internal/rules"
)

type nopDP struct{}

func (nopDP) SwapRuleSet([]dataplane.Entry) error           { return nil }
func (nopDP) ResetRuleCounter(uint32) error                 { return nil }
func (nopDP) RuleCounter(uint32) (dataplane.Counter, error) { return dataplane.Counter{}, nil }
func (nopDP) PathStats() ([]dataplane.Counter, error)       { return nil, nil }
func (nopDP) Sessions() ([]dataplane.SessionEntry, error)   { return nil, nil }
func (nopDP) RuleOwners() ([]dataplane.OwnerID, error) {
	return make([]dataplane.OwnerID, dataplane.MaxRules), nil
}
func (nopDP) SetRuleOwner(uint32, dataplane.OwnerID) error        { return nil }
func (nopDP) App(mp1api.DestinationInterface) (uint8, error)      { return 0, rules.ErrNoTarget }
func (nopDP) Endpoint(mp1api.DestinationInterface) (uint8, error) { return 0, rules.ErrNoTarget }

// TestPersistSyncsDir: the rename that publishes the state file is durable only once the
// directory is synced; otherwise a power loss can bring an older rule set back.
func TestPersistSyncsDir(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "ruleset.json")
	var synced []string
	old := syncDir
	t.Cleanup(func() { syncDir = old })
	syncDir = func(d string) error {
		b, err := os.ReadFile(state)
		if err != nil || !strings.Contains(string(b), `"version":3`) {
			t.Errorf("directory synced before the rename: state %q, %v", b, err)
		}
		synced = append(synced, d)
		return old(d)
	}
	m := New(nopDP{}, nopDP{}, state, slog.New(slog.DiscardHandler), noop.NewTracerProvider())
	if _, err := m.Apply(t.Context(), rules.Snapshot{Version: 3}, SourceAPI, true); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || synced[0] != dir {
		t.Errorf("synced directories %q; want [%s]", synced, dir)
	}
	if err := syncDir(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("syncDir of a missing directory: got no error")
	}
}

// siteTargets resolves app 192.0.2.10 (MAC 02:00:00:00:00:a1) to slot 2 and GTP-U endpoint
// 10.99.0.1 to slot 3.
type siteTargets struct{}

func (siteTargets) App(d mp1api.DestinationInterface) (uint8, error) {
	if d.DstIpAddress != nil && *d.DstIpAddress == "192.0.2.10" {
		return 2, nil
	}
	return 0, rules.ErrNoTarget
}

func (siteTargets) Endpoint(d mp1api.DestinationInterface) (uint8, error) {
	if d.TunnelInfo != nil && d.TunnelInfo.TunnelDstAddress != nil && *d.TunnelInfo.TunnelDstAddress == "10.99.0.1" {
		return 3, nil
	}
	return 0, rules.ErrNoTarget
}

// swapDP records the rule sets swapped in.
type swapDP struct {
	nopDP
	swaps [][]dataplane.Entry
}

func (d *swapDP) SwapRuleSet(es []dataplane.Entry) error {
	d.swaps = append(d.swaps, es)
	return nil
}

// TestRestoreStateV1: a state file written before the rule types became the generated MEC
// 011 types (testdata/ruleset-state-v1.json, as that code wrote it: V2.1.1 and V2.2.1
// dstInterface, every filter field, an inactive rule, an app id with a '/') is re-applied
// whole, and what the manager persists again reads back to the same snapshot.
func TestRestoreStateV1(t *testing.T) {
	old, err := os.ReadFile("testdata/ruleset-state-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "ruleset.json")
	if err := os.WriteFile(state, old, 0o600); err != nil {
		t.Fatal(err)
	}
	dp := &swapDP{}
	m := New(dp, siteTargets{}, state, slog.New(slog.DiscardHandler), noop.NewTracerProvider())
	v, err := m.Restore(t.Context())
	if err != nil || v.Version != 42 {
		t.Fatalf("Restore: version %d, %v; want 42, nil", v.Version, err)
	}
	cur := m.Current()
	if cur.Source != SourceState || cur.Version != 42 || cur.Inactive != 1 || len(cur.Rejected) != 0 {
		t.Fatalf("rule set %+v; want version 42 from state, 1 inactive, none rejected", cur)
	}
	got := map[string]string{}
	for _, r := range cur.Rules {
		got[rules.RuleKey(r.AppInstanceID, r.TrafficRuleID)] = fmt.Sprint(r.Action, " ", r.Priority, " ", r.Matches)
	}
	want := map[string]string{
		"app-1/decap": "FORWARD_DECAPSULATED 5 2", // two dstPort entries
		"app-1/encap": "DUPLICATE_ENCAPSULATED 2 1",
		"app-3/pass":  "PASSTHROUGH 0 1",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rules %v; want %v", got, want)
	}
	if len(dp.swaps) != 1 {
		t.Fatalf("%d swaps; want 1", len(dp.swaps))
	}
	targets := map[uint8]bool{}
	for _, e := range dp.swaps[0] {
		for i := range e.Cands.N {
			targets[e.Cands.M[i].Target] = true
		}
	}
	if !targets[2] || !targets[3] {
		t.Errorf("targets used %v; want the app (2) and the endpoint (3)", targets)
	}

	var before, after rules.Snapshot
	if err := json.Unmarshal(old, &before); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &after); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("persisted again as %s; want the same snapshot as %s", b, old)
	}
	if di := after.Rules[0].TrafficRule.DstInterface; di == nil || len(*di) != 1 || *(*di)[0].DstIpAddress != "192.0.2.10" {
		t.Errorf("V2.1.1 dstInterface of rule decap read as %+v; want one IP interface 192.0.2.10", di)
	}
}
