//go:build integration

package reconcile_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/libvirt"
	"github.com/edgemec/edgemec/vim-adapters/libvirt/libvirttest"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// libvirtSite is a VM site on the private libvirtd of test/testbed/libvirt.sh (libvirt's test
// driver, which has no guest agent) with a real MEP; nothing plays the guests' heartbeats.
func libvirtSite(t *testing.T) (reconcile.Site, *libvirt.Adapter, *meptest.Proc, string) {
	t.Helper()
	a, l := libvirttest.Adapter(t)
	pool, err := l.StoragePoolLookupByName("default-pool")
	if err != nil {
		t.Fatal(err)
	}
	vol, err := l.StorageVolCreateXML(pool, `<volume><name>web.qcow2</name><capacity unit="GiB">1</capacity><target><format type="qcow2"/></target></volume>`, 0)
	if err != nil {
		if vol, err = l.StorageVolLookupByName(pool, "web.qcow2"); err != nil {
			t.Fatal(err)
		}
	}
	img, err := l.StorageVolGetPath(vol)
	if err != nil {
		t.Fatal(err)
	}
	m := meptest.Start(t, meptest.Options{})
	return reconcile.Site{Name: "vm-site", MEP: m.Client(t), VIM: a}, a, m, img
}

// playApp plays the app inside the VM: once the hypervisor runs the domain (the guest not
// up yet for the adapter), it confirms ready on the MEP with the credentials the MEP gave
// the instance. It reports whether it saw the guest wait, and how the confirmation went.
func playApp(ctx context.Context, a *libvirt.Adapter, mm5 *mm5api.ClientWithResponses, id string) <-chan error {
	out := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			st, err := a.Status(ctx, id)
			if err != nil || !st.WaitingForGuest() {
				continue
			}
			rec, err := mm5.GetAppInstanceWithResponse(ctx, id, nil)
			if err != nil || rec.JSON200 == nil {
				continue
			}
			out <- meptest.ConfirmReady(ctx, vim.MEPAccess{Endpoint: rec.JSON200.Mp1Root,
				ClientID: rec.JSON200.Credentials.ClientId, ClientSecret: rec.JSON200.Credentials.ClientSecret}, id)
			return
		}
		out <- fmt.Errorf("the domain never ran with its guest pending: %w", ctx.Err())
	}()
	return out
}

// TestLibvirtGuestHeartbeatFromMEP: on a VM site without a guest agent, the domain the
// hypervisor runs is Pending (GuestStarting) until the app in it confirms ready on the MEP;
// the reconciler then passes that on as the guest's heartbeat (vim.GuestHeartbeater), so
// instantiate completes and the VIM reports Running (issue 15 §6). Without the app's
// confirmation the VM never counts as Running.
func TestLibvirtGuestHeartbeatFromMEP(t *testing.T) {
	tests := []struct {
		name        string
		app         bool
		wantOutcome reconcile.Outcome
		wantPhase   vim.Phase
	}{
		{"app confirms ready", true, reconcile.Completed, vim.PhaseRunning},
		{"app never starts", false, reconcile.FailedTemp, vim.PhasePending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site, a, m, img := libvirtSite(t)
			task := instantiateTask("lv")
			task.Deploy.Image = vim.SwImage{Ref: img, DiskFormat: "qcow2"}
			task.Deploy.Compute = vim.VirtualCompute{VirtualCPUs: 1, MemoryMiB: 256, CPUArchitecture: "x86_64"}
			t.Cleanup(func() { _ = a.Terminate(context.Background(), task.AppInstanceID) })
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var app <-chan error
			if tt.app {
				app = playApp(ctx, a, m.Client(t), task.AppInstanceID)
			}
			cfg := fastConfig()
			cfg.RunningTimeout = 3 * time.Second
			p, err := reconcile.New(reconcile.NewMemoryJournal(), cfg).Run(ctx, site, task)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if p.Outcome != tt.wantOutcome {
				t.Fatalf("outcome %s (failure %+v); want %s", p.Outcome, p.Failure, tt.wantOutcome)
			}
			if app != nil {
				if err := <-app; err != nil {
					t.Fatalf("app: %v", err)
				}
			}
			st, err := a.Status(ctx, task.AppInstanceID)
			if err != nil {
				t.Fatal(err)
			}
			if st.Phase != tt.wantPhase {
				t.Fatalf("vim phase %s (%v); want %s", st.Phase, st.Reasons, tt.wantPhase)
			}
			if !tt.app {
				if !st.WaitingForGuest() {
					t.Fatalf("status %+v; want Pending with %s", st, vim.ReasonGuestStarting)
				}
				if p.Done != reconcile.StepVIMDeployed {
					t.Fatalf("last step done %s; want %s (the wait for Running timed out)", p.Done, reconcile.StepVIMDeployed)
				}
			}
		})
	}
}

