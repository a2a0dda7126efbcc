package vimtest_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

func request(id string) vim.DeployRequest {
	return vim.DeployRequest{
		AppInstanceID: id, AppDID: "appd-1", AppName: "mec-app",
		Image:     vim.SwImage{Ref: "local/mec-app:dev"},
		Compute:   vim.VirtualCompute{VirtualCPUs: 0.5, MemoryMiB: 256},
		Artifacts: vim.Artifacts{Ports: []vim.Port{{Name: "http", Port: 8080}}},
	}
}

// TestContract runs the contract suite against the Fake: with defaults, with the delays of
// a real site, and with libvirt's behaviour.
func TestContract(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  vimtest.Config
	}{
		{"defaults", vimtest.Config{}},
		{"delays", vimtest.Config{StartDelay: 50 * time.Millisecond, TerminateDelay: 50 * time.Millisecond}},
		{"libvirt", vimtest.Config{Kind: vim.KindLibvirt, CheckImageOnDeploy: true,
			Nodes: []vim.Node{{Name: "host", Kind: vim.NodeHost, Arch: "amd64", Ready: true, Schedulable: true, Allocatable: vim.Resources{MilliCPU: 16000, MemoryBytes: 3 << 30}}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			shared := vimtest.New(tt.cfg) // one site for every case, as on the test bed
			vimtest.Run(t, func(*testing.T) vim.VIM { return shared }, vimtest.Options{
				Request:      request,
				Kind:         shared.Kind(),
				Timeout:      10 * time.Second,
				MissingImage: func(r *vim.DeployRequest) { r.Image.Ref = "registry.invalid/nope:1" },
				Foreign: func(t *testing.T, _ vim.VIM, id string) func() error {
					shared.AddForeign(id)
					return func() error {
						if !shared.IsForeign(id) {
							return errors.New("foreign object gone")
						}
						if _, ok := shared.Instance(id); ok {
							return errors.New("an instance was made over it")
						}
						return nil
					}
				},
			})
		})
	}
}

func TestPhases(t *testing.T) {
	t.Parallel()
	f := vimtest.New(vimtest.Config{StartDelay: 100 * time.Millisecond, TerminateDelay: 100 * time.Millisecond})
	ctx := t.Context()
	require.NoError(t, f.Deploy(ctx, request("a")))
	st, err := f.Status(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, vim.PhasePending, st.Phase, "right after deploy")
	assert.Equal(t, vimtest.ReasonCreating, st.Reasons[0].Code)
	assert.NoError(t, st.Err(), "a pending instance on its way is not blocked")

	st, err = vim.WaitRunning(ctx, f, "a")
	require.NoError(t, err)
	assert.Equal(t, 1, st.Ready)
	assert.Equal(t, []string{"fake-cloud-0"}, st.Nodes)
	assert.Equal(t, []vim.Endpoint{{Name: "http", Kind: "Pod", Address: st.Endpoints[0].Address, Port: 8080, Protocol: "TCP"}}, st.Endpoints)

	require.NoError(t, f.Stop(ctx, "a"))
	st, _ = f.Status(ctx, "a")
	assert.Equal(t, vim.PhaseStopped, st.Phase)
	assert.Equal(t, 0, st.Desired)
	assert.Empty(t, st.Endpoints)

	require.NoError(t, f.Start(ctx, "a"))
	st, _ = f.Status(ctx, "a")
	assert.Equal(t, vim.PhasePending, st.Phase, "a started instance goes through Pending")

	require.NoError(t, f.Terminate(ctx, "a"))
	st, err = f.Status(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, vim.PhaseTerminating, st.Phase)
	for _, op := range []func(context.Context, string) error{f.Stop, f.Start} {
		assert.ErrorIs(t, op(ctx, "a"), vim.ErrNotFound, "stop/start of a terminating instance")
	}
	assert.ErrorIs(t, f.Deploy(ctx, request("a")), vim.ErrConflict, "deploy of a terminating instance")
	require.Eventually(t, func() bool {
		_, err := f.Status(ctx, "a")
		return errors.Is(err, vim.ErrNotFound)
	}, 5*time.Second, 10*time.Millisecond)
	assert.Empty(t, f.IDs())
}

