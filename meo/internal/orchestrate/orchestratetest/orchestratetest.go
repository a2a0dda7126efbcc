// Package orchestratetest holds in-memory implementations of what the executor consumes,
// for tests that run it without the LCM's store or the inventory:
//
//   - Ops, the op occurrences and app instances, with the claim, lease and state rules
//     orchestrate.Ops documents (and the LCM's retry and cancel, which the API would call);
//   - Sites, the sites as registered, reaching real MEPs and VIMs: placement reads each
//     site's VIM capabilities and counts what Ops committed there;
//   - Leases, per-site leases in memory.
package orchestratetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// ErrConflict is returned by Add for an instance that has an op occurrence in progress.
var ErrConflict = errors.New("app instance has an op occurrence in progress")

// OpRecord is what Ops holds of an op occurrence.
type OpRecord struct {
	orchestrate.Op
	Decision    json.RawMessage
	Error       *problem.Details
	ClaimedBy   string
	LeaseUntil  time.Time
	NextAttempt time.Time
	// Claims counts the times the op was newly leased; Placements the Placed calls;
	// Finishes the Finished calls that changed it.
	Claims, Placements, Finishes int
	seq                          int
	entered                      time.Time
}

// Instance is what Ops holds of an app instance.
type Instance struct {
	ID           string
	AppDID       string
	Instantiated bool
	Operational  string // STARTED | STOPPED while instantiated
	SiteID       string
	Resources    vim.Resources
	// Task is the instantiate task that put it on its site; Placement its placement
	// request.
	Task      reconcile.Task
	Placement placement.Request
	// Observed are the observations recorded, in order.
	Observed []reconcile.Observation
}

// Ops is an orchestrate.Ops in memory.
type Ops struct {
	mu        sync.Mutex
	seq       int
	ops       map[string]*OpRecord
	instances map[string]*Instance
}

var _ orchestrate.Ops = (*Ops)(nil)

// NewOps returns an empty Ops.
func NewOps() *Ops {
	return &Ops{ops: map[string]*OpRecord{}, instances: map[string]*Instance{}}
}

func active(s orchestrate.State) bool {
	return s == orchestrate.Starting || s == orchestrate.Processing || s == orchestrate.FailedTemp
}

func runnable(s orchestrate.State) bool {
	return s == orchestrate.Starting || s == orchestrate.Processing
}

// Add records a new op occurrence, STARTING, as the LCM does when it accepts a request; an
// INSTANTIATE creates its instance if it does not exist.
func (o *Ops) Add(op orchestrate.Op) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.ops {
		if r.AppInstanceID == op.AppInstanceID && active(r.State) {
			return fmt.Errorf("%w: %s", ErrConflict, r.ID)
		}
	}
	if _, ok := o.ops[op.ID]; ok {
		return fmt.Errorf("op %s exists", op.ID)
	}
	in := o.instances[op.AppInstanceID]
	if in == nil {
		in = &Instance{ID: op.AppInstanceID, AppDID: op.AppDID}
		o.instances[op.AppInstanceID] = in
	}
	if op.Operation != orchestrate.OpInstantiate && op.SiteID == "" {
		op.SiteID = in.SiteID
	}
	op.State = orchestrate.Starting
	o.seq++
	o.ops[op.ID] = &OpRecord{Op: op, NextAttempt: time.Now(), seq: o.seq}
	return nil
}

// PutInstance stores an instance as it is (an instance instantiated before the test).
func (o *Ops) PutInstance(in Instance) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := in
	o.instances[in.ID] = &c
}

// Get returns a copy of an op occurrence.
func (o *Ops) Get(id string) (OpRecord, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.ops[id]
	if !ok {
		return OpRecord{}, false
	}
	return *r, true
}

// Instance returns a copy of an instance.
func (o *Ops) Instance(id string) (Instance, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	in, ok := o.instances[id]
	if !ok {
		return Instance{}, false
	}
	c := *in
	c.Observed = slices.Clone(in.Observed)
	return c, true
}

// Cancel asks for the cancel of an op in STARTING or PROCESSING (V3 cancel).
func (o *Ops) Cancel(id, mode string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.ops[id]
	if !ok || !runnable(r.State) {
		return fmt.Errorf("op %s cannot be cancelled", id)
	}
	r.CancelMode = mode
	return nil
}

// Retry brings an op in FAILED_TEMP back to PROCESSING, due now (V3 retry).
func (o *Ops) Retry(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.ops[id]
	if !ok || r.State != orchestrate.FailedTemp {
		return fmt.Errorf("op %s is not FAILED_TEMP", id)
	}
	r.State, r.CancelMode, r.NextAttempt, r.Error = orchestrate.Processing, "", time.Now(), nil
	return nil
}

