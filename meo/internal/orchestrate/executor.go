package orchestrate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Leases is what the executor needs of the per-site leases (pgstore.Leases): at most one
// holder follows a site at a time, and a lease that lapses goes to the next holder asking.
type Leases interface {
	// Acquire takes, or renews, holder's lease until now+d on each of sites that no other
	// holder holds with a lease still running, and returns the sites holder holds.
	Acquire(ctx context.Context, holder string, sites []string, d time.Duration) ([]string, error)
	// Release drops holder's leases on sites, or all of them when sites is nil.
	Release(ctx context.Context, holder string, sites []string) error
}

// Config shapes an Executor. Zero values take the documented defaults.
type Config struct {
	// Ops, Sites, Journal and Leases are required.
	Ops     Ops
	Sites   Sites
	Journal reconcile.Journal
	Leases  Leases
	// Holder names this process in the op occurrence and site leases. It must differ
	// between the processes sharing a database, and between the runs of one process.
	// Default: the host name and a random suffix.
	Holder string
	// Lease is how long a claim on an op occurrence or a site lease holds unless renewed;
	// another process takes over the work of one that died within about this time.
	// Renewals run every Lease/3. Default 15s.
	Lease time.Duration
	// PollInterval is how often the executor looks for op occurrences to claim, besides
	// Kick. Default 1s.
	PollInterval time.Duration
	// Concurrency bounds the op occurrences this process runs at once. Default 64.
	Concurrency int
	// SiteInterval is how often the sites are listed again and their leases taken or
	// renewed. Default Lease/3.
	SiteInterval time.Duration
	// Reconcile holds the per-step timeouts (and OnStep) of the reconciler.
	Reconcile reconcile.Config
	// PerSite bounds the tasks running at once on one site. Default 4.
	PerSite int
	// Retry is how a task that ends FAILED_TEMP is retried within one run before the op
	// occurrence is left FAILED_TEMP (see reconcile.RetryPolicy).
	Retry reconcile.RetryPolicy
	// RetryDelay returns when an op occurrence that ended FAILED_TEMP for the n-th time
	// (n ≥ 1) is due again. Default: 30s doubling up to 10 min, ±20 %.
	RetryDelay func(n int) time.Duration
	// Drift is what the site watchers do about an instance deleted behind the MEO's back:
	// reconcile.DriftReport (default) shows it on the instance; reconcile.DriftRecreate
	// also deploys it again.
	Drift reconcile.DriftPolicy
	// Resync is how often a site watcher compares the instances deployed there with the
	// VIM besides following its watch. Default 1m.
	Resync time.Duration
	// Steering, if set, steers instances' traffic through their sites' 5G cores (steer.go).
	Steering *Steerer
	// Drains, if set, lets the executor move the instances of draining sites elsewhere
	// (drain.go).
	Drains Drains
	// DrainParallel bounds the relocations in progress away from one draining site.
	// Default 4.
	DrainParallel int
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Ops == nil {
		errs = append(errs, errors.New("orchestrate: no ops"))
	}
	if c.Sites == nil {
		errs = append(errs, errors.New("orchestrate: no sites"))
	}
	if c.Journal == nil {
		errs = append(errs, errors.New("orchestrate: no journal"))
	}
	if c.Leases == nil {
		errs = append(errs, errors.New("orchestrate: no site leases"))
	}
	if c.Lease < 0 || c.PollInterval < 0 || c.SiteInterval < 0 || c.Resync < 0 {
		errs = append(errs, errors.New("orchestrate: negative interval"))
	}
	if c.Concurrency < 0 || c.PerSite < 0 || c.DrainParallel < 0 {
		errs = append(errs, errors.New("orchestrate: negative concurrency"))
	}
	if c.Drift != "" && c.Drift != reconcile.DriftReport && c.Drift != reconcile.DriftRecreate {
		errs = append(errs, fmt.Errorf("orchestrate: unknown drift policy %q", c.Drift))
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.Holder == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		c.Holder = host + "-" + hex.EncodeToString(b)
	}
	if c.Lease == 0 {
		c.Lease = 15 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 64
	}
	if c.SiteInterval == 0 {
		c.SiteInterval = c.Lease / 3
	}
	if c.RetryDelay == nil {
		p := reconcile.RetryPolicy{Initial: 30 * time.Second, Max: 10 * time.Minute}
		c.RetryDelay = p.Backoff
	}
	if c.Drift == "" {
		c.Drift = reconcile.DriftReport
	}
	if c.Resync == 0 {
		c.Resync = time.Minute
	}
	if c.DrainParallel == 0 {
		c.DrainParallel = 4
	}
}

