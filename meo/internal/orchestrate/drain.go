package orchestrate

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
)

// Draining a site moves its instances elsewhere, one relocation op occurrence per instance:
//
//  1. The process holding a draining site's lease runs a drain round for it every
//     SiteInterval (drainLoop). It lists the instances placed on the site (Drains.Residents)
//     and, for each INSTANTIATED one with no op occurrence in progress, runs placement.Decide
//     over the other sites (the draining site is cordoned, so never chosen). A fit makes the
//     LCM create a relocation (Drains.Relocate): an INSTANTIATE op occurrence of the same
//     instance, STARTING, with its last instantiate's task and placement request and
//     operationParams.relocation naming the site it leaves; at most DrainParallel of them per
//     site are in progress at once. No fit leaves the instance where it is, stuck, with one
//     line per rejected site; it is decided again every round, which creates nothing until
//     a site fits.
//  2. The executor runs the relocation as any op occurrence (claims, leases, journal): it is
//     placed away from the site it leaves (the draining site must still be draining when an
//     unplaced relocation starts, else it is withdrawn, FAILED), and its instantiate task
//     (journal key: the op id) deploys the instance on the new site: Mm5 PUT to that site's
//     MEP, VIM Deploy, Running, confirm_ready. The instance stays on the old site meanwhile
//     (its mecHostInformation does not change); the new site counts the resources from the
//     placement on.
//  3. Only once that task is COMPLETED: a STOPPED instance is stopped on the new site
//     (task <op id>-stop), then the copy on the old site is terminated GRACEFULLY through the
//     MEP's termination flow (task <op id>-source-<attempt>: the app gets its
//     AppTerminationNotification, then the VIM removes it).
//  4. Finished COMPLETED moves the instance to the new site (mecHostInformation, resources,
//     observed state) in the same transaction that ends the op occurrence.
//
// A failure before step 3 ends the op as an instantiate's would (a FAILED deploy is removed
// from the new site, and the instance stays where it was); a failure in step 3 ends it
// FAILED_TEMP, never FAILED, since the instance runs on both sites until it completes. A
// process killed at any step leaves the op to another, which resumes from the journal: every
// step is idempotent, so the end is one copy, on the new site, and one Finished.
//
// While its relocation is in progress an instance is left out of Ops.Deployed, so the old
// site's watcher does not take the copy's removal for drift. Uncordon ends the drain: no new
// relocation is created, an unplaced one is withdrawn, and those already placed finish.

// Drains is what draining sites needs of the inventory and the LCM.
type Drains interface {
	// DrainingSites returns the ids of the sites a drain was asked for.
	DrainingSites(ctx context.Context) ([]string, error)
	// Residents returns the app instances placed on the site, in creation order.
	Residents(ctx context.Context, siteID string) ([]Resident, error)
	// Relocate creates the relocation of an instance INSTANTIATED on from with no op
	// occurrence in progress: an INSTANTIATE op occurrence, STARTING, with its notification.
	// It returns the op occurrence's id, or an error when the instance is busy or elsewhere.
	Relocate(ctx context.Context, appInstanceID, from string) (string, error)
	// DrainStatus returns the drain's progress as last saved (nil when none is).
	DrainStatus(ctx context.Context, siteID string) (*DrainStatus, error)
	// SaveDrainStatus records the drain's progress, shown as the site's state.drain; it is
	// dropped when the site no longer drains.
	SaveDrainStatus(ctx context.Context, siteID string, st DrainStatus) error
}

// Resident is an app instance placed on a site being drained.
type Resident struct {
	AppInstanceID string
	AppDID        string
	Instantiated  bool
	// Active is its op occurrence in progress, nil when none is.
	Active *ResidentOp
	// Placement is the placement request of the instantiate that put it on the site.
	Placement placement.Request
	// LastFailed is its latest relocation away from the site that ended FAILED, nil if none.
	LastFailed *ResidentOp
}

// ResidentOp is an op occurrence of a Resident.
type ResidentOp struct {
	ID        string
	Operation Operation
	State     State
	// RelocateFrom is the site a relocation leaves ("" for other ops).
	RelocateFrom string
	// Entered is when it entered its state.
	Entered time.Time
	Error   *problem.Details
}

