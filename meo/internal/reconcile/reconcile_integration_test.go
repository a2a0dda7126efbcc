//go:build integration

package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

// instantiate runs an instantiate task to the end and requires COMPLETED.
func instantiate(t *testing.T, s *testSite, j reconcile.Journal) reconcile.Task {
	t.Helper()
	task := instantiateTask("app")
	p, err := reconcile.New(j, fastConfig()).Run(ctxT(t), s.site, task)
	if err != nil || p.Outcome != reconcile.Completed {
		t.Fatalf("instantiate: outcome %s, failure %+v, err %v; want COMPLETED", p.Outcome, p.Failure, err)
	}
	return task
}

func TestInstantiateToCompletion(t *testing.T) {
	s := newSite(t, "site-a")
	j := reconcile.NewMemoryJournal()
	var events []reconcile.Step
	cfg := fastConfig()
	cfg.OnStep = func(_ context.Context, ev reconcile.StepEvent) { events = append(events, ev.Step) }
	task := instantiateTask("app")
	p, err := reconcile.New(j, cfg).Run(ctxT(t), s.site, task)
	if err != nil || p.Outcome != reconcile.Completed {
		t.Fatalf("outcome %s, failure %+v, err %v; want COMPLETED", p.Outcome, p.Failure, err)
	}
	if want := reconcile.Steps(reconcile.KindInstantiate); !slices.Equal(events, want) {
		t.Fatalf("step events %v; want %v", events, want)
	}
	// The MEP knows the instance with its rules, and the app confirmed ready.
	resp, err := s.mep.Client(t).GetAppInstanceWithResponse(t.Context(), task.AppInstanceID, nil)
	if err != nil || resp.JSON200 == nil {
		t.Fatalf("mm5 get: %v %s", err, resp.Body)
	}
	rec := resp.JSON200
	if rec.State != mm5api.READY {
		t.Fatalf("mep state %s; want READY", rec.State)
	}
	if rec.AppTrafficRule == nil || len(*rec.AppTrafficRule) != 1 || (*rec.AppTrafficRule)[0].TrafficRuleId != "tr1" {
		t.Fatalf("mep traffic rules %+v; want tr1", rec.AppTrafficRule)
	}
	if rec.AppDNSRule == nil || len(*rec.AppDNSRule) != 1 || (*rec.AppDNSRule)[0].DomainName != "web.example.mec" {
		t.Fatalf("mep dns rules %+v; want web.example.mec", rec.AppDNSRule)
	}
	// The VIM got the MEP's credentials and Mp1 root.
	in, ok := s.vim.Instance(task.AppInstanceID)
	if !ok {
		t.Fatal("the vim does not hold the instance")
	}
	got := in.Request.MEP
	if got.Endpoint != s.mep.Root || got.ClientID != rec.Credentials.ClientId || got.ClientSecret != rec.Credentials.ClientSecret || got.ClientSecret == "" {
		t.Fatalf("vim got mep access %s %s (secret set %v); want %s %s and the mep's secret", got.Endpoint, got.ClientID, got.ClientSecret != "", s.mep.Root, rec.Credentials.ClientId)
	}
	if in.Status.Phase != vim.PhaseRunning || in.Request.AppDID != "appd-web-1" {
		t.Fatalf("vim instance %s %s; want Running appd-web-1", in.Status.Phase, in.Request.AppDID)
	}
	if n := s.apps.Confirmations(task.AppInstanceID); n != 1 {
		t.Fatalf("app confirmed ready %d times; want 1", n)
	}
	// Running the finished task again touches nothing.
	s.vim.ResetCalls()
	p2, err := reconcile.New(j, fastConfig()).Run(ctxT(t), s.site, task)
	if n := len(s.vim.Calls()); err != nil || p2.Outcome != reconcile.Completed || n != 0 {
		t.Fatalf("rerun: outcome %s err %v, %d vim calls; want COMPLETED and none", p2.Outcome, err, n)
	}
}