// Executor claims op occurrences and runs them on their sites, and follows the sites it
// holds the lease of. See the package documentation and Run.
type Executor struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	runner *reconcile.Runner
	kick   chan struct{}
	// placeMu serialises placements in this process, so that two of its instantiations
	// never both count the same free capacity.
	placeMu sync.Mutex

	mu       sync.Mutex
	holder   string // Config.Holder, with an epoch suffix after a fence
	epoch    int
	running  map[string]*opRun
	waiting  map[string]*opRun // runs whose task the Runner has, by op id
	cancels  map[string]bool   // cancels reported for ops not started yet
	watchers map[string]context.CancelFunc
	opWG     sync.WaitGroup
	watchWG  sync.WaitGroup
}

// opRun is one op occurrence this process runs.
type opRun struct {
	op      Op
	holder  string
	claimed time.Time
	// stop ends the run's base context (the executor stops or fences) and with it its
	// run context; cancelRun ends only the run context (a cancel of the op was asked), so
	// that the run can still record the cancel under the base context.
	stop      context.CancelFunc
	cancelRun context.CancelFunc
	cancelled atomic.Bool
	// finished is set once the run's end is recorded: its op is no longer held.
	finished atomic.Bool
	done     chan taskResult // the Runner's OnDone of this op's task
	exited   chan struct{}
}

type taskResult struct {
	p   reconcile.Progress
	err error
}

// New returns an Executor for cfg, registering its metrics on reg (nil: not registered).
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With(logkeys.Component, "orchestrate")
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	e := &Executor{cfg: cfg, log: log, m: m, kick: make(chan struct{}, 1), holder: cfg.Holder,
		running: map[string]*opRun{}, waiting: map[string]*opRun{}, cancels: map[string]bool{}, watchers: map[string]context.CancelFunc{}}
	rc := cfg.Reconcile
	if rc.Logger == nil {
		rc.Logger = log
	}
	onStep := rc.OnStep
	rc.OnStep = func(ctx context.Context, ev reconcile.StepEvent) {
		m.phase.WithLabelValues(string(ev.Task.Kind), string(ev.Step)).Observe(ev.Took.Seconds())
		if onStep != nil {
			onStep(ctx, ev)
		}
	}
	e.runner = reconcile.NewRunner(reconcile.New(cfg.Journal, rc), reconcile.RunnerConfig{
		PerSite: cfg.PerSite, Retry: cfg.Retry, OnDone: e.onDone, Logger: log})
	return e, nil
}

// Holder returns the name this process holds its leases under.
func (e *Executor) Holder() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.holder
}

// Kick makes the executor look for op occurrences to claim now rather than at the next
// poll: the LCM calls it after it created one. It never blocks.
func (e *Executor) Kick() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Run claims and runs op occurrences and follows the sites whose lease it holds, until ctx
// ends. Then, in order:
//
//  1. it stops claiming, renewing and taking site leases;
//  2. it stops the runs in progress, each at the step it is in (the journal keeps what
//     was done), and waits for them, and stops the site watchers;
//  3. it releases its op occurrence claims and site leases, so another process resumes
//     the runs and follows the sites at once instead of after the leases lapse.
//
// It returns nil after a stop through ctx.
func (e *Executor) Run(ctx context.Context) error {
	e.log.InfoContext(ctx, "executor started", logkeys.Holder, e.Holder())
	var loops sync.WaitGroup
	for _, loop := range []func(context.Context){e.claimLoop, e.renewLoop, e.siteLoop, e.drainLoop} {
		loops.Add(1)
		go func() {
			defer loops.Done()
			loop(ctx)
		}()
	}
	<-ctx.Done()
	loops.Wait()
	e.opWG.Wait()
	e.runner.Wait()
	e.watchWG.Wait()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	holder := e.Holder()
	if err := e.cfg.Ops.Release(rctx, holder); err != nil {
		e.log.WarnContext(rctx, "release op occurrence claims failed", logkeys.Error, err.Error())
	}
	if err := e.cfg.Leases.Release(rctx, holder, nil); err != nil {
		e.log.WarnContext(rctx, "release site leases failed", logkeys.Error, err.Error())
	}
	e.log.InfoContext(rctx, "executor stopped", logkeys.Holder, holder)
	return nil
}

// claimLoop claims op occurrences every PollInterval and on Kick, as many as the
// concurrency bound leaves room for.
func (e *Executor) claimLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.PollInterval)
	defer t.Stop()
	for {
		e.claim(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.kick:
		}
	}
}

