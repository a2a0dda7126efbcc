// Package ruleset is the UPGW's rule-set manager: it compiles rule snapshots, swaps them into the
// data plane atomically, keeps per-rule counter slots stable, persists the last applied
// snapshot so that a restarted agent re-applies it before the MEP answers, and reports state
// and counters to the control API and Prometheus.
package ruleset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
	"github.com/edgemec/edgemec/upgw/internal/rules"
)

// Dataplane is what the rule-set manager needs from the loaded programs.
type Dataplane interface {
	SwapRuleSet([]dataplane.Entry) error
	ResetRuleCounter(slot uint32) error
	RuleCounter(slot uint32) (dataplane.Counter, error)
	PathStats() ([]dataplane.Counter, error)
	Sessions() ([]dataplane.SessionEntry, error)
}

// Sources of the active rule set.
const (
	SourceNone  = "none"
	SourceFeed  = "feed"
	SourceAPI   = "api"
	SourceState = "state"
)

// ErrStaleVersion is returned when a snapshot is not newer than the active rule set.
var ErrStaleVersion = errors.New("rule-set version is not newer than the active one")

// MaxVersion is the largest rule-set version, 2^53: the largest integer every JSON client
// keeps exact. A larger version would also leave no room for a newer one.
const MaxVersion = 1 << 53

// ErrVersionRange is returned for a snapshot whose version is above MaxVersion.
var ErrVersionRange = fmt.Errorf("rule-set version exceeds the limit %d (2^53)", int64(MaxVersion))

// RuleSet is the active rule set as reported to clients.
type RuleSet struct {
	Version   int64
	Source    string
	AppliedAt time.Time
	Rules     []rules.Compiled
	Rejected  []rules.Rejected
	Inactive  int
}

// RuleCounter is one rule's counter.
type RuleCounter struct {
	AppInstanceID, TrafficRuleID string
	dataplane.Counter
}

// Manager owns the active rule set.
type Manager struct {
	dp        Dataplane
	targets   rules.Targets
	stateFile string
	logger    *slog.Logger
	tracer    trace.Tracer

	mu    sync.Mutex
	cur   RuleSet
	slots map[string]uint32
}

// New returns a Manager. stateFile may be empty (nothing persisted).
func New(dp Dataplane, t rules.Targets, stateFile string, logger *slog.Logger, tp trace.TracerProvider) *Manager {
	return &Manager{dp: dp, targets: t, stateFile: stateFile, logger: logger, tracer: tp.Tracer("upgw/ruleset"),
		cur: RuleSet{Source: SourceNone}}
}

