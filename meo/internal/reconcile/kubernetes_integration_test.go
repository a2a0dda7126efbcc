//go:build integration

package reconcile_test

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// TestKubernetesSite runs instantiate and terminate against the test bed's site A (a real
// kube-apiserver, controller-manager and scheduler with kwok nodes) through the Kubernetes
// adapter, with a real MEP. kwok runs no containers, so the test plays the app: it reads the
// Mp1 Secret the adapter made in the instance's namespace and confirms ready with it.
func TestKubernetesSite(t *testing.T) {
	kc := testutil.RequireEnv(t, "EDGEMEC_TESTBED_KUBECONFIG")
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := kubernetes.NewClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	adapter, err := kubernetes.New(kubernetes.Config{Site: "site-a", Clients: kubernetes.Static(clients)})
	if err != nil {
		t.Fatal(err)
	}
	m := meptest.Start(t, meptest.Options{})
	site := reconcile.Site{Name: "site-a", MEP: m.Client(t), VIM: adapter}
	task := instantiateTask("rk")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adapter.Terminate(ctx, task.AppInstanceID)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	// The app: once the adapter made the Mp1 Secret and the workload runs, confirm ready
	// with what the Secret holds.
	appErr := make(chan error, 1)
	go func() {
		ns := adapter.Namespace(task.AppInstanceID)
		for ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			st, err := adapter.Status(ctx, task.AppInstanceID)
			if err != nil || st.Phase != vim.PhaseRunning {
				continue
			}
			sec, err := clients.Kube.CoreV1().Secrets(ns).Get(ctx, kubernetes.Mp1SecretName, metav1.GetOptions{})
			if err != nil {
				continue
			}
			access := vim.MEPAccess{Endpoint: string(sec.Data[kubernetes.EnvMEPEndpoint]),
				ClientID: string(sec.Data[kubernetes.EnvClientID]), ClientSecret: string(sec.Data[kubernetes.EnvClientSecret])}
			appErr <- meptest.ConfirmReady(ctx, access, task.AppInstanceID)
			return
		}
		appErr <- ctx.Err()
	}()

	j := reconcile.NewMemoryJournal()
	rcfg := fastConfig()
	rcfg.RunningTimeout, rcfg.ReadyTimeout, rcfg.GoneTimeout = 2*time.Minute, 2*time.Minute, 2*time.Minute
	t0 := time.Now()
	p, err := reconcile.New(j, rcfg).Run(ctx, site, task)
	if err != nil || p.Outcome != reconcile.Completed {
		t.Fatalf("instantiate: outcome %s failure %+v err %v; want COMPLETED", p.Outcome, p.Failure, err)
	}
	t.Logf("instantiate → COMPLETED on the test bed in %v", time.Since(t0).Round(time.Millisecond))
	if err := <-appErr; err != nil {
		t.Fatalf("the app could not confirm ready with the injected credentials: %v", err)
	}
	resp, err := m.Client(t).GetAppInstanceWithResponse(ctx, task.AppInstanceID, nil)
	if err != nil || resp.JSON200 == nil || resp.JSON200.State != mm5api.READY {
		t.Fatalf("mep: %v %s; want the instance READY", err, resp.Body)
	}

	t0 = time.Now()
	p, err = reconcile.New(j, rcfg).Run(ctx, site, terminateTask(task))
	if err != nil || p.Outcome != reconcile.Completed {
		t.Fatalf("terminate: outcome %s failure %+v err %v; want COMPLETED", p.Outcome, p.Failure, err)
	}
	t.Logf("terminate → COMPLETED on the test bed in %v", time.Since(t0).Round(time.Millisecond))
	if _, err := adapter.Status(ctx, task.AppInstanceID); !errors.Is(err, vim.ErrNotFound) {
		t.Fatalf("status after terminate: %v; want ErrNotFound", err)
	}
	if n := len(m.Instances(t)); n != 0 {
		t.Fatalf("mep holds %d instances; want 0", n)
	}
}