func (e *Executor) claim(ctx context.Context) {
	e.mu.Lock()
	free := e.cfg.Concurrency - len(e.running)
	holder := e.holder
	e.mu.Unlock()
	if free <= 0 {
		return
	}
	ops, err := e.cfg.Ops.Claim(ctx, holder, e.cfg.Lease, free)
	if err != nil {
		if ctx.Err() == nil {
			e.log.WarnContext(ctx, "claim op occurrences failed", logkeys.Error, err.Error())
		}
		return
	}
	for _, op := range ops {
		e.start(ctx, holder, op)
	}
}

// start runs op in its own goroutine, after the run of the same op under an earlier
// holder name (see fence), if any, has wound down.
func (e *Executor) start(ctx context.Context, holder string, op Op) {
	e.m.claimed.Inc()
	base, cancelBase := context.WithCancel(ctx)
	rctx, stop := context.WithCancel(base)
	r := &opRun{op: op, holder: holder, claimed: time.Now(), stop: cancelBase, cancelRun: stop,
		done: make(chan taskResult, 1), exited: make(chan struct{})}
	e.mu.Lock()
	prev := e.running[op.ID]
	e.running[op.ID] = r
	if e.cancels[op.ID] {
		delete(e.cancels, op.ID)
		r.cancelled.Store(true)
	}
	n := len(e.running)
	e.mu.Unlock()
	e.m.running.Set(float64(n))
	e.opWG.Add(1)
	go func() {
		defer e.opWG.Done()
		defer close(r.exited)
		defer func() {
			r.stop()
			e.mu.Lock()
			if e.running[op.ID] == r {
				delete(e.running, op.ID)
			}
			n := len(e.running)
			e.mu.Unlock()
			e.m.running.Set(float64(n))
		}()
		if prev != nil {
			select {
			case <-prev.exited:
			case <-base.Done():
				return
			}
		}
		e.runOp(base, rctx, r)
	}()
}

// renewLoop renews the op occurrence claims every Lease/3 and stops the runs of ops whose
// cancel was asked. It fences this process's runs (see fence) so that no run goes on once
// its claim may have gone to another process:
//
//   - a run whose op a renewal no longer finds held by this process lost its claim (the
//     lease lapsed and another process took the op over) and is stopped at once;
//   - when no renewal succeeded for fenceAfter of the lease (the database is unreachable
//     or too slow to answer), every run is stopped, before the lease can lapse in the
//     database: renewals stamp the lease from the database's clock after the renewal
//     started here, so the lease in the database outlives the local deadline.
func (e *Executor) renewLoop(ctx context.Context) {
	var okStart atomic.Int64 // start of the last successful renewal, in Unix nanoseconds
	okStart.Store(time.Now().UnixNano())
	fenceAfter := e.cfg.Lease * 4 / 5
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(max(e.cfg.Lease/10, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if time.Since(time.Unix(0, okStart.Load())) >= fenceAfter {
				e.fence(ctx)
				okStart.Store(time.Now().UnixNano())
			}
		}
	}()
	defer wg.Wait()
	t := time.NewTicker(e.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		holder := e.Holder()
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, e.cfg.Lease)
		held, cancelled, err := e.cfg.Ops.Renew(rctx, holder, e.cfg.Lease)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.log.WarnContext(ctx, "renew op occurrence claims failed", logkeys.Error, err.Error())
			continue
		}
		if e.Holder() != holder {
			continue // fenced meanwhile: these claims are no longer this process's
		}
		if n := start.UnixNano(); n > okStart.Load() {
			okStart.Store(n)
		}
		e.dropLost(ctx, holder, start, held)
		for _, id := range cancelled {
			e.mu.Lock()
			r := e.running[id]
			if r == nil {
				e.cancels[id] = true
			}
			e.mu.Unlock()
			if r != nil && !r.cancelled.Swap(true) {
				e.log.InfoContext(ctx, "cancelling op occurrence", logkeys.OpID, id)
				r.cancelRun()
			}
		}
	}
}

// dropLost stops the runs of holder, claimed before a renewal that started at start, whose
// op the renewal did not find held: the claim went to another process, which runs the op
// now, and this run must not take one more step.
func (e *Executor) dropLost(ctx context.Context, holder string, start time.Time, held []string) {
	e.mu.Lock()
	var lost []*opRun
	for id, r := range e.running {
		if r.holder == holder && r.claimed.Before(start) && !r.finished.Load() && !slices.Contains(held, id) {
			lost = append(lost, r)
		}
	}
	e.mu.Unlock()
	for _, r := range lost {
		e.m.lost.Inc()
		e.log.WarnContext(ctx, "op occurrence claim lost to another process, run stopped", logkeys.OpID, r.op.ID,
			logkeys.AppInstanceID, r.op.AppInstanceID, logkeys.Operation, string(r.op.Operation))
		r.stop()
	}
}