func TestTerminateGracefully(t *testing.T) {
	s := newSite(t, "site-a")
	j := reconcile.NewMemoryJournal()
	task := instantiate(t, s, j)
	term := terminateTask(task) // graceful, 10 s; the app has no termination subscription
	t0 := time.Now()
	p, err := reconcile.New(j, fastConfig()).Run(ctxT(t), s.site, term)
	if err != nil || p.Outcome != reconcile.Completed {
		t.Fatalf("terminate: outcome %s failure %+v err %v; want COMPLETED", p.Outcome, p.Failure, err)
	}
	// Well under the 10 s the MEP would wait for a subscriber's confirmation, with room for
	// a loaded machine.
	if d := time.Since(t0); d > 8*time.Second {
		t.Fatalf("terminate took %v; want the MEP to finish at once without a subscriber", d)
	}
	if ids := s.vim.IDs(); len(ids) != 0 {
		t.Fatalf("vim holds %v; want nothing", ids)
	}
	if n := len(s.mep.Instances(t)); n != 0 {
		t.Fatalf("mep holds %d instances; want 0", n)
	}
	// Terminate reached the VIM only after the MEP was done with the instance.
	calls := s.vim.Calls()
	if i := slices.IndexFunc(calls, func(c vimtest.Call) bool { return c.Op == vimtest.OpTerminate }); i < 0 {
		t.Fatal("no vim terminate call")
	}
}

func TestOperateStopStart(t *testing.T) {
	s := newSite(t, "site-a")
	j := reconcile.NewMemoryJournal()
	task := instantiate(t, s, j)
	for _, c := range []struct {
		kind  reconcile.Kind
		phase vim.Phase
	}{{reconcile.KindStop, vim.PhaseStopped}, {reconcile.KindStart, vim.PhaseRunning}} {
		op := reconcile.Task{ID: task.ID + string(c.kind), Kind: c.kind, AppInstanceID: task.AppInstanceID, StopType: reconcile.StopForceful}
		p, err := reconcile.New(j, fastConfig()).Run(ctxT(t), s.site, op)
		if err != nil || p.Outcome != reconcile.Completed {
			t.Fatalf("%s: outcome %s failure %+v err %v", c.kind, p.Outcome, p.Failure, err)
		}
		if in, _ := s.vim.Instance(task.AppInstanceID); in.Status.Phase != c.phase {
			t.Fatalf("after %s: phase %s; want %s", c.kind, in.Status.Phase, c.phase)
		}
	}
}

// failingJournal fails the n-th Save (1-based) once, as a process that dies after a step's
// effect and before its record.
type failingJournal struct {
	reconcile.Journal
	failAt int32
	saves  atomic.Int32
}

var errCrash = errors.New("crash before the record")

func (f *failingJournal) Save(ctx context.Context, id string, p reconcile.Progress) error {
	if f.saves.Add(1) == f.failAt {
		return errCrash
	}
	return f.Journal.Save(ctx, id, p)
}