func TestDeployUpdates(t *testing.T) {
	t.Parallel()
	f := vimtest.New(vimtest.Config{})
	ctx := t.Context()
	req := request("u")
	require.NoError(t, f.Deploy(ctx, req))
	require.NoError(t, f.Deploy(ctx, req))
	in, _ := f.Instance("u")
	assert.Equal(t, int64(1), in.Generation, "an identical deploy changes nothing")

	req.Params = map[string]string{"k": "v"}
	require.NoError(t, f.Deploy(ctx, req))
	in, _ = f.Instance("u")
	assert.Equal(t, int64(2), in.Generation)
	assert.Equal(t, "v", in.Request.Params["k"])
	req.Params["k"] = "changed by the caller"
	in, _ = f.Instance("u")
	assert.Equal(t, "v", in.Request.Params["k"], "the fake keeps a copy of the request")

	require.NoError(t, f.Stop(ctx, "u"))
	req.Image.Ref = "local/mec-app:v2"
	require.NoError(t, f.Deploy(ctx, req))
	in, _ = f.Instance("u")
	assert.Equal(t, vim.PhaseStopped, in.Status.Phase, "a deploy keeps a stopped instance stopped")
	assert.Equal(t, "local/mec-app:v2", in.Request.Image.Ref)
}

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    vimtest.Config
		mut    func(*vim.DeployRequest)
		deploy error // from Deploy
		status error // from Status.Err once settled
		phase  vim.Phase
	}{
		{name: "invalid id", mut: func(r *vim.DeployRequest) { r.AppInstanceID = "Not_A_Label" }, deploy: vim.ErrInvalid},
		{name: "no image", mut: func(r *vim.DeployRequest) { r.Image.Ref = "" }, deploy: vim.ErrInvalid},
		{name: "image missing in status", mut: func(r *vim.DeployRequest) { r.Image.Ref = "registry.invalid/x:1" },
			status: vim.ErrImageMissing, phase: vim.PhaseFailed},
		{name: "image missing on deploy", cfg: vimtest.Config{CheckImageOnDeploy: true},
			mut: func(r *vim.DeployRequest) { r.Image.Ref = "registry.invalid/x:1" }, deploy: vim.ErrImageMissing},
		{name: "custom image check", cfg: vimtest.Config{ImageMissing: func(ref string) bool { return ref == "gone" }},
			mut: func(r *vim.DeployRequest) { r.Image.Ref = "gone" }, status: vim.ErrImageMissing, phase: vim.PhaseFailed},
		{name: "too big", mut: func(r *vim.DeployRequest) { r.Compute.VirtualCPUs = 64 },
			status: vim.ErrUnschedulable, phase: vim.PhasePending},
		{name: "no such architecture", mut: func(r *vim.DeployRequest) { r.Compute.CPUArchitecture = "riscv64" },
			status: vim.ErrUnschedulable, phase: vim.PhasePending},
		{name: "no such node group", mut: func(r *vim.DeployRequest) {
			r.Placement = vim.Placement{NodeKind: vim.NodeEdge, NodeGroup: "elsewhere"}
		}, status: vim.ErrUnschedulable, phase: vim.PhasePending},
		{name: "quota", cfg: vimtest.Config{Quota: vim.Resources{MilliCPU: 100}},
			status: vim.ErrQuota, phase: vim.PhasePending},
		{name: "edge placement", mut: func(r *vim.DeployRequest) {
			r.Placement = vim.Placement{NodeKind: vim.NodeEdge, NodeGroup: "edge-group-a"}
			r.Compute.CPUArchitecture = "aarch64"
		}, phase: vim.PhaseRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := vimtest.New(tt.cfg)
			req := request("e")
			if tt.mut != nil {
				tt.mut(&req)
			}
			err := f.Deploy(t.Context(), req)
			if tt.deploy != nil {
				require.ErrorIs(t, err, tt.deploy)
				var ve *vim.Error
				require.ErrorAs(t, err, &ve)
				assert.Equal(t, vimtest.OpDeploy, ve.Op)
				assert.Empty(t, f.IDs(), "a refused deploy creates nothing")
				return
			}
			require.NoError(t, err)
			st, err := f.Status(t.Context(), "e")
			require.NoError(t, err)
			assert.Equal(t, tt.phase, st.Phase)
			if tt.status == nil {
				assert.NoError(t, st.Err())
				return
			}
			assert.ErrorIs(t, st.Err(), tt.status)
			assert.NotEmpty(t, st.Reasons[0].Message, "the reason carries the VIM's words")
		})
	}
}