// fence stops every run of this process after its claims could not be renewed in time:
// another process may take them over, and two runs of one op must not go on side by side.
// The claims it held lapse; this process goes on under a new holder name, so that it can
// claim those ops again like any other process.
func (e *Executor) fence(ctx context.Context) {
	e.mu.Lock()
	if len(e.running) == 0 {
		e.mu.Unlock()
		return
	}
	runs := make([]*opRun, 0, len(e.running))
	for _, r := range e.running {
		runs = append(runs, r)
	}
	e.epoch++
	old := e.holder
	e.holder = fmt.Sprintf("%s.%d", e.cfg.Holder, e.epoch)
	e.mu.Unlock()
	e.m.fences.Inc()
	e.log.WarnContext(ctx, "op occurrence claims not renewed in time, stopping the runs of this process", logkeys.Holder, old, logkeys.Count, len(runs))
	for _, r := range runs {
		r.stop()
	}
}

// onDone receives the end of every task the Runner ran: an op's, handed to its run, or a
// drift re-creation's, logged.
func (e *Executor) onDone(ctx context.Context, site string, t reconcile.Task, p reconcile.Progress, err error) {
	e.mu.Lock()
	r := e.waiting[t.ID]
	delete(e.waiting, t.ID)
	e.mu.Unlock()
	if r != nil {
		r.done <- taskResult{p: p, err: err}
		return
	}
	switch {
	case err != nil:
		e.log.WarnContext(ctx, "re-creation stopped", logkeys.Site, site, logkeys.TaskID, t.ID, logkeys.Error, err.Error())
	case p.Outcome == reconcile.Completed:
		e.log.InfoContext(ctx, "re-creation completed", logkeys.Site, site, logkeys.TaskID, t.ID, logkeys.AppInstanceID, t.AppInstanceID)
	default:
		detail := ""
		if p.Failure != nil {
			detail = p.Failure.Detail
		}
		e.log.WarnContext(ctx, "re-creation failed", logkeys.Site, site, logkeys.TaskID, t.ID,
			logkeys.AppInstanceID, t.AppInstanceID, logkeys.State, string(p.Outcome), logkeys.Error, detail)
	}
}