// TestCrashAtEveryStep stops the reconciler after each step k, once after the step was
// recorded (ctx cancelled from the step hook) and once before (the journal's save fails),
// then runs a fresh reconciler on the same journal: the task completes with exactly one
// workload and one MEP instance (instantiate) or none (terminate).
func TestCrashAtEveryStep(t *testing.T) {
	s := newSite(t, "site-a")
	for _, kind := range []reconcile.Kind{reconcile.KindInstantiate, reconcile.KindTerminate} {
		for k := 1; k <= len(reconcile.Steps(kind)); k++ {
			for _, mode := range []string{"after-record", "before-record"} {
				t.Run(fmt.Sprintf("%s/step-%d-%s/%s", kind, k, reconcile.Steps(kind)[k-1], mode), func(t *testing.T) {
					mem := reconcile.NewMemoryJournal()
					task := instantiateTask("crash")
					if kind == reconcile.KindTerminate {
						instantiate(t, s, mem)
						task = terminateTask(task)
					}
					ctx, cancel := context.WithCancel(ctxT(t))
					defer cancel()
					cfg := fastConfig()
					var j reconcile.Journal = mem
					switch mode {
					case "after-record":
						cfg.OnStep = func(_ context.Context, ev reconcile.StepEvent) {
							if ev.Index == k {
								cancel()
							}
						}
					case "before-record":
						j = &failingJournal{Journal: mem, failAt: int32(k)}
					}
					p, err := reconcile.New(j, cfg).Run(ctx, s.site, task)
					last := k == len(reconcile.Steps(kind))
					if mode == "after-record" && last {
						// Nothing is left after the last record: the run is complete.
						if err != nil || p.Outcome != reconcile.Completed {
							t.Fatalf("first run: outcome %s err %v; want COMPLETED", p.Outcome, err)
						}
					} else if err == nil {
						t.Fatalf("first run: outcome %s, no error; want it stopped at step %d", p.Outcome, k)
					}
					saved, _ := mem.Load(t.Context(), task.ID)
					wantDone := reconcile.Steps(kind)[k-1]
					if mode == "before-record" {
						wantDone = reconcile.StepNone
						if k > 1 {
							wantDone = reconcile.Steps(kind)[k-2]
						}
					}
					if saved.Done != wantDone {
						t.Fatalf("journal after the crash: done %q; want %q", saved.Done, wantDone)
					}
					// A fresh process on the same journal.
					p, err = reconcile.New(mem, fastConfig()).Run(ctxT(t), s.site, task)
					if err != nil || p.Outcome != reconcile.Completed {
						t.Fatalf("resumed run: outcome %s failure %+v err %v; want COMPLETED", p.Outcome, p.Failure, err)
					}
					in, inVIM := s.vim.Instance(task.AppInstanceID)
					_, mepErr := s.mep.Client(t).GetAppInstanceWithResponse(t.Context(), task.AppInstanceID, nil)
					resp, _ := s.mep.Client(t).GetAppInstanceWithResponse(t.Context(), task.AppInstanceID, nil)
					if mepErr != nil {
						t.Fatal(mepErr)
					}
					if kind == reconcile.KindInstantiate {
						if !inVIM || in.Generation != 1 || in.Status.Phase != vim.PhaseRunning {
							t.Fatalf("vim: held %v generation %d phase %s; want one Running workload deployed once in effect", inVIM, in.Generation, in.Status.Phase)
						}
						if resp.JSON200 == nil || resp.JSON200.State != mm5api.READY {
							t.Fatalf("mep: HTTP %d; want the instance READY", resp.StatusCode())
						}
						if c := s.vim.Count(vimtest.OpDeploy, task.AppInstanceID); c > 2 {
							t.Fatalf("%d deploys; want at most 2 (one repeated after the crash)", c)
						}
					} else {
						if inVIM {
							t.Fatal("vim still holds the instance")
						}
						if resp.StatusCode() != http.StatusNotFound {
							t.Fatalf("mep get: HTTP %d; want 404", resp.StatusCode())
						}
					}
					n := 0
					for _, r := range s.mep.Instances(t) {
						if r.AppInstanceId == task.AppInstanceID {
							n++
						}
					}
					if want := map[reconcile.Kind]int{reconcile.KindInstantiate: 1, reconcile.KindTerminate: 0}[kind]; n != want {
						t.Fatalf("mep holds %d instances %s; want %d", n, task.AppInstanceID, want)
					}
				})
			}
		}
	}
}

