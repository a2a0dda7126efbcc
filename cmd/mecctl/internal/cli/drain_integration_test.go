//go:build integration

package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// `site drain --wait` against a real MEO (PostgreSQL, executor, drain rounds) with one real
// site: a test-bed Kubernetes control plane (EDGEMEC_TESTBED_KUBECONFIG) and a real MEP. With
// no other site, the instance cannot move: --wait prints it with the reason and exits 6 at
// the timeout. Then, while a second --wait follows the site, the instance is terminated:
// the site holds no instance and --wait exits 0.
func TestSiteDrainWaitRealMEO(t *testing.T) {
	path := testutil.RequireEnv(t, "EDGEMEC_TESTBED_KUBECONFIG")
	kc, err := os.ReadFile(path)
	require.NoError(t, err)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	clients, err := kubernetes.NewClients(cfg)
	require.NoError(t, err)
	adapter, err := kubernetes.New(kubernetes.Config{Site: "edge-1", Clients: kubernetes.Static(clients)})
	require.NoError(t, err)
	mep := meptest.Start(t, meptest.Options{})

	root := startFastMEO(t)
	e := newEnv(t)
	ok(t, e, "", "config", "set-context", "lab", "--meo", root, "--token-file", tokenFile(t, meoToken))
	spec, err := json.Marshal(map[string]any{"id": "edge-1",
		"mep": map[string]any{"endpoint": mep.Root + "/mepm/v1", "token": meptest.OperatorToken},
		"vim": map[string]any{"kind": "kubernetes", "kubeconfig": string(kc)}})
	require.NoError(t, err)
	ok(t, e, string(spec), "site", "add", "-f", "-")
	ok(t, e, "", "package", "onboard", "-f", writeFile(t, "mecapp.zip", samplePackage(t, "mecapp")), "--wait")
	id := strings.TrimSpace(strings.TrimPrefix(ok(t, e, "", "app", "create", "--appd-id", "mecapp", "-o", "name"), "app/"))
	playApp(t, adapter, clients, id)
	t.Cleanup(func() {
		// Whatever the test left on the test bed goes.
		_ = adapter.Terminate(context.Background(), id)
	})
	r := run(t, e, "", "app", "instantiate", id, "--wait", "--timeout", "2m")
	require.Equal(t, 0, r.code, r.err)

	start := time.Now()
	r = run(t, e, "", "site", "drain", "edge-1", "--wait", "--timeout", "6s", "--interval", "200ms")
	assert.Equal(t, ExitTimeout, r.code, r.err)
	assert.Less(t, time.Since(start), 20*time.Second)
	assert.Contains(t, r.err, "site/edge-1: app instance "+id+" stays:\n  no other site in the inventory\n")
	assert.Contains(t, r.err, "timed out waiting for the drain of site edge-1")
	assert.Contains(t, ok(t, e, "", "site", "get", "edge-1", "-o", "json"), `"stuck"`, "state.drain shows the stuck instance")

	done := make(chan result, 1)
	go func() {
		done <- run(t, e, "", "site", "drain", "edge-1", "--wait", "--timeout", "2m", "--interval", "200ms")
	}()
	time.Sleep(time.Second)
	ok(t, e, "", "app", "terminate", id, "--forceful", "--wait", "--timeout", "2m")
	w := <-done
	assert.Equal(t, 0, w.code, w.err)
	assert.Contains(t, w.err, "site/edge-1 1 instance(s) on the site")
	assert.Contains(t, w.err, "site/edge-1 drained\n")
	assert.Regexp(t, `(?m)^edge-1\s+edge-1\s+kubernetes\s+Draining\s+reachable\s+reachable\s+0$`, w.out)
	_, err = adapter.Status(t.Context(), id)
	assert.ErrorIs(t, err, vim.ErrNotFound)
	assert.Empty(t, mep.Instances(t))
}

// startFastMEO is startMEO with short probe, lease and drain intervals.
func startFastMEO(t *testing.T) string {
	t.Helper()
	tel, err := obs.Setup(t.Context(), obs.Options{ServiceName: "meo", LogLevel: "error", Out: io.Discard})
	require.NoError(t, err)
	key := writeFile(t, "secret.key", []byte(strings.Repeat("ab", 32)+"\n"))
	m, err := meo.New(t.Context(), meo.Config{HTTPAddr: "127.0.0.1:0", DatabaseURL: pgtest.New(t), OperatorToken: meoToken,
		SecretKeyFile: key, SiteRefreshInterval: time.Second, Lease: 3 * time.Second}, tel)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool {
		r, err := http.Get(m.APIRoot() + "/readyz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond)
	return m.APIRoot()
}

// playApp confirms the instance ready on its MEP whenever its workload runs, as the app
// would, with the Mp1 credentials the MEO had the adapter put in its namespace.
func playApp(t *testing.T, a *kubernetes.Adapter, c *kubernetes.Clients, id string) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(func() { cancel(); wg.Wait() })
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			time.Sleep(300 * time.Millisecond)
			st, err := a.Status(ctx, id)
			if err != nil || st.Phase != vim.PhaseRunning {
				continue
			}
			sec, err := c.Kube.CoreV1().Secrets(a.Namespace(id)).Get(ctx, kubernetes.Mp1SecretName, metav1.GetOptions{})
			if err != nil {
				continue
			}
			_ = meptest.ConfirmReady(ctx, vim.MEPAccess{Endpoint: string(sec.Data[kubernetes.EnvMEPEndpoint]),
				ClientID: string(sec.Data[kubernetes.EnvClientID]), ClientSecret: string(sec.Data[kubernetes.EnvClientSecret])}, id)
		}
	}()
}