// runOp takes one claimed op occurrence to its end:
//
//  1. a cancel asked before the run ends it FAILED_TEMP at once; an unplaced relocation
//     whose site no longer drains is withdrawn (FAILED);
//  2. an INSTANTIATE not placed yet is placed (or FAILED with every site's reason;
//     FAILED_TEMP when only unreachable sites stood in the way), an op still STARTING moves
//     to PROCESSING on its site;
//  3. the site is connected and the task submitted to the Runner, which runs it from the
//     step after the last one in the journal, retrying FAILED_TEMP with backoff;
//  4. a FAILED instantiation is cleaned up: a FORCEFUL terminate task (op id + "-cleanup",
//     journaled like any other) removes what it left on the MEP and the VIM, since the
//     instance goes back to NOT_INSTANTIATED; if that cannot finish, the op ends
//     FAILED_TEMP instead, and its retry finds the instantiation FAILED in the journal and
//     runs the cleanup again;
//  5. a relocation whose task COMPLETED removes the copy on the site it leaves (drain.go);
//  6. the outcome is recorded: COMPLETED, FAILED or FAILED_TEMP with the failure.
//
// When the executor stops, fences, or loses the claim, the run ends without recording
// anything: the claim lapses and a process resumes the op from the journal.
func (e *Executor) runOp(base, ctx context.Context, r *opRun) {
	op := r.op
	log := e.log.With(logkeys.OpID, op.ID, logkeys.AppInstanceID, op.AppInstanceID, logkeys.Operation, string(op.Operation))
	log.DebugContext(base, "op occurrence claimed", logkeys.State, string(op.State))
	if op.CancelMode != "" || r.cancelled.Load() {
		e.finishCancelled(base, r, log)
		return
	}
	task := op.Task
	task.ID = op.ID
	if err := task.Validate(); err != nil {
		e.finish(base, r, log, Failed, &problem.Details{Title: "invalid task", Status: http.StatusUnprocessableEntity, Detail: err.Error()})
		return
	}
	if e.withdrawn(base, ctx, r, log) {
		return
	}
	began := time.Now()
	siteID, ok := e.place(base, ctx, r, log)
	if !ok {
		return
	}
	e.m.phase.WithLabelValues(string(task.Kind), "place").Observe(time.Since(began).Seconds())
	log = log.With(logkeys.Site, siteID)
	var site reconcile.Site
	began = time.Now()
	err := e.retry(ctx, func() error {
		var err error
		site, err = e.cfg.Sites.Connect(ctx, siteID)
		return err
	}, 3)
	e.m.phase.WithLabelValues(string(task.Kind), "connect").Observe(time.Since(began).Seconds())
	if err != nil {
		if e.stopped(base, ctx, r, log) {
			return
		}
		e.finish(base, r, log, FailedTemp, &problem.Details{Title: "site unavailable", Status: http.StatusServiceUnavailable,
			Detail: fmt.Sprintf("connect to site %s: %v", siteID, err)})
		return
	}
	// The Runner and the watchers know a site by its id.
	site.Name = siteID
	p, ok := e.runTask(base, ctx, r, log, site, task)
	if !ok {
		return
	}
	if p.Outcome == reconcile.Failed && task.Kind == reconcile.KindInstantiate {
		// A failed instantiation leaves nothing on the site: the instance goes back to
		// NOT_INSTANTIATED and its site is cleared, so nothing would remove it later.
		cleanup := reconcile.Task{ID: op.ID + "-cleanup", Kind: reconcile.KindTerminate, AppInstanceID: task.AppInstanceID,
			StopType: reconcile.StopForceful}
		cp, ok := e.runTask(base, ctx, r, log, site, cleanup)
		if !ok {
			return
		}
		if cp.Outcome != reconcile.Completed {
			pd := failureProblem(p)
			pd.Title, pd.Status = "cleanup failed", http.StatusServiceUnavailable
			cf := failureProblem(cp)
			pd.Detail += "; removing what it left on the site failed, a retry tries again: " + cf.Detail
			e.finish(base, r, log, FailedTemp, &pd)
			return
		}
		log.InfoContext(ctx, "failed instantiation removed from the site")
	}
	if op.Relocation != nil && p.Outcome == reconcile.Completed {
		e.relocated(base, ctx, r, log, siteID, site, task)
		return
	}
	if op.Relocation == nil {
		e.steerAfter(ctx, op, siteID, task, p)
	}
	e.finishTask(base, r, log, p)
}

// runTask runs task on site through the Runner and returns how it ended. It reports false
// when the run ended without an outcome and was dealt with: stopped (left to resume, or
// recorded as cancelled) or failed for want of a journal (recorded FAILED_TEMP).
func (e *Executor) runTask(base, ctx context.Context, r *opRun, log *slog.Logger, site reconcile.Site, task reconcile.Task) (reconcile.Progress, bool) {
	for errs := 0; ; {
		e.mu.Lock()
		e.waiting[task.ID] = r
		e.mu.Unlock()
		e.runner.Submit(ctx, site, task)
		res := <-r.done
		if res.err == nil {
			return res.p, true
		}
		if e.stopped(base, ctx, r, log) {
			return res.p, false
		}
		// The journal failed: the run keeps its claim and tries again, then gives up
		// FAILED_TEMP so that the failure shows.
		errs++
		log.WarnContext(ctx, "task run failed", logkeys.TaskID, task.ID, logkeys.Attempt, errs, logkeys.Error, res.err.Error())
		if errs >= 3 {
			e.finish(base, r, log, FailedTemp, &problem.Details{Title: "executor error", Status: http.StatusInternalServerError, Detail: res.err.Error()})
			return res.p, false
		}
		if !sleep(ctx, time.Duration(errs)*time.Second) {
			e.stopped(base, ctx, r, log)
			return res.p, false
		}
	}
}

// stopped reports whether the run's context ended, and if it ended through a cancel of the
// op, records that.
func (e *Executor) stopped(base, ctx context.Context, r *opRun, log *slog.Logger) bool {
	if ctx.Err() == nil {
		return false
	}
	if r.cancelled.Load() && base.Err() == nil {
		e.finishCancelled(base, r, log)
		return true
	}
	log.InfoContext(context.WithoutCancel(base), "op occurrence run stopped, left to resume")
	return true
}

