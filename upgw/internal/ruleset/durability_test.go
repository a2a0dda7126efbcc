package ruleset

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
	"github.com/edgemec/edgemec/upgw/internal/rules"
)

// counterDP keeps counters and their owners as the pinned maps do, across managers, and
// can be told to fail the swap.
type counterDP struct {
	nopDP
	count    map[uint32]uint64
	owners   []dataplane.OwnerID
	failSwap bool
	swaps    int
}

func newCounterDP() *counterDP {
	return &counterDP{count: map[uint32]uint64{}, owners: make([]dataplane.OwnerID, dataplane.MaxRules)}
}

func (d *counterDP) SwapRuleSet([]dataplane.Entry) error {
	if d.failSwap {
		return errors.New("no memory for the new generation")
	}
	d.swaps++
	return nil
}
func (d *counterDP) ResetRuleCounter(s uint32) error { d.count[s] = 0; return nil }
func (d *counterDP) RuleCounter(s uint32) (dataplane.Counter, error) {
	return dataplane.Counter{Packets: d.count[s]}, nil
}
func (d *counterDP) RuleOwners() ([]dataplane.OwnerID, error) { return slices.Clone(d.owners), nil }
func (d *counterDP) SetRuleOwner(s uint32, id dataplane.OwnerID) error {
	d.owners[s] = id
	return nil
}

// rule is an ACTIVE rule of app "a" sending 192.0.2.10 to the app port.
func rule(id string) rules.AppRule {
	dst := "192.0.2.10"
	return rules.AppRule{AppInstanceID: "a", TrafficRule: mp1api.TrafficRule{TrafficRuleId: id, State: mp1api.RuleStateACTIVE,
		Action: mp1api.FORWARDDECAPSULATED, FilterType: mp1api.FLOW, Priority: 1,
		TrafficFilter: []mp1api.TrafficFilter{{DstAddress: &[]string{"192.0.2.10/32"}}},
		DstInterface:  &mp1api.DestinationInterfaces{{InterfaceType: mp1api.IP, DstIpAddress: &dst}}}}
}

// counts returns each active rule's counter.
func counts(t *testing.T, m *Manager) map[string]uint64 {
	t.Helper()
	rcs, err := m.RuleCounters()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, r := range rcs {
		out[r.TrafficRuleID] = r.Packets
	}
	return out
}