// Claim implements orchestrate.Ops.
func (o *Ops) Claim(_ context.Context, holder string, lease time.Duration, n int) ([]orchestrate.Op, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	recs := make([]*OpRecord, 0, len(o.ops))
	for _, r := range o.ops {
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b *OpRecord) int { return a.seq - b.seq })
	var out []orchestrate.Op
	for _, r := range recs {
		if !runnable(r.State) {
			continue
		}
		if r.ClaimedBy == holder {
			r.LeaseUntil = now.Add(lease)
			continue
		}
		if len(out) >= n || r.NextAttempt.After(now) || (r.ClaimedBy != "" && !r.LeaseUntil.Before(now)) {
			continue
		}
		r.ClaimedBy, r.LeaseUntil = holder, now.Add(lease)
		r.Claims++
		out = append(out, r.Op)
	}
	return out, nil
}

// Renew implements orchestrate.Ops: it reports every held op, and those with a cancel
// asked, at each renewal.
func (o *Ops) Renew(_ context.Context, holder string, lease time.Duration) (held, cancelled []string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	for _, r := range o.ops {
		if r.ClaimedBy != holder || !runnable(r.State) {
			continue
		}
		r.LeaseUntil = now.Add(lease)
		held = append(held, r.ID)
		if r.CancelMode != "" {
			cancelled = append(cancelled, r.ID)
		}
	}
	slices.Sort(held)
	slices.Sort(cancelled)
	return held, cancelled, nil
}

// TakeOver leases the op to holder until now+lease whoever holds it, as another process
// does once the lease of a process that stalled has lapsed.
func (o *Ops) TakeOver(id, holder string, lease time.Duration) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.ops[id]
	if !ok {
		return fmt.Errorf("op %s unknown", id)
	}
	r.ClaimedBy, r.LeaseUntil = holder, time.Now().Add(lease)
	r.Claims++
	return nil
}

// Release implements orchestrate.Ops.
func (o *Ops) Release(_ context.Context, holder string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.ops {
		if r.ClaimedBy == holder {
			r.ClaimedBy, r.LeaseUntil = "", time.Time{}
		}
	}
	return nil
}

// Placed implements orchestrate.Ops.
func (o *Ops) Placed(_ context.Context, opID, siteID string, decision json.RawMessage, committed vim.Resources) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.ops[opID]
	if !ok || !runnable(r.State) {
		return fmt.Errorf("placed: op %s is not in progress", opID)
	}
	r.State, r.SiteID, r.Decision = orchestrate.Processing, siteID, decision
	r.Placements++
	if r.Operation == orchestrate.OpInstantiate && r.Relocation == nil {
		in := o.instances[r.AppInstanceID]
		in.SiteID, in.Resources = siteID, committed
	}
	return nil
}

// Finished implements orchestrate.Ops.
func (o *Ops) Finished(_ context.Context, holder, opID string, state orchestrate.State, failure *problem.Details, retryAt time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.ops[opID]
	if !ok || r.ClaimedBy != holder || !runnable(r.State) {
		return orchestrate.ErrLeaseLost
	}
	switch state {
	case orchestrate.Completed:
	case orchestrate.Failed, orchestrate.FailedTemp:
		if failure == nil {
			return fmt.Errorf("finished %s %s without a failure", opID, state)
		}
	default:
		return fmt.Errorf("finished %s in state %s", opID, state)
	}
	r.State, r.Error, r.ClaimedBy, r.LeaseUntil, r.entered = state, failure, "", time.Time{}, time.Now()
	r.Finishes++
	in := o.instances[r.AppInstanceID]
	switch {
	case state == orchestrate.FailedTemp:
		r.Attempts++
		r.NextAttempt = retryAt
	case state == orchestrate.Completed && r.Operation == orchestrate.OpInstantiate && r.Relocation != nil:
		in.SiteID, in.Task, in.Placement = r.SiteID, r.Task, r.Placement
		in.Task.ID = r.ID
	case state == orchestrate.Completed && r.Operation == orchestrate.OpInstantiate:
		in.Instantiated, in.Operational, in.SiteID, in.Task, in.Placement = true, "STARTED", r.SiteID, r.Task, r.Placement
		in.Task.ID = r.ID
	case state == orchestrate.Completed && r.Operation == orchestrate.OpOperate:
		in.Operational = "STARTED"
		if r.Task.Kind == reconcile.KindStop {
			in.Operational = "STOPPED"
		}
	case state == orchestrate.Completed && r.Operation == orchestrate.OpTerminate:
		in.Instantiated, in.Operational, in.SiteID, in.Resources = false, "", "", vim.Resources{}
	case state == orchestrate.Failed && r.Operation == orchestrate.OpInstantiate && !in.Instantiated:
		in.SiteID, in.Resources = "", vim.Resources{}
	}
	return nil
}

// Observed implements orchestrate.Ops.
func (o *Ops) Observed(_ context.Context, ob reconcile.Observation) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if in := o.instances[ob.AppInstanceID]; in != nil {
		in.Observed = append(in.Observed, ob)
	}
	return nil
}