// place records where op runs: placement for an INSTANTIATE not placed yet, PROCESSING on
// the instance's site for an op still STARTING. It reports false when the run ends here.
func (e *Executor) place(base, ctx context.Context, r *opRun, log *slog.Logger) (string, bool) {
	op := r.op
	if op.Operation != OpInstantiate || op.SiteID != "" {
		if op.SiteID == "" {
			e.finish(base, r, log, Failed, &problem.Details{Title: "no site", Status: http.StatusConflict,
				Detail: fmt.Sprintf("%s of app instance %s: the instance is on no site", op.Operation, op.AppInstanceID)})
			return "", false
		}
		if op.State == Starting {
			// OPERATE and TERMINATE commit nothing new: the LCM keeps the instance's
			// resources. An INSTANTIATE that came with its site commits what it needs.
			var committed vim.Resources
			if op.Operation == OpInstantiate {
				committed = need(op.Placement)
			}
			err := e.retry(ctx, func() error {
				return e.cfg.Ops.Placed(ctx, op.ID, op.SiteID, nil, committed)
			}, 0)
			if err != nil {
				e.dropped(base, ctx, r, log, err)
				return "", false
			}
		}
		return op.SiteID, true
	}
	if err := op.Placement.Validate(); err != nil {
		e.finish(base, r, log, Failed, &problem.Details{Title: "invalid placement request", Status: http.StatusUnprocessableEntity, Detail: err.Error()})
		return "", false
	}
	// This process places one op at a time, so that its placements see each other's
	// commitments when they score sites (spreading, free capacity). A placement pinned to
	// one site has nothing to score and runs beside the others. Either way Placed checks
	// the chosen site's capacity again under the site's lock: when another process (or
	// placement) committed there since the sites were read, the op is placed again on what
	// the database holds now.
	if len(op.Placement.Pinned) != 1 {
		e.placeMu.Lock()
		defer e.placeMu.Unlock()
	}
	for attempt := 1; ; attempt++ {
		var sites []placement.Site
		err := e.retry(ctx, func() error {
			var err error
			sites, err = e.cfg.Sites.Placement(ctx, op.Placement.Pinned...)
			return err
		}, 0)
		if err != nil {
			e.dropped(base, ctx, r, log, err)
			return "", false
		}
		from := ""
		if op.Relocation != nil {
			from = op.Relocation.From
		}
		d := placement.Decide(op.Placement, awayFrom(sites, from))
		if d.Chosen == nil {
			log.InfoContext(ctx, "no edge site fits", logkeys.Count, len(d.Rejected))
			pd := &problem.Details{Title: "no edge site fits", Status: http.StatusUnprocessableEntity, Detail: d.Detail()}
			if healthOnly(d, from) {
				// Only unreachable sites stood in the way: retried once RetryDelay passed.
				pd.Status = http.StatusServiceUnavailable
				e.finish(base, r, log, FailedTemp, pd)
				return "", false
			}
			e.finish(base, r, log, Failed, pd)
			return "", false
		}
		b, err := json.Marshal(d)
		if err != nil {
			e.finish(base, r, log, Failed, &problem.Details{Title: "placement", Status: http.StatusInternalServerError, Detail: err.Error()})
			return "", false
		}
		err = e.retry(ctx, func() error {
			err := e.cfg.Ops.Placed(ctx, op.ID, d.Chosen.SiteID, b, need(op.Placement))
			if errors.Is(err, ErrNoCapacity) {
				return retryErr{err}
			}
			return err
		}, 0)
		var re retryErr
		if errors.As(err, &re) && attempt < maxPlacements {
			e.m.replaced.Inc()
			log.InfoContext(ctx, "placed site filled meanwhile, placing again", logkeys.Site, d.Chosen.SiteID, logkeys.Attempt, attempt)
			continue
		}
		if err != nil {
			if errors.As(err, &re) {
				e.finish(base, r, log, FailedTemp, &problem.Details{Title: "placement contended", Status: http.StatusServiceUnavailable,
					Detail: fmt.Sprintf("%d placements in a row lost their site's capacity to other placements: %v", attempt, re.err)})
				return "", false
			}
			e.dropped(base, ctx, r, log, err)
			return "", false
		}
		log.InfoContext(ctx, "op occurrence placed", logkeys.Site, d.Chosen.SiteID, logkeys.Count, len(d.Candidates))
		return d.Chosen.SiteID, true
	}
}

// maxPlacements bounds how often one run places its op again after the chosen site filled
// up before Placed committed.
const maxPlacements = 10

// retryErr ends a retry loop at once with an error the caller handles (Executor.retry
// passes it through unwrapped otherwise).
type retryErr struct{ err error }

func (r retryErr) Error() string { return r.err.Error() }
func (r retryErr) Unwrap() error { return r.err }

// need is what an instance of req commits on its site: its resources times its replicas.
func need(req placement.Request) vim.Resources {
	n := int64(max(req.Replicas, 1))
	return vim.Resources{MilliCPU: req.Resources.MilliCPU * n, MemoryBytes: req.Resources.MemoryBytes * n, Pods: req.Resources.Pods * n}
}