// TestLibvirtGuestHeartbeatAfterRestart: operate STOPPED runs the MEP's stop flow, which
// makes the MEP forget the app's earlier READY, so after operate STARTED the VM is not
// Running until the app of this boot confirms ready again. Before the stop flow existed the
// MEP still showed READY from the earlier boot and the reconciler passed that on as the new
// boot's heartbeat at once.
func TestLibvirtGuestHeartbeatAfterRestart(t *testing.T) {
	site, a, m, img := libvirtSite(t)
	task := instantiateTask("lvr")
	task.Deploy.Image = vim.SwImage{Ref: img, DiskFormat: "qcow2"}
	task.Deploy.Compute = vim.VirtualCompute{VirtualCPUs: 1, MemoryMiB: 256, CPUArchitecture: "x86_64"}
	t.Cleanup(func() { _ = a.Terminate(context.Background(), task.AppInstanceID) })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfg := fastConfig()
	cfg.RunningTimeout = 3 * time.Second
	cfg.ReadyTimeout = 3 * time.Second
	r := reconcile.New(reconcile.NewMemoryJournal(), cfg)
	run := func(task reconcile.Task, want reconcile.Outcome) reconcile.Progress {
		t.Helper()
		p, err := r.Run(ctx, site, task)
		if err != nil {
			t.Fatalf("%s: %v", task.Kind, err)
		}
		if p.Outcome != want {
			t.Fatalf("%s: outcome %s (failure %+v); want %s", task.Kind, p.Outcome, p.Failure, want)
		}
		return p
	}
	app := playApp(ctx, a, m.Client(t), task.AppInstanceID)
	run(task, reconcile.Completed)
	if err := <-app; err != nil {
		t.Fatalf("app: %v", err)
	}
	state := func() mm5api.AppInstanceState {
		t.Helper()
		rec, err := m.Client(t).GetAppInstanceWithResponse(ctx, task.AppInstanceID, nil)
		if err != nil || rec.JSON200 == nil {
			t.Fatalf("mm5 get: %v", err)
		}
		return rec.JSON200.State
	}

	run(reconcile.Task{ID: "stop-1", Kind: reconcile.KindStop, AppInstanceID: task.AppInstanceID, StopType: reconcile.StopForceful}, reconcile.Completed)
	if s := state(); s != mm5api.INSTANTIATED {
		t.Fatalf("mep state %s after the stop; want INSTANTIATED (not ready)", s)
	}
	// Started with nobody in the guest: the domain runs, the guest is not up, and the MEP
	// has no READY to pass on.
	p := run(reconcile.Task{ID: "start-1", Kind: reconcile.KindStart, AppInstanceID: task.AppInstanceID}, reconcile.FailedTemp)
	if p.Done != reconcile.StepVIMStarting {
		t.Fatalf("last step done %s; want %s (the wait for Running timed out)", p.Done, reconcile.StepVIMStarting)
	}
	if st, err := a.Status(ctx, task.AppInstanceID); err != nil || !st.WaitingForGuest() {
		t.Fatalf("status %+v, %v; want Pending with %s", st, err, vim.ReasonGuestStarting)
	}
	// The app of this boot confirms ready: the retried start completes, the VM Running.
	app = playApp(ctx, a, m.Client(t), task.AppInstanceID)
	run(reconcile.Task{ID: "start-1", Kind: reconcile.KindStart, AppInstanceID: task.AppInstanceID}, reconcile.Completed)
	if err := <-app; err != nil {
		t.Fatalf("app: %v", err)
	}
	if st, err := a.Status(ctx, task.AppInstanceID); err != nil || st.Phase != vim.PhaseRunning {
		t.Fatalf("status %+v, %v; want Running", st, err)
	}
	if s := state(); s != mm5api.READY {
		t.Fatalf("mep state %s after the start; want READY", s)
	}
}