func TestRescheduleWhenRoomFrees(t *testing.T) {
	t.Parallel()
	one := vim.Node{Name: "n", Kind: vim.NodeCloud, Arch: "amd64", Ready: true, Schedulable: true, Allocatable: vim.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}}
	f := vimtest.New(vimtest.Config{Nodes: []vim.Node{one}})
	ctx := t.Context()
	big := func(id string) vim.DeployRequest { r := request(id); r.Compute.VirtualCPUs = 0.75; return r }
	require.NoError(t, f.Deploy(ctx, big("first")))
	require.NoError(t, f.Deploy(ctx, big("second")))
	st, _ := f.Status(ctx, "second")
	require.Equal(t, vim.PhasePending, st.Phase)
	require.ErrorIs(t, st.Err(), vim.ErrUnschedulable)

	require.NoError(t, f.Stop(ctx, "first"))
	st, _ = f.Status(ctx, "second")
	assert.Equal(t, vim.PhaseRunning, st.Phase, "placed once the first frees its node")
	require.NoError(t, f.Start(ctx, "first"))
	st, _ = f.Status(ctx, "first")
	assert.ErrorIs(t, st.Err(), vim.ErrUnschedulable, "now the first waits")

	f.AddNode(vim.Node{Name: "m", Kind: vim.NodeCloud, Arch: "amd64", Ready: true, Schedulable: true, Allocatable: vim.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}})
	st, _ = f.Status(ctx, "first")
	assert.Equal(t, vim.PhaseRunning, st.Phase, "placed on the new node")
	assert.Equal(t, []string{"m"}, st.Nodes)
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reserve bool
		want    vim.Resources
	}{
		{"as the nodes report", false, vim.Resources{MilliCPU: 12000, MemoryBytes: 24 << 30, Pods: 220}},
		{"less what is placed", true, vim.Resources{MilliCPU: 11500, MemoryBytes: 24<<30 - 256<<20, Pods: 219}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := vimtest.New(vimtest.Config{Kind: vim.KindKubeEdge, ReserveDeployed: tt.reserve, RuntimeClasses: []string{"kata"}})
			req := request("c")
			req.Placement.NodeKind = vim.NodeCloud
			require.NoError(t, f.Deploy(t.Context(), req))
			caps, err := f.Capabilities(t.Context())
			require.NoError(t, err)
			assert.Equal(t, vim.KindKubeEdge, caps.Kind)
			assert.Equal(t, tt.want, caps.Allocatable)
			assert.Equal(t, []string{"amd64", "arm64"}, caps.Architectures)
			assert.Equal(t, []vim.NodeKind{vim.NodeCloud, vim.NodeEdge}, caps.NodeKinds)
			assert.Equal(t, []string{"kata"}, caps.RuntimeClasses)

			f.SetNodeReady("fake-edge-0", false)
			caps, _ = f.Capabilities(t.Context())
			assert.Equal(t, []string{"amd64"}, caps.Architectures, "a node that is not ready offers nothing")
		})
	}
}

func TestOfflineNode(t *testing.T) {
	t.Parallel()
	f := vimtest.New(vimtest.Config{Kind: vim.KindKubeEdge})
	ctx := t.Context()
	require.NoError(t, f.Deploy(ctx, request("edge")))
	st, _ := f.Status(ctx, "edge")
	require.Equal(t, []string{"fake-edge-0"}, st.Nodes, "kubeedge places on edge nodes by default")
	require.True(t, f.SetNodeReady("fake-edge-0", false))
	st, _ = f.Status(ctx, "edge")
	assert.Equal(t, vim.PhaseUnreachable, st.Phase)
	assert.NoError(t, st.Err(), "unreachable is not a failure")
	assert.NotEmpty(t, st.Endpoints, "presumed running")
	f.SetNodeReady("fake-edge-0", true)
	st, _ = f.Status(ctx, "edge")
	assert.Equal(t, vim.PhaseRunning, st.Phase)
	assert.False(t, f.SetNodeReady("nope", true))
}