// dropped ends a run whose claim was lost or whose context ended before an outcome.
func (e *Executor) dropped(base, ctx context.Context, r *opRun, log *slog.Logger, err error) {
	if errors.Is(err, ErrLeaseLost) {
		e.m.finished.WithLabelValues(string(r.op.Operation), "LEASE_LOST").Inc()
		log.DebugContext(context.WithoutCancel(base), "op occurrence claim lost")
		return
	}
	e.stopped(base, ctx, r, log)
}

// finishTask records the outcome of the op's task.
func (e *Executor) finishTask(ctx context.Context, r *opRun, log *slog.Logger, p reconcile.Progress) {
	switch p.Outcome {
	case reconcile.Completed:
		e.finish(ctx, r, log, Completed, nil)
	case reconcile.Failed, reconcile.FailedTemp:
		pd := failureProblem(p)
		state := Failed
		if p.Outcome == reconcile.FailedTemp {
			state = FailedTemp
		}
		e.finish(ctx, r, log, state, &pd)
	default:
		e.finish(ctx, r, log, FailedTemp, &problem.Details{Title: "task failed", Status: http.StatusInternalServerError,
			Detail: "the task ended without an outcome"})
	}
}

// failureProblem is the ProblemDetails of a task that failed: the VIM's or the MEP's own
// words, after the step that failed.
func failureProblem(p reconcile.Progress) problem.Details {
	if p.Failure == nil {
		return problem.Details{Title: "task failed", Status: http.StatusInternalServerError, Detail: "no failure recorded"}
	}
	pd := p.Failure.Problem()
	pd.Detail = fmt.Sprintf("%s: %s", p.Failure.Step, p.Failure.Detail)
	return pd
}

func (e *Executor) finishCancelled(ctx context.Context, r *opRun, log *slog.Logger) {
	e.finish(ctx, r, log, FailedTemp, &problem.Details{Title: "cancelled", Status: http.StatusConflict,
		Detail: fmt.Sprintf("%s of app instance %s cancelled on request; a retry resumes it", r.op.Operation, r.op.AppInstanceID)})
}

// finish records the end of a run, trying again while the database fails, until the run's
// base context ends (the claim then lapses, and the op is resumed from the journal, which
// reports the same outcome without touching the site).
func (e *Executor) finish(ctx context.Context, r *opRun, log *slog.Logger, state State, failure *problem.Details) {
	// A cancelled op waits for a client's retry (zero retryAt); others come back when due.
	var retryAt time.Time
	if state == FailedTemp && !r.cancelled.Load() && r.op.CancelMode == "" {
		retryAt = time.Now().Add(e.cfg.RetryDelay(r.op.Attempts + 1))
	}
	began := time.Now()
	err := e.retry(ctx, func() error {
		return e.cfg.Ops.Finished(ctx, r.holder, r.op.ID, state, failure, retryAt)
	}, 0)
	e.m.phase.WithLabelValues(string(r.op.Task.Kind), "finish").Observe(time.Since(began).Seconds())
	op := string(r.op.Operation)
	if err == nil {
		r.finished.Store(true)
	}
	if err != nil {
		if errors.Is(err, ErrLeaseLost) {
			e.m.finished.WithLabelValues(op, "LEASE_LOST").Inc()
			log.DebugContext(context.WithoutCancel(ctx), "op occurrence claim lost")
		}
		return
	}
	e.m.finished.WithLabelValues(op, string(state)).Inc()
	e.m.duration.WithLabelValues(op, string(state)).Observe(time.Since(r.claimed).Seconds())
	args := []any{logkeys.State, string(state), logkeys.DurationMS, time.Since(r.claimed).Milliseconds()}
	if failure != nil {
		args = append(args, logkeys.Reason, failure.Title, logkeys.Error, failure.Detail)
		log.WarnContext(ctx, "op occurrence finished", args...)
		return
	}
	log.InfoContext(ctx, "op occurrence finished", args...)
}