func TestMEPUnreachableThenBack(t *testing.T) {
	s := newSite(t, "site-a")
	j := reconcile.NewMemoryJournal()
	s.mep.Stop()
	task := instantiateTask("down")
	p, err := reconcile.New(j, fastConfig()).Run(ctxT(t), s.site, task)
	if err != nil || p.Outcome != reconcile.FailedTemp {
		t.Fatalf("outcome %s err %v; want FAILED_TEMP", p.Outcome, err)
	}
	if p.Failure.Step != reconcile.StepMEPProvisioned || p.Failure.Title != "mep unreachable" || !errors.Is(p.Failure, reconcile.ErrMEPUnreachable) {
		t.Fatalf("failure %+v; want mep unreachable at %s", p.Failure, reconcile.StepMEPProvisioned)
	}
	if pd := p.Failure.Problem(); pd.Status != http.StatusServiceUnavailable || !strings.Contains(pd.Detail, "connection refused") {
		t.Fatalf("problem %+v; want 503 with the transport's words", pd)
	}
	if n := s.vim.Count(vimtest.OpDeploy, ""); n != 0 {
		t.Fatalf("%d vim deploys; want none before the MEP answered", n)
	}
	// The runner retries with backoff; the MEP comes back in the meantime.
	done := make(chan reconcile.Progress, 1)
	r := reconcile.NewRunner(reconcile.New(j, fastConfig()), reconcile.RunnerConfig{
		Retry: reconcile.RetryPolicy{MaxAttempts: 20, Initial: 100 * time.Millisecond, Max: 300 * time.Millisecond},
		OnDone: func(_ context.Context, _ string, _ reconcile.Task, p reconcile.Progress, err error) {
			if err != nil {
				t.Errorf("runner: %v", err)
			}
			done <- p
		},
	})
	r.Submit(ctxT(t), s.site, task)
	time.Sleep(700 * time.Millisecond)
	s.mep.Start()
	select {
	case p = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the runner did not finish")
	}
	if p.Outcome != reconcile.Completed || p.Attempts < 2 {
		t.Fatalf("outcome %s after %d FAILED_TEMP runs; want COMPLETED after at least 2", p.Outcome, p.Attempts)
	}
}

func TestVIMImageMissingIsFailed(t *testing.T) {
	s := newSite(t, "site-a")
	task := instantiateTask("img")
	task.Deploy.Image.Ref = "registry.invalid/web:1"
	p, err := reconcile.New(reconcile.NewMemoryJournal(), fastConfig()).Run(ctxT(t), s.site, task)
	if err != nil || p.Outcome != reconcile.Failed {
		t.Fatalf("outcome %s err %v; want FAILED", p.Outcome, err)
	}
	f := p.Failure
	if f.Step != reconcile.StepVIMRunning || f.Title != "image missing" || !errors.Is(f, vim.ErrImageMissing) || f.Temporary {
		t.Fatalf("failure %+v; want permanent image missing at %s", f, reconcile.StepVIMRunning)
	}
	in, _ := s.vim.Instance(task.AppInstanceID)
	if len(in.Status.Reasons) == 0 || !strings.Contains(f.Detail, in.Status.Reasons[0].Message) {
		t.Fatalf("detail %q; want the VIM's words %+v", f.Detail, in.Status.Reasons)
	}
	if pd := f.Problem(); pd.Status != http.StatusUnprocessableEntity {
		t.Fatalf("problem status %d; want 422", pd.Status)
	}
}