// DrainStatus is the progress of a site's drain (the site's state.drain).
type DrainStatus struct {
	// Since is when the first drain round ran.
	Since time.Time `json:"since"`
	// Pending counts the instances still placed on the site.
	Pending int `json:"pending"`
	// Moving are the relocations in progress.
	Moving []DrainMove `json:"moving,omitempty"`
	// Moved counts the instances moved away since the drain started.
	Moved int `json:"moved"`
	// Stuck are the instances that cannot move now, with why.
	Stuck []DrainStuck `json:"stuck,omitempty"`
	// Updated is when the last round ran.
	Updated time.Time `json:"updated"`
}

// DrainMove is a relocation in progress.
type DrainMove struct {
	AppInstanceID string `json:"appInstanceId"`
	OpID          string `json:"appLcmOpOccId"`
	// State is the op occurrence's state (FAILED_TEMP: retried, see Reasons).
	State   State    `json:"operationState"`
	Reasons []string `json:"reasons,omitempty"`
}

// DrainStuck is an instance that stays on its site for now.
type DrainStuck struct {
	AppInstanceID string `json:"appInstanceId"`
	// Reasons are one line per rejected site ("<site>: <reason>"), or the failure of its
	// last relocation.
	Reasons []string `json:"reasons"`
	// OpID is the relocation that failed, if that is why.
	OpID string `json:"appLcmOpOccId,omitempty"`
	// RetryAt is when a failed relocation is tried again.
	RetryAt *time.Time `json:"retryAt,omitempty"`
	// Attempts counts the relocations of it that failed during this drain.
	Attempts int `json:"attempts,omitempty"`
}

// awayFrom returns sites with from made unschedulable, so that placement never moves an
// instance onto the site it leaves.
func awayFrom(sites []placement.Site, from string) []placement.Site {
	if from == "" {
		return sites
	}
	out := slices.Clone(sites)
	for i := range out {
		if out[i].ID == from {
			out[i].Schedulable = false
		}
	}
	return out
}

// drainLoop runs a drain round every SiteInterval for each draining site this process holds
// the lease of.
func (e *Executor) drainLoop(ctx context.Context) {
	if e.cfg.Drains == nil {
		return
	}
	t := time.NewTicker(e.cfg.SiteInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		draining, err := e.cfg.Drains.DrainingSites(ctx)
		if err != nil {
			if ctx.Err() == nil {
				e.log.WarnContext(ctx, "list draining sites failed", logkeys.Error, err.Error())
			}
			continue
		}
		e.mu.Lock()
		var held []string
		for _, id := range draining {
			if e.watchers[id] != nil {
				held = append(held, id)
			}
		}
		e.mu.Unlock()
		for _, id := range held {
			if err := e.drainRound(ctx, id); err != nil && ctx.Err() == nil {
				e.log.WarnContext(ctx, "drain round failed", logkeys.Site, id, logkeys.Error, err.Error())
			}
		}
	}
}

