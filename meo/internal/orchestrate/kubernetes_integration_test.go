//go:build integration

package orchestrate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// TestKubernetesSite places, instantiates and terminates an app through the executor on
// the test bed's Kubernetes site (a real kube-apiserver, controller-manager and scheduler
// with kwok nodes) with a real MEP. kwok runs no containers, so the test plays the app: it
// reads the Mp1 Secret the adapter made in the instance's namespace and confirms ready.
func TestKubernetesSite(t *testing.T) {
	kc := testutil.RequireEnv(t, "EDGEMEC_TESTBED_KUBECONFIG")
	rc, err := clientcmd.BuildConfigFromFlags("", kc)
	require.NoError(t, err)
	clients, err := kubernetes.NewClients(rc)
	require.NoError(t, err)
	adapter, err := kubernetes.New(kubernetes.Config{Site: "site-k8s", Clients: kubernetes.Static(clients)})
	require.NoError(t, err)
	m := meptest.Start(t, meptest.Options{})

	e := newEnv(t)
	e.sites.Add(placement.Site{ID: "site-k8s", Name: "test bed", Schedulable: true, MEPReachable: true},
		reconcile.Site{Name: "site-k8s", MEP: m.Client(t), VIM: adapter})
	cfg := e.config("meo-1")
	cfg.Reconcile.RunningTimeout, cfg.Reconcile.ReadyTimeout, cfg.Reconcile.GoneTimeout = 2*time.Minute, 2*time.Minute, 2*time.Minute
	r := e.start(cfg)

	op := instantiate("k8s", 100)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = adapter.Terminate(ctx, op.AppInstanceID)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	appErr := make(chan error, 1)
	go func() {
		ns := adapter.Namespace(op.AppInstanceID)
		for ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			st, err := adapter.Status(ctx, op.AppInstanceID)
			if err != nil || st.Phase != vim.PhaseRunning {
				continue
			}
			sec, err := clients.Kube.CoreV1().Secrets(ns).Get(ctx, kubernetes.Mp1SecretName, metav1.GetOptions{})
			if err != nil {
				continue
			}
			access := vim.MEPAccess{Endpoint: string(sec.Data[kubernetes.EnvMEPEndpoint]),
				ClientID: string(sec.Data[kubernetes.EnvClientID]), ClientSecret: string(sec.Data[kubernetes.EnvClientSecret])}
			appErr <- meptest.ConfirmReady(ctx, access, op.AppInstanceID)
			return
		}
		appErr <- ctx.Err()
	}()

	t0 := time.Now()
	require.NoError(t, e.ops.Add(op))
	r.x.Kick()
	rec := e.waitState(op.ID, 3*time.Minute, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.Completed, rec.State, "error %+v", rec.Error)
	t.Logf("instantiate → COMPLETED through the executor on the test bed in %v", time.Since(t0).Round(time.Millisecond))
	require.NoError(t, <-appErr, "the app could not confirm ready with the injected credentials")
	assert.Equal(t, "site-k8s", rec.SiteID)
	resp, err := m.Client(t).GetAppInstanceWithResponse(ctx, op.AppInstanceID, nil)
	require.NoError(t, err)
	require.NotNil(t, resp.JSON200, "mep: %s", resp.Body)
	assert.Equal(t, mm5api.READY, resp.JSON200.State)
	require.Eventually(t, func() bool {
		in, _ := e.ops.Instance(op.AppInstanceID)
		return len(in.Observed) > 0 && in.Observed[len(in.Observed)-1].Phase == vim.PhaseRunning
	}, 30*time.Second, 50*time.Millisecond, "the site watcher did not report the instance Running")

	term := terminate(op)
	t0 = time.Now()
	require.NoError(t, e.ops.Add(term))
	r.x.Kick()
	rec = e.waitState(term.ID, 3*time.Minute, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.Completed, rec.State, "error %+v", rec.Error)
	t.Logf("terminate → COMPLETED through the executor on the test bed in %v", time.Since(t0).Round(time.Millisecond))
	_, err = adapter.Status(ctx, op.AppInstanceID)
	assert.True(t, errors.Is(err, vim.ErrNotFound), "status after terminate: %v; want ErrNotFound", err)
	assert.Empty(t, m.Instances(t))
}
