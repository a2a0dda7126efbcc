// Package ruleset is the UPGW's rule-set manager: it compiles rule snapshots, swaps them into the
// data plane atomically, keeps per-rule counter slots stable, persists the last applied
// snapshot so that a restarted agent re-applies it before the MEP answers, and reports state
// and counters to the control API and Prometheus.
package ruleset

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	// RuleOwners and SetRuleOwner keep, beside the counters, which rule each counter slot
	// belongs to, so that a restarted agent gives every rule its counter back.
	RuleOwners() ([]dataplane.OwnerID, error)
	SetRuleOwner(slot uint32, id dataplane.OwnerID) error
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

// ErrVersionRange is returned for a snapshot whose version is above MaxVersion, or not
// positive where a positive version is required (the control API and the state file).
var ErrVersionRange = fmt.Errorf("rule-set version must be between 1 and %d (2^53)", int64(MaxVersion))

// ErrNotSaved is returned with the applied rule set when it is in force but could not be
// written to the state file: a restart would not bring it back.
var ErrNotSaved = errors.New("rule set is in force but was not saved")

// ErrBadState is returned by Restore for a state file that is not a valid snapshot.
var ErrBadState = errors.New("invalid rule-set state file")

// RuleSet is the active rule set as reported to clients.
type RuleSet struct {
	Version int64
	// Digest identifies the rules' content (rules.Snapshot.Digest): with Version, the
	// identity of a rule set.
	Digest    string
	Source    string
	AppliedAt time.Time
	Rules     []rules.Compiled
	Rejected  []rules.Rejected
	Inactive  int
	// Saved tells whether this rule set is in the state file, so that a restart brings it
	// back; false without a state dir.
	Saved bool
	// SaveError is why the last save failed ("" when Saved or without a state dir).
	SaveError string
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

	mu           sync.Mutex
	cur          RuleSet
	slots        map[string]uint32 // active rules' counter slots
	owners       []dataplane.OwnerID
	saveFailures uint64
}

// New returns a Manager. stateFile may be empty (nothing persisted).
func New(dp Dataplane, t rules.Targets, stateFile string, logger *slog.Logger, tp trace.TracerProvider) *Manager {
	return &Manager{dp: dp, targets: t, stateFile: stateFile, logger: logger, tracer: tp.Tracer("upgw/ruleset"),
		cur: RuleSet{Source: SourceNone, Digest: rules.Snapshot{}.Digest()}}
}

