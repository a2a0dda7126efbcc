package orchestrate_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/orchestrate/orchestratetest"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

func TestConfigValidate(t *testing.T) {
	full := func() orchestrate.Config {
		ops := orchestratetest.NewOps()
		return orchestrate.Config{Ops: ops, Sites: orchestratetest.NewSites(ops), Journal: reconcile.NewMemoryJournal(),
			Leases: orchestratetest.NewLeases()}
	}
	tests := []struct {
		name   string
		change func(c *orchestrate.Config)
		want   []string
	}{
		{"complete", func(*orchestrate.Config) {}, nil},
		{"nothing", func(c *orchestrate.Config) { *c = orchestrate.Config{} }, []string{"no ops", "no sites", "no journal", "no site leases"}},
		{"negative lease", func(c *orchestrate.Config) { c.Lease = -time.Second }, []string{"negative interval"}},
		{"negative concurrency", func(c *orchestrate.Config) { c.Concurrency = -1 }, []string{"negative concurrency"}},
		{"unknown drift policy", func(c *orchestrate.Config) { c.Drift = "IGNORE" }, []string{`unknown drift policy "IGNORE"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := full()
			tc.change(&c)
			err := c.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// unitEnv runs an executor on in-memory op occurrences, journal and leases over fake VIMs;
// the cases here never reach a MEP.
type unitEnv struct {
	ops   *orchestratetest.Ops
	sites *orchestratetest.Sites
	vims  map[string]*vimtest.Fake
}

func newUnitEnv(cpu ...int64) *unitEnv {
	ops := orchestratetest.NewOps()
	u := &unitEnv{ops: ops, sites: orchestratetest.NewSites(ops), vims: map[string]*vimtest.Fake{}}
	for i, c := range cpu {
		id := string(rune('a'+i)) + "-site"
		f := vimtest.New(vimtest.Config{Site: id, Nodes: node(c)})
		u.vims[id] = f
		u.sites.Add(placement.Site{ID: id, Schedulable: true, MEPReachable: true}, reconcile.Site{Name: id, MEP: stoppingMEP{}, VIM: f})
	}
	return u
}

func (u *unitEnv) config(holder string) orchestrate.Config {
	return orchestrate.Config{Ops: u.ops, Sites: u.sites, Journal: reconcile.NewMemoryJournal(), Leases: orchestratetest.NewLeases(),
		Holder: holder, Lease: 600 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		Reconcile:  reconcile.Config{PollInterval: 10 * time.Millisecond, StoppedTimeout: 20 * time.Second},
		Retry:      reconcile.RetryPolicy{MaxAttempts: 1},
		RetryDelay: func(int) time.Duration { return time.Hour }}
}

func (u *unitEnv) run(t *testing.T, cfg orchestrate.Config) *orchestrate.Executor {
	t.Helper()
	x, err := orchestrate.New(cfg, nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = x.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return x
}

func (u *unitEnv) wait(t *testing.T, id string, states ...orchestrate.State) orchestratetest.OpRecord {
	t.Helper()
	var rec orchestratetest.OpRecord
	require.Eventually(t, func() bool {
		rec, _ = u.ops.Get(id)
		for _, s := range states {
			if rec.State == s {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "op %s never reached %v", id, states)
	return rec
}

// No site fits: FAILED_TEMP, due again after RetryDelay, when only unreachable sites stood in
// the way (they may answer again); FAILED as soon as one site is rejected for another reason.
func TestNoFitUnhealthy(t *testing.T) {
	tests := []struct {
		name  string
		cpu   []int64
		want  orchestrate.State
		lines []string
	}{
		{"every site unreachable", []int64{4000, 4000}, orchestrate.FailedTemp,
			[]string{"a-site: unhealthy: MEP unreachable", "b-site: unhealthy: MEP unreachable"}},
		{"one unreachable, one too small", []int64{4000, 1000}, orchestrate.Failed,
			[]string{"a-site: unhealthy: MEP unreachable", "b-site: cpu: needs 2000m, 1000m free"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnitEnv()
			for i, c := range tc.cpu {
				id := string(rune('a'+i)) + "-site"
				f := vimtest.New(vimtest.Config{Site: id, Nodes: node(c)})
				// The first site's MEP is down; the second's too unless it is too small.
				reachable := i == 1 && tc.want == orchestrate.Failed
				u.sites.Add(placement.Site{ID: id, Schedulable: true, MEPReachable: reachable}, reconcile.Site{Name: id, VIM: f})
			}
			cfg := u.config("meo-1")
			cfg.RetryDelay = func(n int) time.Duration { return time.Duration(n) * time.Hour }
			u.run(t, cfg)
			op := instantiate("web", 2000)
			require.NoError(t, u.ops.Add(op))
			rec := u.wait(t, op.ID, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
			require.Equal(t, tc.want, rec.State, "error %+v", rec.Error)
			require.NotNil(t, rec.Error)
			assert.Equal(t, "no edge site fits", rec.Error.Title)
			for _, l := range tc.lines {
				assert.Contains(t, rec.Error.Detail, l)
			}
			if tc.want == orchestrate.FailedTemp {
				assert.Equal(t, 503, rec.Error.Status)
				assert.WithinDuration(t, time.Now().Add(time.Hour), rec.NextAttempt, time.Minute, "due again after RetryDelay(1)")
			} else {
				assert.Equal(t, 422, rec.Error.Status)
			}
		})
	}
}

// Placement failures end the op FAILED with the reason of every site, before anything
// reaches a site.
func TestPlacementFailures(t *testing.T) {
	tests := []struct {
		name   string
		change func(op *orchestrate.Op)
		title  string
		detail []string
	}{
		{"no room", func(op *orchestrate.Op) {}, "no edge site fits",
			[]string{"no edge site fits: 2 sites rejected", "a-site: cpu: needs 2000m, 1000m free", "b-site: cpu: needs 2000m, 1500m free"}},
		{"pinned to an unknown site", func(op *orchestrate.Op) { op.Placement.Pinned = []string{"z-site"} }, "no edge site fits",
			[]string{"no edge site fits: no pinned site in the inventory", "z-site: pinned in selectedMECHostInfo but not in the inventory"}},
		{"invalid request", func(op *orchestrate.Op) { op.Placement.Workload = "unikernel" }, "invalid placement request",
			[]string{`workload "unikernel"`}},
		{"invalid task", func(op *orchestrate.Op) { op.Task.AppInstanceID = "Not_A_Label" }, "invalid task", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnitEnv(1000, 1500)
			u.run(t, u.config("meo-1"))
			op := instantiate("web", 2000)
			tc.change(&op)
			require.NoError(t, u.ops.Add(op))
			rec := u.wait(t, op.ID, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
			require.Equal(t, orchestrate.Failed, rec.State)
			require.NotNil(t, rec.Error)
			assert.Equal(t, tc.title, rec.Error.Title)
			assert.Equal(t, 422, rec.Error.Status)
			for _, d := range tc.detail {
				assert.Contains(t, rec.Error.Detail, d)
			}
			assert.Zero(t, rec.Placements)
			for id, f := range u.vims {
				assert.Zero(t, f.Count(vimtest.OpDeploy, ""), "deploy on %s", id)
			}
		})
	}
}

// flakyOps fails Renew while down is set.
type flakyOps struct {
	orchestrate.Ops
	down atomic.Bool
}

func (f *flakyOps) Renew(ctx context.Context, holder string, lease time.Duration) ([]string, []string, error) {
	if f.down.Load() {
		return nil, nil, errors.New("database unreachable")
	}
	return f.Ops.Renew(ctx, holder, lease)
}

// A process that cannot renew its claims for a whole lease stops its runs (another process
// may be taking them over) and goes on under a new holder name; its old claims lapse, and
// it claims and finishes the op again, once.
func TestFence(t *testing.T) {
	u := newUnitEnv(8000)
	f := u.vims["a-site"]
	id := "web-1"
	req := vim.DeployRequest{AppInstanceID: id, AppDID: "appd-web-1", AppName: "web", AppProvider: "edgemec",
		Compute: vim.VirtualCompute{VirtualCPUs: 0.1, MemoryMiB: 64}, Image: vim.SwImage{Ref: "registry.test/web:1"}}
	require.NoError(t, f.Deploy(t.Context(), req))
	u.ops.PutInstance(orchestratetest.Instance{ID: id, AppDID: "appd-web-1", Instantiated: true, Operational: "STARTED", SiteID: "a-site",
		Task: reconcile.Task{ID: "op-0", Kind: reconcile.KindInstantiate, AppInstanceID: id, Deploy: req}})
	remove := f.Inject(vimtest.Fault{Op: vimtest.OpStop, Delay: time.Minute})

	ops := &flakyOps{Ops: u.ops}
	cfg := u.config("meo-1")
	cfg.Ops = ops
	x := u.run(t, cfg)
	op := orchestrate.Op{ID: "op-stop", Operation: orchestrate.OpOperate, AppInstanceID: id,
		Task: reconcile.Task{Kind: reconcile.KindStop, AppInstanceID: id, StopType: reconcile.StopForceful}}
	require.NoError(t, u.ops.Add(op))
	rec := u.wait(t, op.ID, orchestrate.Processing)
	require.Equal(t, "meo-1", rec.ClaimedBy)

	ops.down.Store(true)
	require.Eventually(t, func() bool { return x.Holder() == "meo-1.1" }, 5*time.Second, 10*time.Millisecond, "not fenced")
	rec, _ = u.ops.Get(op.ID)
	assert.Equal(t, orchestrate.Processing, rec.State, "finished by a fenced run")
	assert.Zero(t, rec.Finishes)

	remove()
	ops.down.Store(false)
	rec = u.wait(t, op.ID, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.Completed, rec.State, "error %+v", rec.Error)
	assert.Equal(t, 2, rec.Claims)
	assert.Equal(t, 1, rec.Finishes)
	in, _ := u.ops.Instance(id)
	assert.Equal(t, "STOPPED", in.Operational)
}

// slowOps blocks Renew while slow is set, as a database that stalls does.
type slowOps struct {
	orchestrate.Ops
	slow atomic.Bool
}

func (s *slowOps) Renew(ctx context.Context, holder string, lease time.Duration) ([]string, []string, error) {
	for s.slow.Load() {
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return s.Ops.Renew(ctx, holder, lease)
}

// stuckStop is a unit env whose one instance's stop hangs in the VIM for a minute, and the
// OPERATE op occurrence that stops it, claimed by meo-1 and running.
func stuckStop(t *testing.T, wrap func(orchestrate.Ops) orchestrate.Ops) (*unitEnv, *orchestrate.Executor, *prometheus.Registry, string) {
	t.Helper()
	u := newUnitEnv(8000)
	f := u.vims["a-site"]
	id := "web-1"
	req := vim.DeployRequest{AppInstanceID: id, AppDID: "appd-web-1", AppName: "web", AppProvider: "edgemec",
		Compute: vim.VirtualCompute{VirtualCPUs: 0.1, MemoryMiB: 64}, Image: vim.SwImage{Ref: "registry.test/web:1"}}
	require.NoError(t, f.Deploy(t.Context(), req))
	u.ops.PutInstance(orchestratetest.Instance{ID: id, AppDID: "appd-web-1", Instantiated: true, Operational: "STARTED", SiteID: "a-site",
		Task: reconcile.Task{ID: "op-0", Kind: reconcile.KindInstantiate, AppInstanceID: id, Deploy: req}})
	t.Cleanup(f.Inject(vimtest.Fault{Op: vimtest.OpStop, Delay: time.Minute}))
	cfg := u.config("meo-1")
	if wrap != nil {
		cfg.Ops = wrap(u.ops)
	}
	reg := prometheus.NewRegistry()
	x, err := orchestrate.New(cfg, reg, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = x.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	op := orchestrate.Op{ID: "op-stop", Operation: orchestrate.OpOperate, AppInstanceID: id,
		Task: reconcile.Task{Kind: reconcile.KindStop, AppInstanceID: id, StopType: reconcile.StopForceful}}
	require.NoError(t, u.ops.Add(op))
	rec := u.wait(t, op.ID, orchestrate.Processing)
	require.Equal(t, "meo-1", rec.ClaimedBy)
	require.Eventually(t, func() bool { return gauge(t, reg, "meo_orchestrate_ops_running") == 1 }, 5*time.Second, 10*time.Millisecond)
	return u, x, reg, op.ID
}

// gauge reads a metric of reg without labels (0 when absent).
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.Metric) == 0 {
			continue
		}
		m := mf.Metric[0]
		if m.Gauge != nil {
			return m.Gauge.GetValue()
		}
		return m.Counter.GetValue()
	}
	return 0
}

// A run whose claim went to another process (its lease lapsed while this process stalled,
// and the other one claimed the op) stops at the next renewal instead of going on beside
// the new owner's run: a zombie run of a TERMINATE would otherwise delete the workload an
// INSTANTIATE after it had just deployed.
func TestLostClaimStopsRun(t *testing.T) {
	u, x, reg, id := stuckStop(t, nil)
	require.NoError(t, u.ops.TakeOver(id, "meo-2", time.Minute))
	require.Eventually(t, func() bool { return gauge(t, reg, "meo_orchestrate_ops_running") == 0 }, 3*time.Second, 10*time.Millisecond,
		"the run of an op claimed by another process goes on")
	assert.Equal(t, 1.0, gauge(t, reg, "meo_orchestrate_claims_lost_total"))
	assert.Equal(t, "meo-1", x.Holder(), "one lost claim does not fence the other runs")
	rec, _ := u.ops.Get(id)
	assert.Equal(t, "meo-2", rec.ClaimedBy)
	assert.Equal(t, orchestrate.Processing, rec.State)
	assert.Zero(t, rec.Finishes)
}

// A process whose renewals hang (the database stalls) stops its runs before its lease can
// lapse, without waiting for the renewal to fail.
func TestStalledRenewFences(t *testing.T) {
	ops := &slowOps{}
	_, x, reg, _ := stuckStop(t, func(o orchestrate.Ops) orchestrate.Ops { ops.Ops = o; return ops })
	ops.slow.Store(true)
	t0 := time.Now()
	require.Eventually(t, func() bool { return x.Holder() == "meo-1.1" }, 3*time.Second, 5*time.Millisecond, "not fenced")
	// The lease is 600 ms: the fence comes before it lapses (4/5 of it after the last
	// renewal started, which was at most 1/3 of it ago).
	assert.Less(t, time.Since(t0), 600*time.Millisecond)
	require.Eventually(t, func() bool { return gauge(t, reg, "meo_orchestrate_ops_running") == 0 }, 3*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1.0, gauge(t, reg, "meo_orchestrate_fences_total"))
}