// drainRound moves what it can of one draining site and records the drain's progress.
func (e *Executor) drainRound(ctx context.Context, siteID string) error {
	d := e.cfg.Drains
	prev, err := d.DrainStatus(ctx, siteID)
	if err != nil {
		return err
	}
	residents, err := d.Residents(ctx, siteID)
	if err != nil {
		return err
	}
	now := time.Now()
	st := DrainStatus{Since: now, Updated: now}
	prevStuck := map[string]DrainStuck{}
	if prev != nil {
		st.Since, st.Moved = prev.Since, prev.Moved
		for _, s := range prev.Stuck {
			prevStuck[s.AppInstanceID] = s
		}
	}
	here := map[string]bool{}
	inflight := 0
	for _, r := range residents {
		here[r.AppInstanceID] = true
		if r.Active != nil && r.Active.RelocateFrom == siteID {
			inflight++
		}
	}
	if prev != nil {
		// A relocation in progress last round whose instance left the site has moved it.
		for _, m := range prev.Moving {
			if !here[m.AppInstanceID] {
				st.Moved++
			}
		}
	}
	var sites []placement.Site
	log := e.log.With(logkeys.Site, siteID)
	for _, r := range residents {
		st.Pending++
		if a := r.Active; a != nil {
			if a.RelocateFrom == siteID {
				m := DrainMove{AppInstanceID: r.AppInstanceID, OpID: a.ID, State: a.State}
				if a.Error != nil {
					m.Reasons = lines(a.Error.Detail)
				}
				st.Moving = append(st.Moving, m)
			}
			continue // one op at a time: another op of the instance runs first
		}
		if !r.Instantiated {
			continue
		}
		if f := r.LastFailed; f != nil && !f.Entered.Before(st.Since) {
			// Its last relocation failed during this drain: tried again after RetryDelay.
			s := prevStuck[r.AppInstanceID]
			if s.OpID != f.ID {
				s = DrainStuck{AppInstanceID: r.AppInstanceID, OpID: f.ID, Attempts: s.Attempts + 1}
				if f.Error != nil {
					s.Reasons = lines(f.Error.Title + ": " + f.Error.Detail)
				}
				at := f.Entered.Add(e.cfg.RetryDelay(s.Attempts))
				s.RetryAt = &at
				log.WarnContext(ctx, "relocation failed, retried later", logkeys.AppInstanceID, r.AppInstanceID, logkeys.OpID, f.ID,
					logkeys.Attempt, s.Attempts)
			}
			if s.RetryAt != nil && now.Before(*s.RetryAt) {
				st.Stuck = append(st.Stuck, s)
				continue
			}
		}
		if inflight >= e.cfg.DrainParallel {
			continue
		}
		if sites == nil {
			if sites, err = e.cfg.Sites.Placement(ctx); err != nil {
				return err
			}
			sites = awayFrom(sites, siteID)
		}
		dec := placement.Decide(r.Placement, sites)
		if dec.Chosen == nil {
			s := DrainStuck{AppInstanceID: r.AppInstanceID, Reasons: rejections(dec, siteID)}
			if p, ok := prevStuck[r.AppInstanceID]; !ok || !slices.Equal(p.Reasons, s.Reasons) {
				log.WarnContext(ctx, "no edge site fits an instance of the draining site, it stays", logkeys.AppInstanceID, r.AppInstanceID,
					logkeys.Reason, strings.Join(s.Reasons, "; "))
			}
			st.Stuck = append(st.Stuck, s)
			continue
		}
		opID, err := d.Relocate(ctx, r.AppInstanceID, siteID)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			log.InfoContext(ctx, "relocation not created", logkeys.AppInstanceID, r.AppInstanceID, logkeys.Error, err.Error())
			continue
		}
		inflight++
		// The next decisions of this round count what this one will commit.
		commit(sites, dec.Chosen.SiteID, r.Placement)
		st.Moving = append(st.Moving, DrainMove{AppInstanceID: r.AppInstanceID, OpID: opID, State: Starting})
		log.InfoContext(ctx, "relocation created", logkeys.AppInstanceID, r.AppInstanceID, logkeys.OpID, opID)
		e.Kick()
	}
	return d.SaveDrainStatus(ctx, siteID, st)
}

// commit adds what an instance of req needs to the site's committed resources.
func commit(sites []placement.Site, id string, req placement.Request) {
	for i := range sites {
		if sites[i].ID != id {
			continue
		}
		n := need(req)
		sites[i].Committed.MilliCPU += n.MilliCPU
		sites[i].Committed.MemoryBytes += n.MemoryBytes
		sites[i].Committed.Pods += n.Pods
		m := make(map[string]int, len(sites[i].Instances)+1)
		for k, v := range sites[i].Instances {
			m[k] = v
		}
		m[req.AppDID]++
		sites[i].Instances = m
	}
}