// Apply compiles snap and makes it the active rule set in one data plane swap. With
// requireNewer (the control API) a version not above the active one is ErrStaleVersion; the
// feed passes false because the MEP's current snapshot is the truth. A version above
// MaxVersion is ErrVersionRange from every source, the persisted state included.
func (m *Manager) Apply(ctx context.Context, snap rules.Snapshot, source string, requireNewer bool) (RuleSet, error) {
	if snap.Version > MaxVersion {
		return RuleSet{}, fmt.Errorf("%w: got %d", ErrVersionRange, snap.Version)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if requireNewer && snap.Version <= m.cur.Version {
		return RuleSet{}, fmt.Errorf("%w: got %d, active %d", ErrStaleVersion, snap.Version, m.cur.Version)
	}
	ctx, span := m.tracer.Start(ctx, "upgw.ApplyRuleSet", trace.WithAttributes(
		attribute.Int64("upgw.ruleset.version", snap.Version), attribute.String("upgw.ruleset.source", source),
		attribute.Int("upgw.ruleset.rules", len(snap.Rules))))
	defer span.End()

	// 1. Compile; rules that cannot be enforced are reported, never half-applied.
	res := rules.Compile(snap.Rules, m.targets, m.slots)
	// 2. A slot that changes owner starts from zero.
	for _, r := range res.Rules {
		key := rules.RuleKey(r.AppInstanceID, r.TrafficRuleID)
		if old, ok := m.slots[key]; !ok || old != r.Slot {
			if err := m.dp.ResetRuleCounter(r.Slot); err != nil {
				return RuleSet{}, fmt.Errorf("reset counter slot %d: %w", r.Slot, err)
			}
		}
	}
	// 3. Swap the whole set in one step.
	if err := m.dp.SwapRuleSet(res.Entries); err != nil {
		span.RecordError(err)
		return RuleSet{}, fmt.Errorf("swap rule set %d: %w", snap.Version, err)
	}
	// 4. Persist, so that a restart re-applies this version before the MEP is reachable.
	if err := m.persist(snap); err != nil {
		m.logger.WarnContext(ctx, "rule set applied but not persisted", logkeys.Version, snap.Version, logkeys.Error, err)
	}
	m.slots = res.Slots
	m.cur = RuleSet{Version: snap.Version, Source: source, AppliedAt: time.Now().UTC(),
		Rules: res.Rules, Rejected: res.Rejected, Inactive: res.Inactive}
	for _, rj := range res.Rejected {
		m.logger.WarnContext(ctx, "traffic rule cannot be enforced", logkeys.AppInstanceID, rj.AppInstanceID,
			logkeys.RuleID, rj.TrafficRuleID, logkeys.Reason, rj.Reason, logkeys.Version, snap.Version)
	}
	m.logger.InfoContext(ctx, "rule set applied", logkeys.Version, snap.Version, logkeys.Kind, source,
		logkeys.Count, len(res.Rules), "rejected", len(res.Rejected), "inactive", res.Inactive, "prefixes", len(res.Entries))
	return m.cur, nil
}

func (m *Manager) persist(snap rules.Snapshot) error {
	if m.stateFile == "" {
		return nil
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(m.stateFile), ".ruleset-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), m.stateFile); err != nil {
		return err
	}
	// The rename is durable only once the directory is: without this a power loss can bring
	// back the previous rule set.
	if err := syncDir(filepath.Dir(m.stateFile)); err != nil {
		return fmt.Errorf("sync state dir: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory; a variable so that tests can observe it.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// Restore re-applies the persisted snapshot, if any, and returns its version (0 if none).
func (m *Manager) Restore(ctx context.Context) (int64, error) {
	if m.stateFile == "" {
		return 0, nil
	}
	b, err := os.ReadFile(m.stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read rule-set state: %w", err)
	}
	var snap rules.Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return 0, fmt.Errorf("decode rule-set state %s: %w", m.stateFile, err)
	}
	if _, err := m.Apply(ctx, snap, SourceState, false); err != nil {
		return 0, err
	}
	return snap.Version, nil
}

// Current returns the active rule set.
func (m *Manager) Current() RuleSet {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

// RuleCounters returns the counters of the active rules.
func (m *Manager) RuleCounters() ([]RuleCounter, error) {
	cur := m.Current()
	out := make([]RuleCounter, 0, len(cur.Rules))
	for _, r := range cur.Rules {
		c, err := m.dp.RuleCounter(r.Slot)
		if err != nil {
			return nil, fmt.Errorf("read counter of rule %s: %w", r.TrafficRuleID, err)
		}
		out = append(out, RuleCounter{AppInstanceID: r.AppInstanceID, TrafficRuleID: r.TrafficRuleID, Counter: c})
	}
	return out, nil
}

// PathCounters returns the per-path counters by name, in data plane order.
func (m *Manager) PathCounters() ([]string, []dataplane.Counter, error) {
	cs, err := m.dp.PathStats()
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, len(cs))
	for i := range cs {
		names[i] = dataplane.Stat(i).String()
	}
	return names, cs, nil
}

// Sessions returns the learned sessions.
func (m *Manager) Sessions() ([]dataplane.SessionEntry, error) { return m.dp.Sessions() }
