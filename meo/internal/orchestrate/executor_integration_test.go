//go:build integration

package orchestrate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/orchestrate/orchestratetest"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is one MEO database (in-memory op occurrences and sites; the journal and the site
// leases in a real PostgreSQL) and the sites registered in it.
type env struct {
	t       *testing.T
	ops     *orchestratetest.Ops
	sites   *orchestratetest.Sites
	store   *pgstore.Store
	journal *pgstore.Journal
	leases  *pgstore.Leases
	site    map[string]*testSite
}

// testSite is a real MEP process, a fake VIM and the apps that confirm ready on the MEP.
type testSite struct {
	id   string
	mep  *meptest.Proc
	vim  *vimtest.Fake
	apps *meptest.Apps
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := pgstore.Open(t.Context(), pgtest.New(t), pgstore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	ops := orchestratetest.NewOps()
	return &env{t: t, ops: ops, sites: orchestratetest.NewSites(ops), store: st, journal: st.Journal(), leases: st.Leases(),
		site: map[string]*testSite{}}
}

// addSite registers a site with a real MEP and a fake VIM of the given nodes.
func (e *env) addSite(id string, nodes []vim.Node) *testSite {
	t := e.t
	t.Helper()
	m := meptest.Start(t, meptest.Options{})
	f := vimtest.New(vimtest.Config{Site: id, Nodes: nodes})
	apps := meptest.RunApps(t, f, func(iid string) (vim.DeployRequest, bool) {
		in, ok := f.Instance(iid)
		return in.Request, ok
	})
	e.sites.Add(placement.Site{ID: id, Name: id, Schedulable: true, MEPReachable: true},
		reconcile.Site{Name: id, MEP: m.Client(t), VIM: f})
	s := &testSite{id: id, mep: m, vim: f, apps: apps}
	e.site[id] = s
	return s
}

// config is a fast executor configuration for holder.
func (e *env) config(holder string) orchestrate.Config {
	return orchestrate.Config{
		Ops: e.ops, Sites: e.sites, Journal: e.journal, Leases: e.leases, Holder: holder,
		Lease: 1500 * time.Millisecond, PollInterval: 100 * time.Millisecond, SiteInterval: 300 * time.Millisecond,
		Resync: 500 * time.Millisecond,
		Reconcile: reconcile.Config{CallTimeout: 5 * time.Second, RunningTimeout: 20 * time.Second, ReadyTimeout: 20 * time.Second,
			StoppedTimeout: 10 * time.Second, MEPGoneMargin: 10 * time.Second, GoneTimeout: 10 * time.Second, PollInterval: 20 * time.Millisecond},
		Retry:      reconcile.RetryPolicy{MaxAttempts: 2, Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond},
		RetryDelay: func(int) time.Duration { return time.Hour },
	}
}

// running is an executor running until stop.
type running struct {
	x    *orchestrate.Executor
	reg  *prometheus.Registry
	stop context.CancelFunc
	done chan error
	once sync.Once
}

func (e *env) start(cfg orchestrate.Config) *running {
	t := e.t
	t.Helper()
	reg := prometheus.NewRegistry()
	x, err := orchestrate.New(cfg, reg, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{x: x, reg: reg, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- x.Run(ctx) }()
	t.Cleanup(r.wait)
	return r
}

// wait stops the executor and waits for Run to return.
func (r *running) wait() {
	r.once.Do(func() {
		r.stop()
		<-r.done
	})
}

// waitState waits for the op to reach one of states.
func (e *env) waitState(id string, d time.Duration, states ...orchestrate.State) orchestratetest.OpRecord {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		r, ok := e.ops.Get(id)
		require.True(e.t, ok, "op %s unknown", id)
		for _, s := range states {
			if r.State == s {
				return r
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("op %s in %s after %v (error %+v); want %v", id, r.State, d, r.Error, states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mepInstances lists the ids the site's MEP holds.
func (s *testSite) mepInstances(t *testing.T) []string {
	var ids []string
	for _, r := range s.mep.Instances(t) {
		ids = append(ids, r.AppInstanceId)
	}
	return ids
}

// The instantiation goes to the only site with room; the decision records the other
// site's reason; the app runs there and is READY on that site's MEP only.
func TestInstantiatePlaced(t *testing.T) {
	e := newEnv(t)
	small := e.addSite("site-a", node(1000))
	big := e.addSite("site-b", node(8000))
	r := e.start(e.config("meo-1"))
	op := instantiate("web", 2000)
	require.NoError(t, e.ops.Add(op))
	r.x.Kick()
	rec := e.waitState(op.ID, 30*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.Completed, rec.State, "error %+v", rec.Error)

	assert.Equal(t, "site-b", rec.SiteID)
	var d placement.Decision
	require.NoError(t, json.Unmarshal(rec.Decision, &d))
	require.NotNil(t, d.Chosen)
	assert.Equal(t, "site-b", d.Chosen.SiteID)
	require.Len(t, d.Rejected, 1)
	assert.Equal(t, "cpu: needs 2000m, 1000m free", d.Rejected[0].Reason)

	in, _ := e.ops.Instance(op.AppInstanceID)
	assert.True(t, in.Instantiated)
	assert.Equal(t, "site-b", in.SiteID)
	assert.Equal(t, int64(2000), in.Resources.MilliCPU, "committed resources")
	assert.Equal(t, []string{op.AppInstanceID}, big.vim.IDs())
	assert.Empty(t, small.vim.IDs())
	recs := big.mep.Instances(t)
	require.Len(t, recs, 1)
	assert.Equal(t, mm5api.READY, recs[0].State)
	assert.Empty(t, small.mepInstances(t))
	assert.Equal(t, 1, big.apps.Confirmations(op.AppInstanceID))

	assert.Equal(t, 1.0, metric(t, r.reg, "meo_orchestrate_ops_claimed_total"))
	assert.Equal(t, 2.0, metric(t, r.reg, "meo_orchestrate_sites_watched"), "sites watched")
	assert.Equal(t, map[string]uint64{"place": 1, "connect": 1, "MEP_PROVISIONED": 1, "VIM_DEPLOYED": 1, "VIM_RUNNING": 1,
		"MEP_READY": 1, "finish": 1}, phases(t, r.reg, "INSTANTIATE"), "one observation of each phase")
}

// phases returns the observations of meo_orchestrate_phase_duration_seconds of task kind,
// by phase.
func phases(t *testing.T, reg *prometheus.Registry, kind string) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "meo_orchestrate_phase_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["task"] == kind {
				out[labels["phase"]] += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return out
}

// No site fits: the op ends FAILED with every site's reason, and nothing is deployed.
func TestInstantiateNoFit(t *testing.T) {
	e := newEnv(t)
	a := e.addSite("site-a", node(1000))
	b := e.addSite("site-b", node(1200))
	e.start(e.config("meo-1"))
	op := instantiate("big", 2000)
	require.NoError(t, e.ops.Add(op))
	rec := e.waitState(op.ID, 30*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.Failed, rec.State)
	require.NotNil(t, rec.Error)
	assert.Equal(t, "no edge site fits", rec.Error.Title)
	assert.Equal(t, 422, rec.Error.Status)
	assert.Contains(t, rec.Error.Detail, "site-a: cpu: needs 2000m, 1000m free")
	assert.Contains(t, rec.Error.Detail, "site-b: cpu: needs 2000m, 1200m free")
	in, _ := e.ops.Instance(op.AppInstanceID)
	assert.False(t, in.Instantiated)
	assert.Empty(t, in.SiteID)
	assert.Zero(t, a.vim.Count(vimtest.OpDeploy, "")+b.vim.Count(vimtest.OpDeploy, ""), "the sites were asked to deploy")
}

// An instantiation that fails for good (the image is missing) ends FAILED with the VIM's
// words, and leaves nothing on the site: no workload, no MEP instance.
func TestInstantiateFailedCleansUp(t *testing.T) {
	e := newEnv(t)
	s := e.addSite("site-a", node(8000))
	e.start(e.config("meo-1"))
	op := instantiate("web", 100)
	op.Task.Deploy.Image.Ref = "registry.invalid/web:1"
	require.NoError(t, e.ops.Add(op))
	rec := e.waitState(op.ID, 30*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.Failed, rec.State)
	require.NotNil(t, rec.Error)
	assert.Equal(t, "image missing", rec.Error.Title)
	assert.Contains(t, rec.Error.Detail, "VIM_RUNNING")
	assert.Contains(t, rec.Error.Detail, "registry.invalid/web:1")
	assert.Equal(t, 1, s.vim.Count(vimtest.OpDeploy, op.AppInstanceID))
	assert.Empty(t, s.vim.IDs(), "workload left behind")
	assert.Empty(t, s.mepInstances(t), "mep instance left behind")
	in, _ := e.ops.Instance(op.AppInstanceID)
	assert.Empty(t, in.SiteID)
	p, err := e.journal.Load(t.Context(), op.ID+"-cleanup")
	require.NoError(t, err)
	assert.Equal(t, reconcile.Completed, p.Outcome)
}

// With the site's MEP down the op ends FAILED_TEMP with the MEP's failure after the
// runner's retries; the operator's retry, once the MEP is back, completes it.
func TestMEPDownThenRetry(t *testing.T) {
	e := newEnv(t)
	s := e.addSite("site-a", node(8000))
	s.mep.Stop()
	e.start(e.config("meo-1"))
	op := instantiate("web", 100)
	require.NoError(t, e.ops.Add(op))
	rec := e.waitState(op.ID, 30*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.FailedTemp, rec.State)
	require.NotNil(t, rec.Error)
	assert.Equal(t, "mep unreachable", rec.Error.Title)
	assert.Equal(t, 503, rec.Error.Status)
	assert.Contains(t, rec.Error.Detail, "MEP_PROVISIONED")
	assert.Equal(t, 1, rec.Attempts)
	assert.True(t, rec.NextAttempt.After(time.Now().Add(50*time.Minute)), "next attempt %v; want RetryDelay away", rec.NextAttempt)
	assert.Zero(t, s.vim.Count(vimtest.OpDeploy, ""), "deployed without the MEP's credentials")
	in, _ := e.ops.Instance(op.AppInstanceID)
	assert.Equal(t, "site-a", in.SiteID, "a FAILED_TEMP instantiation keeps its placement")

	s.mep.Start()
	require.NoError(t, e.ops.Retry(op.ID))
	rec = e.waitState(op.ID, 30*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.Completed, rec.State, "error %+v", rec.Error)
	assert.Equal(t, 1, rec.Placements, "placed again on retry")
	assert.Equal(t, []string{op.AppInstanceID}, s.mepInstances(t))
	assert.Equal(t, 1, s.vim.Count(vimtest.OpDeploy, op.AppInstanceID))
}

// Two executors (two MEO processes) on one set of op occurrences run each op once, and
// each site is followed by one of them.
func TestTwoExecutorsShareTheWork(t *testing.T) {
	e := newEnv(t)
	a := e.addSite("site-a", node(8000))
	b := e.addSite("site-b", node(8000))
	x1 := e.start(e.config("meo-1"))
	x2 := e.start(e.config("meo-2"))
	var ops []orchestrate.Op
	for range 16 {
		op := instantiate("web", 100)
		require.NoError(t, e.ops.Add(op))
		ops = append(ops, op)
	}
	x1.x.Kick()
	x2.x.Kick()
	for _, op := range ops {
		rec := e.waitState(op.ID, 60*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
		require.Equal(t, orchestrate.Completed, rec.State, "op %s: %+v", op.ID, rec.Error)
		assert.Equal(t, 1, rec.Claims, "op %s claimed", op.ID)
		assert.Equal(t, 1, rec.Placements, "op %s placed", op.ID)
		assert.Equal(t, 1, rec.Finishes, "op %s finished", op.ID)
		site := e.site[rec.SiteID]
		assert.Equal(t, 1, site.vim.Count(vimtest.OpDeploy, op.AppInstanceID), "op %s deployed", op.ID)
	}
	assert.Len(t, append(a.vim.IDs(), b.vim.IDs()...), len(ops))
	assert.ElementsMatch(t, a.vim.IDs(), a.mepInstances(t), "site-a: VIM and MEP differ")
	assert.ElementsMatch(t, b.vim.IDs(), b.mepInstances(t), "site-b: VIM and MEP differ")
	claimed := metric(t, x1.reg, "meo_orchestrate_ops_claimed_total") + metric(t, x2.reg, "meo_orchestrate_ops_claimed_total")
	assert.Equal(t, float64(len(ops)), claimed)
	assert.Equal(t, 2.0, metric(t, x1.reg, "meo_orchestrate_sites_watched")+metric(t, x2.reg, "meo_orchestrate_sites_watched"), "sites watched")
	holders, err := e.leases.Holders(t.Context())
	require.NoError(t, err)
	assert.Len(t, holders, 2)
}

// noRelease drops the releases of a process that dies without a clean stop (kill -9).
type noRelease struct{ orchestrate.Ops }

func (noRelease) Release(context.Context, string) error { return nil }

type noLeaseRelease struct{ orchestrate.Leases }

func (noLeaseRelease) Release(context.Context, string, []string) error { return nil }

// An executor killed in the middle of a task (right after a step is journaled) leaves the
// op claimed; once the claim lapses a second executor resumes it from the journal and
// finishes it once: one workload on the VIM and one instance on the MEP after an
// instantiation, none after a terminate, and no step's effect done twice.
func TestKilledMidTaskResumed(t *testing.T) {
	tests := []struct {
		terminate bool
		step      reconcile.Step
	}{
		{false, reconcile.StepMEPProvisioned},
		{false, reconcile.StepVIMDeployed},
		{false, reconcile.StepVIMRunning},
		{true, reconcile.StepMEPTerminating},
		{true, reconcile.StepMEPGone},
		{true, reconcile.StepVIMTerminating},
	}
	for _, tc := range tests {
		name := "instantiate killed after " + string(tc.step)
		if tc.terminate {
			name = "terminate killed after " + string(tc.step)
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			s := e.addSite("site-a", node(8000))
			op := instantiate("web", 100)
			if tc.terminate {
				x0 := e.start(e.config("meo-0"))
				op = e.instantiated(x0, 100)
				x0.wait()
				s.vim.ResetCalls()
				op = terminate(op)
			}
			cfg := e.config("meo-1")
			cfg.Ops, cfg.Leases = noRelease{e.ops}, noLeaseRelease{e.leases}
			var kill context.CancelFunc
			var killed atomic.Bool
			cfg.Reconcile.OnStep = func(_ context.Context, ev reconcile.StepEvent) {
				if ev.Step == tc.step && !killed.Swap(true) {
					kill()
				}
			}
			x1, err := orchestrate.New(cfg, nil, nil)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			kill = cancel
			done := make(chan error, 1)
			go func() { done <- x1.Run(ctx) }()

			require.NoError(t, e.ops.Add(op))
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("the first executor was not killed at %s", tc.step)
			}
			killedAt := time.Now()
			rec, _ := e.ops.Get(op.ID)
			require.Equal(t, orchestrate.Processing, rec.State)
			require.Equal(t, "meo-1", rec.ClaimedBy)
			p, err := e.journal.Load(t.Context(), op.ID)
			require.NoError(t, err)
			require.Equal(t, tc.step, p.Done)

			e.start(e.config("meo-2"))
			rec = e.waitState(op.ID, 30*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
			require.Equal(t, orchestrate.Completed, rec.State, "error %+v", rec.Error)
			took := time.Since(killedAt)
			t.Logf("taken over and completed %v after the kill (lease 1.5s)", took.Round(time.Millisecond))
			assert.Less(t, took, 10*time.Second)
			assert.Equal(t, 2, rec.Claims)
			assert.Equal(t, 1, rec.Finishes)
			assert.Equal(t, 1, rec.Placements)
			p, err = e.journal.Load(t.Context(), op.ID)
			require.NoError(t, err)
			assert.Equal(t, reconcile.Completed, p.Outcome)
			if tc.terminate {
				assert.Equal(t, 1, s.vim.Count(vimtest.OpTerminate, op.AppInstanceID), "VIM terminate calls")
				assert.Empty(t, s.vim.IDs())
				assert.Empty(t, s.mepInstances(t))
				in, _ := e.ops.Instance(op.AppInstanceID)
				assert.False(t, in.Instantiated)
				return
			}
			assert.Equal(t, 1, s.vim.Count(vimtest.OpDeploy, op.AppInstanceID), "VIM deploy calls")
			assert.Equal(t, []string{op.AppInstanceID}, s.vim.IDs())
			assert.Equal(t, []string{op.AppInstanceID}, s.mepInstances(t))
			assert.Equal(t, 1, s.apps.Confirmations(op.AppInstanceID))
		})
	}
}

// instantiated runs an instantiation to COMPLETED.
func (e *env) instantiated(r *running, milliCPU int64) orchestrate.Op {
	e.t.Helper()
	op := instantiate("web", milliCPU)
	require.NoError(e.t, e.ops.Add(op))
	r.x.Kick()
	rec := e.waitState(op.ID, 30*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(e.t, orchestrate.Completed, rec.State, "error %+v", rec.Error)
	return op
}

// A terminate goes through the MEP's termination flow and removes the workload; the
// instance is NOT_INSTANTIATED again and no longer commits resources.
func TestTerminate(t *testing.T) {
	e := newEnv(t)
	s := e.addSite("site-a", node(8000))
	r := e.start(e.config("meo-1"))
	op := e.instantiated(r, 500)
	term := terminate(op)
	require.NoError(t, e.ops.Add(term))
	r.x.Kick()
	rec := e.waitState(term.ID, 30*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.Completed, rec.State, "error %+v", rec.Error)
	assert.Empty(t, s.vim.IDs())
	assert.Empty(t, s.mepInstances(t))
	in, _ := e.ops.Instance(op.AppInstanceID)
	assert.False(t, in.Instantiated)
	assert.Empty(t, in.SiteID)
	assert.Zero(t, in.Resources)
	// The watcher took the removal for what it was, not for drift.
	for _, o := range in.Observed {
		assert.False(t, o.Drift, "drift reported for a terminated instance: %+v", o)
	}
}

// A workload deleted behind the MEO's back is reported as drift (the default policy), and
// an unreachable site's instances as Unknown, not failed.
func TestObserved(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(s *testSite, id string)
		want   func(o reconcile.Observation) bool
		onVIM  int
	}{
		{"drift reported", func(s *testSite, id string) { s.vim.Vanish(id) },
			func(o reconcile.Observation) bool { return o.Drift && o.Deleted && !o.Recreating }, 0},
		{"unreachable site unknown", func(s *testSite, _ string) { s.vim.SetUnavailable(true) },
			func(o reconcile.Observation) bool { return o.Phase == reconcile.PhaseUnknown && !o.Drift }, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.addSite("site-a", node(8000))
			r := e.start(e.config("meo-1"))
			op := e.instantiated(r, 100)
			// The watcher saw it running first.
			require.Eventually(t, func() bool {
				in, _ := e.ops.Instance(op.AppInstanceID)
				return len(in.Observed) > 0 && in.Observed[len(in.Observed)-1].Phase == vim.PhaseRunning
			}, 10*time.Second, 20*time.Millisecond)
			tc.break_(s, op.AppInstanceID)
			require.Eventually(t, func() bool {
				in, _ := e.ops.Instance(op.AppInstanceID)
				return len(in.Observed) > 0 && tc.want(in.Observed[len(in.Observed)-1])
			}, 10*time.Second, 20*time.Millisecond)
			in, _ := e.ops.Instance(op.AppInstanceID)
			assert.True(t, in.Instantiated, "the instance stays instantiated")
			assert.Len(t, s.vim.IDs(), tc.onVIM, "re-created or removed under the REPORT policy")
		})
	}
}

// The RECREATE policy deploys a vanished workload again.
func TestDriftRecreate(t *testing.T) {
	e := newEnv(t)
	s := e.addSite("site-a", node(8000))
	cfg := e.config("meo-1")
	cfg.Drift = reconcile.DriftRecreate
	r := e.start(cfg)
	op := e.instantiated(r, 100)
	require.True(t, s.vim.Vanish(op.AppInstanceID))
	require.Eventually(t, func() bool {
		in, ok := s.vim.Instance(op.AppInstanceID)
		return ok && in.Status.Phase == vim.PhaseRunning
	}, 15*time.Second, 20*time.Millisecond)
	in, _ := e.ops.Instance(op.AppInstanceID)
	assert.True(t, slicesAny(in.Observed, func(o reconcile.Observation) bool { return o.Drift && o.Recreating }))
	assert.Equal(t, []string{op.AppInstanceID}, s.mepInstances(t))
}

func slicesAny[T any](s []T, f func(T) bool) bool {
	for _, v := range s {
		if f(v) {
			return true
		}
	}
	return false
}

// A cancel of a PROCESSING op stops its run at the step it is in and ends it FAILED_TEMP
// "cancelled"; a retry resumes it to COMPLETED.
func TestCancel(t *testing.T) {
	e := newEnv(t)
	s := e.addSite("site-a", node(8000))
	remove := s.vim.Inject(vimtest.Fault{Op: vimtest.OpDeploy, Delay: time.Minute})
	r := e.start(e.config("meo-1"))
	op := instantiate("web", 100)
	require.NoError(t, e.ops.Add(op))
	r.x.Kick()
	require.Eventually(t, func() bool {
		rec, _ := e.ops.Get(op.ID)
		return rec.State == orchestrate.Processing
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, e.ops.Cancel(op.ID, "GRACEFUL"))
	t0 := time.Now()
	rec := e.waitState(op.ID, 10*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.FailedTemp, rec.State)
	require.NotNil(t, rec.Error)
	assert.Equal(t, "cancelled", rec.Error.Title)
	assert.Contains(t, rec.Error.Detail, "cancelled on request")
	assert.True(t, rec.NextAttempt.IsZero(), "a cancelled op is due again at %v; want only on a client's retry", rec.NextAttempt)
	assert.Less(t, time.Since(t0), 5*time.Second)
	assert.Empty(t, s.vim.IDs())

	remove()
	require.NoError(t, e.ops.Retry(op.ID))
	r.x.Kick()
	rec = e.waitState(op.ID, 30*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.Completed, rec.State, "error %+v", rec.Error)
	assert.Equal(t, []string{op.AppInstanceID}, s.vim.IDs())
}

// Operate stops and starts the workload; the instance's operational state follows.
func TestOperate(t *testing.T) {
	e := newEnv(t)
	s := e.addSite("site-a", node(8000))
	r := e.start(e.config("meo-1"))
	op := e.instantiated(r, 100)
	for i, kind := range []reconcile.Kind{reconcile.KindStop, reconcile.KindStart} {
		o := orchestrate.Op{ID: fmt.Sprintf("%s-op%d", op.ID, i), Operation: orchestrate.OpOperate, AppInstanceID: op.AppInstanceID,
			Task: reconcile.Task{Kind: kind, AppInstanceID: op.AppInstanceID, StopType: reconcile.StopForceful}}
		require.NoError(t, e.ops.Add(o))
		r.x.Kick()
		rec := e.waitState(o.ID, 30*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
		require.Equal(t, orchestrate.Completed, rec.State, "%s: error %+v", kind, rec.Error)
		in, _ := e.ops.Instance(op.AppInstanceID)
		vi, _ := s.vim.Instance(op.AppInstanceID)
		want, phase := "STOPPED", vim.PhaseStopped
		if kind == reconcile.KindStart {
			want, phase = "STARTED", vim.PhaseRunning
		}
		assert.Equal(t, want, in.Operational)
		assert.Equal(t, phase, vi.Status.Phase)
	}
}

// Many ops at once across sites: every one completes, within the concurrency bound.
func TestConcurrencyBound(t *testing.T) {
	e := newEnv(t)
	e.addSite("site-a", node(16000))
	cfg := e.config("meo-1")
	cfg.Concurrency = 3
	r := e.start(cfg)
	var max atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if v := int64(metric(t, r.reg, "meo_orchestrate_ops_running")); v > max.Load() {
				max.Store(v)
			}
		}
	}()
	var ops []orchestrate.Op
	for range 9 {
		op := instantiate("web", 100)
		require.NoError(t, e.ops.Add(op))
		ops = append(ops, op)
	}
	r.x.Kick()
	for _, op := range ops {
		rec := e.waitState(op.ID, 60*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
		require.Equal(t, orchestrate.Completed, rec.State, "error %+v", rec.Error)
	}
	close(stop)
	wg.Wait()
	assert.LessOrEqual(t, max.Load(), int64(3))
	assert.Positive(t, max.Load())
	assert.Equal(t, 9.0, metric(t, r.reg, "meo_orchestrate_ops_finished_total"))
}

// metric sums the values of every series of a counter or gauge.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// fullOps refuses the first refusals Placed calls with a decision with ErrNoCapacity, as
// the LCM does when another process committed the chosen site's capacity first.
type fullOps struct {
	orchestrate.Ops
	refusals int
	calls    atomic.Int64
}

func (f *fullOps) Placed(ctx context.Context, opID, siteID string, decision json.RawMessage, committed vim.Resources) error {
	if decision != nil && f.calls.Add(1) <= int64(f.refusals) {
		return fmt.Errorf("place %s: %w", opID, orchestrate.ErrNoCapacity)
	}
	return f.Ops.Placed(ctx, opID, siteID, decision, committed)
}

// A placement refused for want of capacity is made again on the sites as they are now, a
// bounded number of times; then the op ends FAILED_TEMP, to be retried later.
func TestPlacementRetriedOnNoCapacity(t *testing.T) {
	tests := []struct {
		name     string
		refusals int
		want     orchestrate.State
		calls    int64
	}{
		{"placed again", 2, orchestrate.Completed, 3},
		{"contended", 1000, orchestrate.FailedTemp, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.addSite("a-site", node(4000))
			ops := &fullOps{Ops: e.ops, refusals: tc.refusals}
			cfg := e.config("meo-1")
			cfg.Ops = ops
			e.start(cfg)
			op := instantiate("web", 500)
			require.NoError(t, e.ops.Add(op))
			rec := e.waitState(op.ID, time.Minute, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
			assert.Equal(t, tc.want, rec.State, "error %+v", rec.Error)
			assert.Equal(t, tc.calls, ops.calls.Load(), "placements tried")
			if tc.want == orchestrate.FailedTemp {
				require.NotNil(t, rec.Error)
				assert.Equal(t, "placement contended", rec.Error.Title)
				assert.Zero(t, s.vim.Count(vimtest.OpDeploy, ""))
			} else {
				assert.Equal(t, "a-site", rec.SiteID)
			}
		})
	}
}
