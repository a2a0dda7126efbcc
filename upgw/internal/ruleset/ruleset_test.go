package ruleset

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/edgemec/edgemec/upgw/internal/dataplane"
	"github.com/edgemec/edgemec/upgw/internal/feed"
	"github.com/edgemec/edgemec/upgw/internal/rules"
)

type nopDP struct{}

func (nopDP) SwapRuleSet([]dataplane.Entry) error                { return nil }
func (nopDP) ResetRuleCounter(uint32) error                      { return nil }
func (nopDP) RuleCounter(uint32) (dataplane.Counter, error)      { return dataplane.Counter{}, nil }
func (nopDP) PathStats() ([]dataplane.Counter, error)            { return nil, nil }
func (nopDP) Sessions() ([]dataplane.SessionEntry, error)        { return nil, nil }
func (nopDP) App(rules.DestinationInterface) (uint8, error)      { return 0, rules.ErrNoTarget }
func (nopDP) Endpoint(rules.DestinationInterface) (uint8, error) { return 0, rules.ErrNoTarget }

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
	if _, err := m.Apply(t.Context(), feed.Snapshot{Version: 3}, SourceAPI, true); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || synced[0] != dir {
		t.Errorf("synced directories %q; want [%s]", synced, dir)
	}
	if err := syncDir(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("syncDir of a missing directory: got no error")
	}
}