func TestVIMTransientIsRetried(t *testing.T) {
	s := newSite(t, "site-a")
	j := reconcile.NewMemoryJournal()
	task := instantiateTask("busy")
	s.vim.Inject(vimtest.Fault{Op: vimtest.OpDeploy, Err: vim.ErrConflict, Times: 2})
	done := make(chan reconcile.Progress, 1)
	r := reconcile.NewRunner(reconcile.New(j, fastConfig()), reconcile.RunnerConfig{
		Retry:  reconcile.RetryPolicy{MaxAttempts: 5, Initial: 50 * time.Millisecond},
		OnDone: func(_ context.Context, _ string, _ reconcile.Task, p reconcile.Progress, _ error) { done <- p },
	})
	r.Submit(ctxT(t), s.site, task)
	p := <-done
	if p.Outcome != reconcile.Completed || p.Attempts != 2 {
		t.Fatalf("outcome %s attempts %d; want COMPLETED after 2 FAILED_TEMP", p.Outcome, p.Attempts)
	}
	if c := s.vim.Count(vimtest.OpDeploy, task.AppInstanceID); c != 3 {
		t.Fatalf("%d deploys; want 3", c)
	}
	// The bound: a VIM that stays busy leaves the task FAILED_TEMP after MaxAttempts.
	task2 := instantiateTask("busy")
	s.vim.Inject(vimtest.Fault{Op: vimtest.OpDeploy, AppInstanceID: task2.AppInstanceID, Err: vim.ErrConflict})
	r2 := reconcile.NewRunner(reconcile.New(j, fastConfig()), reconcile.RunnerConfig{
		Retry:  reconcile.RetryPolicy{MaxAttempts: 3, Initial: 20 * time.Millisecond},
		OnDone: func(_ context.Context, _ string, _ reconcile.Task, p reconcile.Progress, _ error) { done <- p },
	})
	r2.Submit(ctxT(t), s.site, task2)
	p = <-done
	if p.Outcome != reconcile.FailedTemp || p.Attempts != 3 || p.Failure.Step != reconcile.StepVIMDeployed {
		t.Fatalf("outcome %s attempts %d failure %+v; want FAILED_TEMP after 3 at %s", p.Outcome, p.Attempts, p.Failure, reconcile.StepVIMDeployed)
	}
}

// countingVIM counts the Deploy calls in flight.
type countingVIM struct {
	vim.VIM
	now, peak atomic.Int32
}

func (c *countingVIM) Deploy(ctx context.Context, r vim.DeployRequest) error {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return c.VIM.Deploy(ctx, r)
}

func TestRunnerPerSiteLimitAndIsolation(t *testing.T) {
	a, b := newSite(t, "site-a"), newSite(t, "site-b")
	a.vim.Inject(vimtest.Fault{Op: vimtest.OpDeploy, Delay: 200 * time.Millisecond})
	cv := &countingVIM{VIM: a.vim}
	a.site.VIM = cv
	b.vim.SetUnavailable(true) // site b's VIM cannot be reached
	j := reconcile.NewMemoryJournal()
	var mu sync.Mutex
	ended := map[string]reconcile.Progress{}
	var wg sync.WaitGroup
	r := reconcile.NewRunner(reconcile.New(j, fastConfig()), reconcile.RunnerConfig{
		PerSite: 2,
		Retry:   reconcile.RetryPolicy{MaxAttempts: 1000, Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond},
		OnDone: func(_ context.Context, site string, task reconcile.Task, p reconcile.Progress, _ error) {
			mu.Lock()
			ended[task.ID] = p
			mu.Unlock()
			wg.Done()
		},
	})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var onA []reconcile.Task
	for range 6 {
		task := instantiateTask("pool")
		onA = append(onA, task)
		wg.Add(1)
		r.Submit(ctx, a.site, task)
	}
	for range 3 {
		wg.Add(1)
		r.Submit(ctx, b.site, instantiateTask("pool"))
	}
	// Site a finishes while site b keeps failing.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, task := range onA {
			if ended[task.ID].Outcome == reconcile.Completed {
				n++
			}
		}
		mu.Unlock()
		if n == len(onA) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tasks on site a completed; want all, whatever site b does", n, len(onA))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p := cv.peak.Load(); p != 2 {
		t.Fatalf("peak of %d deploys at once on site a; want the limit 2", p)
	}
	// Site b comes back: its tasks complete too.
	b.vim.SetUnavailable(false)
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(30 * time.Second):
		t.Fatal("site b's tasks did not end after it came back")
	}
	mu.Lock()
	defer mu.Unlock()
	for id, p := range ended {
		if p.Outcome != reconcile.Completed {
			t.Fatalf("task %s: %s %+v; want COMPLETED", id, p.Outcome, p.Failure)
		}
	}
}