// Apply compiles snap and makes it the active rule set in one data plane swap. With
// requireNewer (the control API) a version not above the active one is ErrStaleVersion; the
// feed passes false because the MEP's current snapshot is the truth. A version above
// MaxVersion is ErrVersionRange from every source, the persisted state included.
//
// A rule set that is in force but could not be saved returns it with ErrNotSaved.
func (m *Manager) Apply(ctx context.Context, snap rules.Snapshot, source string, requireNewer bool) (RuleSet, error) {
	if snap.Version > MaxVersion || snap.Version < 0 {
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
	if m.owners == nil {
		owners, err := m.dp.RuleOwners()
		if err != nil {
			return RuleSet{}, err
		}
		m.owners = owners
	}

	// 1. Compile; rules that cannot be enforced are reported, never half-applied. A rule
	//    keeps its counter slot: from the active set, or after a restart from the owners
	//    kept beside the counters.
	prev := m.prevSlots(snap)
	res := rules.Compile(snap.Rules, m.targets, prev)
	// 2. A slot that changes owner starts from zero. A slot the running set does not use is
	//    cleared now; one it still counts into is cleared once the new set is in, so that a
	//    swap that fails leaves every counter as it was (counters never go backwards).
	inUse := map[uint32]bool{}
	for _, s := range m.slots {
		inUse[s] = true
	}
	var later []uint32
	for _, r := range res.Rules {
		key := rules.RuleKey(r.AppInstanceID, r.TrafficRuleID)
		if old, ok := prev[key]; ok && old == r.Slot {
			continue
		}
		if inUse[r.Slot] {
			later = append(later, r.Slot)
			continue
		}
		if err := m.dp.ResetRuleCounter(r.Slot); err != nil {
			return RuleSet{}, fmt.Errorf("reset counter slot %d: %w", r.Slot, err)
		}
	}
	// 3. Swap the whole set in one step.
	if err := m.dp.SwapRuleSet(res.Entries); err != nil {
		span.RecordError(err)
		return RuleSet{}, fmt.Errorf("swap rule set %d: %w", snap.Version, err)
	}
	var errs []error
	for _, slot := range later {
		errs = append(errs, m.dp.ResetRuleCounter(slot))
	}
	// 4. Record the counters' owners beside them.
	want := make([]dataplane.OwnerID, dataplane.MaxRules)
	for _, r := range res.Rules {
		want[r.Slot] = OwnerOf(rules.RuleKey(r.AppInstanceID, r.TrafficRuleID))
	}
	for i := range want {
		if want[i] != m.owners[i] {
			if err := m.dp.SetRuleOwner(uint32(i), want[i]); err != nil {
				errs = append(errs, err)
				continue
			}
			m.owners[i] = want[i]
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.logger.WarnContext(ctx, "rule counters may be misattributed", logkeys.Error, err)
	}
	m.slots = res.Slots
	m.cur = RuleSet{Version: snap.Version, Digest: snap.Digest(), Source: source, AppliedAt: time.Now().UTC(),
		Rules: res.Rules, Rejected: res.Rejected, Inactive: res.Inactive}
	// 5. Persist, so that a restart re-applies this version before the MEP is reachable. The
	//    state file is the snapshot itself: restoring it needs nothing to be saved again.
	var serr error
	switch {
	case source == SourceState:
		m.cur.Saved = true
	case m.stateFile != "":
		if serr = m.persist(snap); serr != nil {
			m.saveFailures++
			m.cur.SaveError = serr.Error()
			m.logger.ErrorContext(ctx, "rule set applied but not saved: a restart would not bring it back",
				logkeys.Version, snap.Version, logkeys.Error, serr)
			serr = fmt.Errorf("%w: %w", ErrNotSaved, serr)
		} else {
			m.cur.Saved = true
		}
	}
	for _, rj := range res.Rejected {
		m.logger.WarnContext(ctx, "traffic rule cannot be enforced", logkeys.AppInstanceID, rj.AppInstanceID,
			logkeys.RuleID, rj.TrafficRuleID, logkeys.Reason, rj.Reason, logkeys.Version, snap.Version)
	}
	m.logger.InfoContext(ctx, "rule set applied", logkeys.Version, snap.Version, logkeys.Kind, source,
		logkeys.Count, len(res.Rules), "rejected", len(res.Rejected), "inactive", res.Inactive, "prefixes", len(res.Entries))
	return m.cur, serr
}

// prevSlots is the slot assignment Compile starts from: the active rules' slots and, for the
// other slots with a known owner (after a restart, all of them), the rule of snap that owns
// it, else a placeholder that keeps the slot from being handed out first.
func (m *Manager) prevSlots(snap rules.Snapshot) map[string]uint32 {
	prev := maps.Clone(m.slots)
	if prev == nil {
		prev = map[string]uint32{}
	}
	known := map[uint32]bool{}
	for _, s := range prev {
		known[s] = true
	}
	byOwner := map[dataplane.OwnerID]string{}
	for _, r := range snap.Rules {
		byOwner[OwnerOf(r.Key())] = r.Key()
	}
	for i, o := range m.owners {
		slot := uint32(i)
		if o == (dataplane.OwnerID{}) || known[slot] {
			continue
		}
		if key, ok := byOwner[o]; ok {
			if _, dup := prev[key]; !dup {
				prev[key] = slot
				continue
			}
		}
		prev[fmt.Sprintf("\x00slot-%d", slot)] = slot
	}
	return prev
}

// OwnerOf is the owner id of a rule key (rules.RuleKey): its SHA-256, truncated.
func OwnerOf(key string) dataplane.OwnerID {
	h := sha256.Sum256([]byte(key))
	var id dataplane.OwnerID
	copy(id[:], h[:])
	return id
}

// SaveFailures returns how many rule sets could not be saved since the start.
func (m *Manager) SaveFailures() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saveFailures
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

// Restore re-applies the persisted snapshot, if any, and returns it (version 0 if none).
// The file is checked as the control API checks a PUT: `null`, `{}` or a version that is
// not positive is ErrBadState and nothing is applied.
func (m *Manager) Restore(ctx context.Context) (RuleSet, error) {
	if m.stateFile == "" {
		return RuleSet{}, nil
	}
	b, err := os.ReadFile(m.stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return RuleSet{}, nil
	}
	if err != nil {
		return RuleSet{}, fmt.Errorf("read rule-set state: %w", err)
	}
	var snap *rules.Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return RuleSet{}, fmt.Errorf("%w %s: %w", ErrBadState, m.stateFile, err)
	}
	if snap == nil {
		return RuleSet{}, fmt.Errorf("%w %s: null", ErrBadState, m.stateFile)
	}
	if snap.Version < 1 || snap.Version > MaxVersion {
		return RuleSet{}, fmt.Errorf("%w %s: %w: got %d", ErrBadState, m.stateFile, ErrVersionRange, snap.Version)
	}
	return m.Apply(ctx, *snap, SourceState, false)
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