// Deployed implements orchestrate.Ops.
func (o *Ops) Deployed(_ context.Context, siteID string) ([]reconcile.Task, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	terminating := map[string]bool{}
	for _, r := range o.ops {
		// A relocation in progress removes the copy on the site: not deployed there.
		if (r.Operation == orchestrate.OpTerminate || r.Operation == orchestrate.OpInstantiate) && active(r.State) {
			terminating[r.AppInstanceID] = true
		}
	}
	var out []reconcile.Task
	for _, in := range o.instances {
		if in.Instantiated && in.SiteID == siteID && !terminating[in.ID] {
			out = append(out, in.Task)
		}
	}
	slices.SortFunc(out, func(a, b reconcile.Task) int { return strings.Compare(a.AppInstanceID, b.AppInstanceID) })
	return out, nil
}

// committed returns what the instances placed on a site commit there, and their count per
// appDId.
func (o *Ops) committed(siteID string) (vim.Resources, map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var sum vim.Resources
	count := map[string]int{}
	for _, r := range o.ops {
		// A relocation in progress counts on the site it goes to.
		if in := o.instances[r.AppInstanceID]; r.Relocation != nil && active(r.State) && r.SiteID == siteID && in != nil {
			sum.MilliCPU += in.Resources.MilliCPU
			sum.MemoryBytes += in.Resources.MemoryBytes
			sum.Pods += in.Resources.Pods
			count[in.AppDID]++
		}
	}
	for _, in := range o.instances {
		if in.SiteID != siteID {
			continue
		}
		sum.MilliCPU += in.Resources.MilliCPU
		sum.MemoryBytes += in.Resources.MemoryBytes
		sum.Pods += in.Resources.Pods
		count[in.AppDID]++
	}
	return sum, count
}

// Sites is an orchestrate.Sites in memory over real site connections.
type Sites struct {
	ops *Ops

	mu    sync.Mutex
	sites map[string]*siteEntry
}

type siteEntry struct {
	info placement.Site
	site reconcile.Site
}

var _ orchestrate.Sites = (*Sites)(nil)

// NewSites returns an empty Sites whose committed resources come from ops.
func NewSites(ops *Ops) *Sites { return &Sites{ops: ops, sites: map[string]*siteEntry{}} }

// Add registers a site: info is what the operator registered (ID, schedulability, MEP
// health, location), site how it is reached.
func (s *Sites) Add(info placement.Site, site reconcile.Site) {
	s.mu.Lock()
	s.sites[info.ID] = &siteEntry{info: info, site: site}
	s.mu.Unlock()
}

func (s *Sites) setSchedulable(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.sites[id]; e != nil {
		e.info.Schedulable = on
	}
}

// Remove drops a site from the inventory.
func (s *Sites) Remove(id string) {
	s.mu.Lock()
	delete(s.sites, id)
	s.mu.Unlock()
}

func (s *Sites) entries() []*siteEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*siteEntry, 0, len(s.sites))
	for _, e := range s.sites {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *siteEntry) int { return strings.Compare(a.info.ID, b.info.ID) })
	return out
}

// Placement implements orchestrate.Sites: the VIM's capabilities are read from the site.
func (s *Sites) Placement(ctx context.Context, ids ...string) ([]placement.Site, error) {
	var out []placement.Site
	for _, e := range s.entries() {
		if len(ids) > 0 && !slices.Contains(ids, e.info.ID) {
			continue
		}
		p := e.info
		caps, err := e.site.VIM.Capabilities(ctx)
		p.VIMReachable = err == nil
		if err == nil {
			p.Capabilities, p.VIMKind = caps, caps.Kind
		}
		p.Committed, p.Instances = s.ops.committed(p.ID)
		out = append(out, p)
	}
	return out, nil
}

// Connect implements orchestrate.Sites.
func (s *Sites) Connect(_ context.Context, siteID string) (reconcile.Site, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.sites[siteID]
	if !ok {
		return reconcile.Site{}, fmt.Errorf("site %s is not registered", siteID)
	}
	return e.site, nil
}

// IDs implements orchestrate.Sites.
func (s *Sites) IDs(context.Context) ([]string, error) {
	var ids []string
	for _, e := range s.entries() {
		ids = append(ids, e.info.ID)
	}
	return ids, nil
}

// Leases are per-site leases in memory (orchestrate.Leases).
type Leases struct {
	mu     sync.Mutex
	leases map[string]lease
}

type lease struct {
	holder string
	until  time.Time
}

var _ orchestrate.Leases = (*Leases)(nil)

// NewLeases returns Leases with none held.
func NewLeases() *Leases { return &Leases{leases: map[string]lease{}} }

// Acquire implements orchestrate.Leases.
func (l *Leases) Acquire(_ context.Context, holder string, sites []string, d time.Duration) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var held []string
	for _, id := range sites {
		cur, ok := l.leases[id]
		if ok && cur.holder != holder && !cur.until.Before(now) {
			continue
		}
		l.leases[id] = lease{holder: holder, until: now.Add(d)}
		held = append(held, id)
	}
	slices.Sort(held)
	return slices.Compact(held), nil
}

// Release implements orchestrate.Leases.
func (l *Leases) Release(_ context.Context, holder string, sites []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, cur := range l.leases {
		if cur.holder == holder && (sites == nil || slices.Contains(sites, id)) {
			delete(l.leases, id)
		}
	}
	return nil
}