// retry calls f until it succeeds, fails with ErrLeaseLost, ctx ends, or (with max > 0)
// it failed max times, waiting 200ms, doubling to 5s, between the calls.
func (e *Executor) retry(ctx context.Context, f func() error, max int) error {
	d := 200 * time.Millisecond
	for n := 1; ; n++ {
		err := f()
		var stop retryErr
		if err == nil || errors.Is(err, ErrLeaseLost) || errors.As(err, &stop) || ctx.Err() != nil || (max > 0 && n >= max) {
			if err == nil && ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		e.log.WarnContext(ctx, "orchestration call failed, retrying", logkeys.Attempt, n, logkeys.Error, err.Error())
		if !sleep(ctx, d) {
			return ctx.Err()
		}
		d = min(2*d, 5*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// siteLoop lists the sites every SiteInterval, takes or renews their leases, and runs a
// watcher for each site held; a site whose lease is lost or which left the inventory
// stops being watched.
func (e *Executor) siteLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.SiteInterval)
	defer t.Stop()
	var ids []string
	lastOK := time.Now()
	for {
		if l, err := e.cfg.Sites.IDs(ctx); err == nil {
			ids = l
		} else if ctx.Err() == nil {
			e.log.WarnContext(ctx, "list sites failed", logkeys.Error, err.Error())
		}
		holder := e.Holder()
		held, err := e.cfg.Leases.Acquire(ctx, holder, ids, e.cfg.Lease)
		switch {
		case err == nil:
			lastOK = time.Now()
			e.watch(ctx, holder, ids, held)
		case ctx.Err() != nil:
		default:
			e.log.WarnContext(ctx, "take site leases failed", logkeys.Error, err.Error())
			if time.Since(lastOK) >= e.cfg.Lease {
				// The leases may have gone to another process: stop watching.
				e.watch(ctx, holder, ids, nil)
			}
		}
		select {
		case <-ctx.Done():
			e.watch(ctx, holder, nil, nil)
			return
		case <-t.C:
		}
	}
}

// watch makes the running watchers those of held, and releases the leases of watched
// sites no longer in ids.
func (e *Executor) watch(ctx context.Context, holder string, ids, held []string) {
	e.mu.Lock()
	var gone []string
	for id, stop := range e.watchers {
		if slices.Contains(held, id) {
			continue
		}
		stop()
		delete(e.watchers, id)
		if ctx.Err() == nil && !slices.Contains(ids, id) {
			gone = append(gone, id)
		}
		e.log.InfoContext(ctx, "site no longer watched", logkeys.Site, id)
	}
	for _, id := range held {
		if e.watchers[id] != nil {
			continue
		}
		wctx, stop := context.WithCancel(ctx)
		e.watchers[id] = stop
		e.watchWG.Add(1)
		go func() {
			defer e.watchWG.Done()
			e.follow(wctx, id)
		}()
		e.log.InfoContext(ctx, "site watched", logkeys.Site, id, logkeys.Holder, holder)
	}
	n := len(e.watchers)
	e.mu.Unlock()
	e.m.sites.Set(float64(n))
	if len(gone) > 0 {
		if err := e.cfg.Leases.Release(ctx, holder, gone); err != nil {
			e.log.WarnContext(ctx, "release site leases failed", logkeys.Error, err.Error())
		}
	}
}

// follow runs a reconcile.Watcher on one site until ctx ends, connecting again after a
// failure to connect.
func (e *Executor) follow(ctx context.Context, id string) {
	for {
		site, err := e.cfg.Sites.Connect(ctx, id)
		if err == nil {
			site.Name = id
			var w *reconcile.Watcher
			w, err = reconcile.NewWatcher(reconcile.WatcherConfig{
				Site: site, Inventory: inventory{e.cfg.Ops}, Policy: e.cfg.Drift, Runner: e.runner,
				Observe: e.observe, Resync: e.cfg.Resync, Logger: e.log,
			})
			if err == nil {
				_ = w.Run(ctx)
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		e.log.WarnContext(ctx, "watch site failed", logkeys.Site, id, logkeys.Error, err.Error())
		// Spread over ±half an interval: the watchers of sites that cannot be connected,
		// started together, would otherwise all try again at the same moment.
		if !sleep(ctx, e.cfg.SiteInterval/2+mrand.N(e.cfg.SiteInterval+1)) {
			return
		}
	}
}

func (e *Executor) observe(ctx context.Context, o reconcile.Observation) {
	if o.Drift {
		e.m.drift.Inc()
	}
	if err := e.cfg.Ops.Observed(ctx, o); err != nil && ctx.Err() == nil {
		e.log.WarnContext(ctx, "record observation failed", logkeys.Site, o.Site, logkeys.AppInstanceID, o.AppInstanceID, logkeys.Error, err.Error())
	}
}

// inventory is the reconcile.Inventory of the watchers: what the LCM says is deployed.
type inventory struct{ ops Ops }

func (i inventory) Deployed(ctx context.Context, site string) ([]reconcile.Task, error) {
	return i.ops.Deployed(ctx, site)
}