// TestCountersSurviveRestart: a restarted agent (a new manager over the same pinned
// counters) gives every rule its counter back, whatever slot order the snapshot implies.
func TestCountersSurviveRestart(t *testing.T) {
	dp := newCounterDP()
	state := filepath.Join(t.TempDir(), "ruleset.json")
	m := New(dp, siteTargets{}, state, slog.New(slog.DiscardHandler), noop.NewTracerProvider())
	if _, err := m.Apply(t.Context(), rules.Snapshot{Version: 1, Rules: []rules.AppRule{rule("x"), rule("y")}}, SourceAPI, true); err != nil {
		t.Fatal(err)
	}
	// y keeps its slot, x leaves and z arrives: z must not take x's counter.
	if _, err := m.Apply(t.Context(), rules.Snapshot{Version: 2, Rules: []rules.AppRule{rule("z"), rule("y")}}, SourceAPI, true); err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Current().Rules {
		dp.count[r.Slot] = map[string]uint64{"y": 70, "z": 30}[r.TrafficRuleID]
	}
	m2 := New(dp, siteTargets{}, state, slog.New(slog.DiscardHandler), noop.NewTracerProvider())
	if _, err := m2.Restore(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := counts(t, m2); got["y"] != 70 || got["z"] != 30 {
		t.Errorf("counters after restart %v; want y 70, z 30", got)
	}
}

// TestFailedSwapKeepsCounters: a swap that fails leaves every running rule's counter as it
// was (issue 15 §6), even for a new rule whose slot the running set still uses.
func TestFailedSwapKeepsCounters(t *testing.T) {
	dp := newCounterDP()
	m := New(dp, siteTargets{}, "", slog.New(slog.DiscardHandler), noop.NewTracerProvider())
	if _, err := m.Apply(t.Context(), rules.Snapshot{Version: 1, Rules: []rules.AppRule{rule("x")}}, SourceAPI, true); err != nil {
		t.Fatal(err)
	}
	slot := m.Current().Rules[0].Slot
	dp.count[slot] = 500
	dp.failSwap = true
	// Fill every other slot so that a new rule can only take x's.
	many := []rules.AppRule{}
	for i := range dataplane.MaxRules {
		many = append(many, rule(string(rune('A'+i%26))+string(rune('a'+i/26))))
	}
	for name, snap := range map[string]rules.Snapshot{
		"replace x":      {Version: 2, Rules: []rules.AppRule{rule("w")}},
		"every slot new": {Version: 3, Rules: many},
	} {
		if _, err := m.Apply(t.Context(), snap, SourceAPI, true); err == nil {
			t.Fatalf("%s: swap did not fail", name)
		}
		if got := counts(t, m)["x"]; got != 500 {
			t.Errorf("%s: x's counter %d after a failed swap; want 500", name, got)
		}
	}
}

// TestSaveFailureVisible: a rule set that cannot be saved is in force but reported so:
// ErrNotSaved to the caller, Saved false with the reason, and a failure count.
func TestSaveFailureVisible(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "gone", "ruleset.json") // its directory does not exist
	dp := newCounterDP()
	m := New(dp, siteTargets{}, state, slog.New(slog.DiscardHandler), noop.NewTracerProvider())
	rs, err := m.Apply(t.Context(), rules.Snapshot{Version: 4, Rules: []rules.AppRule{rule("x")}}, SourceAPI, true)
	if !errors.Is(err, ErrNotSaved) {
		t.Fatalf("apply with an unwritable state file: %v; want ErrNotSaved", err)
	}
	if rs.Version != 4 || rs.Saved || rs.SaveError == "" || dp.swaps != 1 {
		t.Errorf("rule set %+v after %d swaps; want version 4 in force, not saved, with the reason", rs, dp.swaps)
	}
	if cur := m.Current(); cur.Saved || m.SaveFailures() != 1 {
		t.Errorf("current saved %v, failures %d; want false, 1", cur.Saved, m.SaveFailures())
	}
	// Once the directory exists, the next set is saved and says so.
	if err := os.Mkdir(filepath.Join(dir, "gone"), 0o700); err != nil {
		t.Fatal(err)
	}
	rs, err = m.Apply(t.Context(), rules.Snapshot{Version: 5}, SourceAPI, true)
	if err != nil || !rs.Saved || rs.SaveError != "" {
		t.Errorf("apply after repair: %+v, %v; want saved", rs, err)
	}
}

// TestRestoreValidates: the state file is checked as the control API checks a PUT.
func TestRestoreValidates(t *testing.T) {
	for name, body := range map[string]string{
		"null":             `null`,
		"empty object":     `{}`,
		"version zero":     `{"version":0,"rules":[]}`,
		"negative version": `{"version":-7,"rules":[]}`,
		"over 2^53":        `{"version":9007199254740993,"rules":[]}`,
		"not json":         `{"version":`,
	} {
		t.Run(name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "ruleset.json")
			if err := os.WriteFile(state, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			dp := newCounterDP()
			m := New(dp, siteTargets{}, state, slog.New(slog.DiscardHandler), noop.NewTracerProvider())
			rs, err := m.Restore(t.Context())
			if !errors.Is(err, ErrBadState) || rs.Version != 0 || dp.swaps != 0 {
				t.Errorf("restore: %+v, %v after %d swaps; want ErrBadState and nothing applied", rs, err, dp.swaps)
			}
			if b, _ := os.ReadFile(state); string(b) != body {
				t.Errorf("state file rewritten to %s; want it left alone", b)
			}
		})
	}
}