// inventory is what the MEO believes is deployed.
type inventory struct {
	mu    sync.Mutex
	tasks []reconcile.Task
}

func (i *inventory) Deployed(context.Context, string) ([]reconcile.Task, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Clone(i.tasks), nil
}

func TestWatcherDrift(t *testing.T) {
	for _, policy := range []reconcile.DriftPolicy{reconcile.DriftReport, reconcile.DriftRecreate} {
		t.Run(string(policy), func(t *testing.T) {
			s := newSite(t, "site-a")
			j := reconcile.NewMemoryJournal()
			task := instantiate(t, s, j)
			before, _ := s.vim.Instance(task.AppInstanceID)
			inv := &inventory{tasks: []reconcile.Task{task}}
			obs := make(chan reconcile.Observation, 100)
			r := reconcile.NewRunner(reconcile.New(j, fastConfig()), reconcile.RunnerConfig{})
			w, err := reconcile.NewWatcher(reconcile.WatcherConfig{
				Site: s.site, Inventory: inv, Policy: policy, Runner: r, Resync: time.Hour,
				Observe: func(_ context.Context, o reconcile.Observation) { obs <- o },
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(ctxT(t))
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			defer func() { cancel(); <-done; r.Wait() }()
			next := func(what string, ok func(reconcile.Observation) bool) reconcile.Observation {
				t.Helper()
				for {
					select {
					case o := <-obs:
						if ok(o) {
							return o
						}
					case <-time.After(15 * time.Second):
						t.Fatalf("no observation: %s", what)
					}
				}
			}
			o := next("running", func(o reconcile.Observation) bool { return o.Phase == vim.PhaseRunning })
			if o.AppInstanceID != task.AppInstanceID || len(o.Endpoints) == 0 {
				t.Fatalf("observation %+v; want %s Running with endpoints", o, task.AppInstanceID)
			}
			// Deleted behind the MEO's back.
			s.vim.Vanish(task.AppInstanceID)
			o = next("drift", func(o reconcile.Observation) bool { return o.Deleted })
			if !o.Drift || o.Recreating != (policy == reconcile.DriftRecreate) {
				t.Fatalf("observation %+v; want drift, recreating %v", o, policy == reconcile.DriftRecreate)
			}
			if policy == reconcile.DriftReport {
				time.Sleep(300 * time.Millisecond)
				if _, ok := s.vim.Instance(task.AppInstanceID); ok {
					t.Fatal("the instance came back under DriftReport")
				}
				return
			}
			next("running again", func(o reconcile.Observation) bool { return o.Phase == vim.PhaseRunning })
			after, ok := s.vim.Instance(task.AppInstanceID)
			if !ok || after.Request.MEP != before.Request.MEP {
				t.Fatalf("re-created with mep access %+v; want the same as before", after.Request.MEP)
			}
			if n := len(s.mep.Instances(t)); n != 1 {
				t.Fatalf("mep holds %d instances; want 1", n)
			}
		})
	}
}

func TestWatcherUnreachableIsUnknown(t *testing.T) {
	s := newSite(t, "site-a")
	task := instantiate(t, s, reconcile.NewMemoryJournal())
	obs := make(chan reconcile.Observation, 10)
	w, err := reconcile.NewWatcher(reconcile.WatcherConfig{
		Site: s.site, Inventory: &inventory{tasks: []reconcile.Task{task}},
		Observe: func(_ context.Context, o reconcile.Observation) { obs <- o },
	})
	if err != nil {
		t.Fatal(err)
	}
	s.vim.SetUnavailable(true)
	w.Resync(t.Context())
	o := <-obs
	if o.Phase != reconcile.PhaseUnknown || o.Drift || o.Deleted {
		t.Fatalf("observation %+v; want Unknown, no drift", o)
	}
}