// rejections are the decision's lines, one per rejected site but the one left.
func rejections(d placement.Decision, left string) []string {
	var out []string
	for _, r := range d.Rejected {
		if r.SiteID == left {
			continue
		}
		label := r.SiteID
		if r.SiteName != "" && r.SiteName != r.SiteID {
			label += " (" + r.SiteName + ")"
		}
		out = append(out, label+": "+r.Reason)
	}
	for _, id := range d.UnknownPinned {
		out = append(out, id+": pinned in selectedMECHostInfo but not in the inventory")
	}
	if len(out) == 0 {
		out = []string{"no other site in the inventory"}
	}
	return out
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// withdrawn ends a relocation not placed yet whose site no longer drains; it reports true
// when the run ends here.
func (e *Executor) withdrawn(base, ctx context.Context, r *opRun, log *slog.Logger) bool {
	op := r.op
	if op.Relocation == nil || op.SiteID != "" || e.cfg.Drains == nil {
		return false
	}
	var draining []string
	err := e.retry(ctx, func() error {
		var err error
		draining, err = e.cfg.Drains.DrainingSites(ctx)
		return err
	}, 0)
	if err != nil {
		e.dropped(base, ctx, r, log, err)
		return true
	}
	if slices.Contains(draining, op.Relocation.From) {
		return false
	}
	e.finish(base, r, log, Failed, &problem.Details{Title: "relocation withdrawn", Status: http.StatusConflict,
		Detail: fmt.Sprintf("site %s no longer drains: app instance %s stays there", op.Relocation.From, op.AppInstanceID)})
	return true
}

// relocated takes a relocation whose instantiate task COMPLETED on siteID to its end: a
// STOPPED instance is stopped there, the copy on the site it leaves is terminated
// GRACEFULLY through that site's MEP, and the op is COMPLETED (the LCM moves the instance).
// Until then the instance runs on both sites, so a failure ends the op FAILED_TEMP.
func (e *Executor) relocated(base, ctx context.Context, r *opRun, log *slog.Logger, siteID string, site reconcile.Site, task reconcile.Task) {
	op := r.op
	rel := op.Relocation
	if rel.Stopped {
		stop := reconcile.Task{ID: op.ID + "-stop", Kind: reconcile.KindStop, AppInstanceID: op.AppInstanceID, StopType: reconcile.StopForceful}
		p, ok := e.runTask(base, ctx, r, log, site, stop)
		if !ok {
			return
		}
		if p.Outcome != reconcile.Completed {
			pd := failureProblem(p)
			pd.Title, pd.Status = "stop on the new site failed", http.StatusServiceUnavailable
			e.finish(base, r, log, FailedTemp, &pd)
			return
		}
	}
	var src reconcile.Site
	err := e.retry(ctx, func() error {
		var err error
		src, err = e.cfg.Sites.Connect(ctx, rel.From)
		return err
	}, 3)
	if err != nil {
		if e.stopped(base, ctx, r, log) {
			return
		}
		e.finish(base, r, log, FailedTemp, &problem.Details{Title: "site unavailable", Status: http.StatusServiceUnavailable,
			Detail: fmt.Sprintf("connect to site %s to remove the copy there: %v", rel.From, err)})
		return
	}
	src.Name = rel.From
	// A terminate that ended FAILED is final in the journal: each attempt of the op has a
	// task of its own, so that a retry runs the termination again (its steps are
	// idempotent: a MEP or VIM that no longer knows the instance counts as done).
	term := reconcile.Task{ID: fmt.Sprintf("%s-source-%d", op.ID, op.Attempts), Kind: reconcile.KindTerminate,
		AppInstanceID: op.AppInstanceID, StopType: reconcile.StopGraceful, GracefulTimeout: rel.GracefulTimeout}
	p, ok := e.runTask(base, ctx, r, log, src, term)
	if !ok {
		return
	}
	if p.Outcome != reconcile.Completed {
		pd := failureProblem(p)
		pd.Title, pd.Status = "removing the old copy failed", http.StatusServiceUnavailable
		pd.Detail = fmt.Sprintf("the instance runs on %s; on %s: %s", siteID, rel.From, pd.Detail)
		e.finish(base, r, log, FailedTemp, &pd)
		return
	}
	if e.cfg.Steering != nil && ctx.Err() == nil {
		// The steering follows the instance: its subscription at the old site's NEF goes,
		// one at the new site's NEF (if it has 5G data) comes.
		e.cfg.Steering.Terminated(ctx, op)
		e.cfg.Steering.Instantiated(ctx, op, siteID, task)
	}
	log.InfoContext(ctx, "instance moved", logkeys.Reason, "from "+rel.From)
	e.finish(base, r, log, Completed, nil)
	if r.finished.Load() {
		// The watcher of the new site reported the instance while it was still recorded on
		// the old one: record what the new site's VIM says now.
		if st, err := site.VIM.Status(ctx, op.AppInstanceID); err == nil {
			e.observe(ctx, reconcile.Observation{Site: siteID, AppInstanceID: op.AppInstanceID, Phase: st.Phase, Reasons: st.Reasons,
				Endpoints: st.Endpoints})
		}
	}
}