func TestCrash(t *testing.T) {
	t.Parallel()
	f := vimtest.New(vimtest.Config{})
	ctx := t.Context()
	require.NoError(t, f.Deploy(ctx, request("c")))
	require.True(t, f.Crash("c", "exit code 2"))
	_, err := vim.WaitRunning(ctx, f, "c")
	require.ErrorIs(t, err, vim.ErrFailed)
	require.NoError(t, f.Start(ctx, "c"))
	st, _ := f.Status(ctx, "c")
	assert.Equal(t, vim.PhaseRunning, st.Phase, "start clears a crash")
	assert.False(t, f.Crash("nope", "x"))
}

func TestWatch(t *testing.T) {
	t.Parallel()
	f := vimtest.New(vimtest.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	require.NoError(t, f.Deploy(ctx, request("b")))
	require.NoError(t, f.Deploy(ctx, request("a")))
	events, err := f.Watch(ctx)
	require.NoError(t, err)
	got := func(n int) []string {
		var s []string
		for range n {
			select {
			case ev := <-events:
				d := ev.Status.AppInstanceID + ":" + string(ev.Status.Phase)
				if ev.Deleted {
					d = ev.Status.AppInstanceID + ":deleted"
				}
				s = append(s, d)
			case <-time.After(5 * time.Second):
				t.Fatalf("got %v; want %d events", s, n)
			}
		}
		return s
	}
	assert.Equal(t, []string{"a:Running", "b:Running"}, got(2), "current status of each, in id order")
	require.NoError(t, f.Stop(ctx, "a"))
	require.NoError(t, f.Stop(ctx, "a"))
	require.NoError(t, f.Terminate(ctx, "b"))
	require.True(t, f.Vanish("a"))
	assert.Equal(t, []string{"a:Stopped", "b:Terminating", "b:deleted", "a:deleted"}, got(4), "changes only, in order")

	// Nobody reads a second watch: the fake does not block on it.
	_, err = f.Watch(ctx)
	require.NoError(t, err)
	for i := range 200 {
		require.NoError(t, f.Deploy(ctx, request("n"+string(rune('a'+i%26))+string(rune('a'+i/26)))))
	}
	assert.Equal(t, 2, f.Watchers())
	cancel()
	for range events {
	}
	require.Eventually(t, func() bool { return f.Watchers() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestCloseWatches(t *testing.T) {
	t.Parallel()
	f := vimtest.New(vimtest.Config{})
	events, err := f.Watch(t.Context())
	require.NoError(t, err)
	f.CloseWatches()
	select {
	case _, ok := <-events:
		assert.False(t, ok, "no instance, so nothing but the close")
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not close")
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	f := vimtest.New(vimtest.Config{})
	ctx := t.Context()

	remove := f.Inject(vimtest.Fault{Op: vimtest.OpDeploy, AppInstanceID: "q", Err: vim.ErrQuota, Times: 2})
	for range 2 {
		err := f.Deploy(ctx, request("q"))
		require.ErrorIs(t, err, vim.ErrQuota)
		var ve *vim.Error
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "q", ve.AppInstanceID)
	}
	require.NoError(t, f.Deploy(ctx, request("q")), "the fault was used up")
	remove()
	require.NoError(t, f.Deploy(ctx, request("other")), "other instances were never affected")

	custom := vim.Errorf("status", "q", vim.ErrConflict, "mine")
	remove = f.Inject(vimtest.Fault{Op: vimtest.OpStatus, Err: custom})
	_, err := f.Status(ctx, "q")
	assert.Same(t, custom, err, "a *vim.Error is returned as it is")
	_, err = f.Status(ctx, "other")
	assert.Same(t, custom, err, "every instance while the fault is in")
	remove()
	_, err = f.Status(ctx, "q")
	require.NoError(t, err)

	remove = f.Inject(vimtest.Fault{Op: vimtest.OpTerminate, Delay: 50 * time.Millisecond})
	t0 := time.Now()
	require.NoError(t, f.Terminate(ctx, "other"))
	assert.GreaterOrEqual(t, time.Since(t0), 50*time.Millisecond)
	short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, f.Terminate(short, "q"), context.DeadlineExceeded, "a delay respects the caller's ctx")
	remove()

	f.SetUnavailable(true)
	_, err = f.Capabilities(ctx)
	assert.ErrorIs(t, err, vim.ErrUnavailable)
	_, err = f.Watch(ctx)
	assert.ErrorIs(t, err, vim.ErrUnavailable)
	f.SetUnavailable(false)
	_, err = f.Capabilities(ctx)
	assert.NoError(t, err)
}

func TestCalls(t *testing.T) {
	t.Parallel()
	f := vimtest.New(vimtest.Config{})
	ctx := t.Context()
	req := request("r")
	req.MEP.ClientSecret = "s3cret"
	require.NoError(t, f.Deploy(ctx, req))
	_, _ = f.Status(ctx, "r")
	_, _ = f.Status(ctx, "nope")
	require.NoError(t, f.Terminate(ctx, "r"))
	assert.Equal(t, 4, f.Count("", ""))
	assert.Equal(t, 2, f.Count(vimtest.OpStatus, ""))
	assert.Equal(t, 1, f.Count(vimtest.OpStatus, "nope"))
	calls := f.Calls()
	ops := make([]string, len(calls))
	for i, c := range calls {
		ops[i] = c.Op
	}
	assert.Equal(t, []string{"deploy", "status", "status", "terminate"}, ops)
	require.NotNil(t, calls[0].Request)
	assert.Equal(t, "s3cret", calls[0].Request.MEP.ClientSecret, "the recorded request is the one sent")
	assert.ErrorIs(t, calls[2].Err, vim.ErrNotFound)
	f.ResetCalls()
	assert.Zero(t, f.Count("", ""))
}

func TestForeign(t *testing.T) {
	t.Parallel()
	f := vimtest.New(vimtest.Config{})
	ctx := t.Context()
	f.AddForeign("x")
	_, err := f.Status(ctx, "x")
	assert.ErrorIs(t, err, vim.ErrNotFound, "not an app instance")
	assert.ErrorIs(t, f.Deploy(ctx, request("x")), vim.ErrConflict)
	assert.True(t, f.IsForeign("x"))
	assert.False(t, f.IsForeign("y"))
}

// TestConcurrent drives one Fake from many goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	f := vimtest.New(vimtest.Config{StartDelay: time.Millisecond, TerminateDelay: time.Millisecond,
		Nodes: []vim.Node{{Name: "big", Kind: vim.NodeCloud, Arch: "amd64", Ready: true, Schedulable: true, Allocatable: vim.Resources{MilliCPU: 1 << 40, MemoryBytes: 1 << 50}}}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events, err := f.Watch(ctx)
	require.NoError(t, err)
	var mu sync.Mutex
	running := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range events {
			if ev.Status.Phase == vim.PhaseRunning {
				mu.Lock()
				running[ev.Status.AppInstanceID] = true
				mu.Unlock()
			}
		}
	}()
	var wg sync.WaitGroup
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = "c" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ids[i]
			assert.NoError(t, f.Deploy(ctx, request(id)))
			_, err := vim.WaitPhase(ctx, f, id, time.Millisecond, vim.PhaseRunning)
			assert.NoError(t, err)
			assert.NoError(t, f.Stop(ctx, id))
			assert.NoError(t, f.Start(ctx, id))
			_, _ = f.Capabilities(ctx)
			assert.NoError(t, f.Terminate(ctx, id))
		}()
	}
	wg.Wait()
	require.Eventually(t, func() bool { return len(f.IDs()) == 0 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		assert.True(t, running[id], "the watch saw %s Running", id)
	}
	assert.Equal(t, len(ids), f.Count(vimtest.OpDeploy, ""))
	assert.True(t, slices.Equal(f.IDs(), []string{}))
}
