//go:build integration

package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/edgemec/edgemec/vim-adapters/internal/kubetest"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

// The tests run against site A of the test bed (test/testbed/site.sh): a real kube-apiserver,
// controller-manager and scheduler with kwok nodes kwok-cloud-0 (amd64) and kwok-edge-0
// (arm64, edge role and taint).

func newAdapter(t *testing.T) (*kubernetes.Adapter, *kubernetes.Clients) {
	t.Helper()
	c, err := kubernetes.NewClients(kubetest.RESTConfig(t, kubetest.EnvKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	a, err := kubernetes.New(kubernetes.Config{Site: "site-a", Clients: kubernetes.Static(c)})
	if err != nil {
		t.Fatal(err)
	}
	return a, c
}

const runTimeout = 120 * time.Second // the first workload after a fresh start takes ~5 s; a loaded CI machine more

// TestContract runs the vim.VIM contract suite on site A.
func TestContract(t *testing.T) {
	t.Parallel()
	a, c := newAdapter(t)
	vimtest.Run(t, func(*testing.T) vim.VIM { return a }, kubetest.Contract(c.Kube, vim.KindKubernetes, a.Namespace))
}

// TestDeployedObjects checks what the contract does not: the objects a deploy makes (the
// labelled namespace, the Mp1 Secret in every container's environment, the requests from
// the virtualComputeDescriptor), the endpoints and the node, and that Start restores the
// replica count Stop saved.
func TestDeployedObjects(t *testing.T) {
	t.Parallel()
	a, c := newAdapter(t)
	ctx := kubetest.Context(t, 3*time.Minute)
	id := kubetest.ID("objs")
	kubetest.Cleanup(t, a, id)
	req := kubetest.Request(id, "local/mec-app:dev")
	req.Compute = vim.VirtualCompute{VirtualCPUs: 0.25, MemoryMiB: 64}

	// deploy → Running with endpoints
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	// The namespace's default ServiceAccount is there when Deploy returns (the adapter's, not
	// the service-account controller's later one), so pod admission does not refuse the first
	// pods.
	if sa, err := c.Kube.CoreV1().ServiceAccounts(a.Namespace(id)).Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("get default serviceaccount right after deploy: %v", err)
	} else if sa.Labels[kubernetes.LabelInstance] != id {
		t.Errorf("got default serviceaccount labels %v; want the instance label (applied by the adapter)", sa.Labels)
	}
	wctx := kubetest.Context(t, runTimeout)
	st, err := vim.WaitRunning(wctx, a, id)
	if err != nil {
		t.Fatalf("wait running: %v", err)
	}
	if st.Ready != 1 || st.Desired != 1 {
		t.Errorf("got %d/%d ready; want 1/1", st.Ready, st.Desired)
	}
	kinds := map[string]bool{}
	for _, e := range st.Endpoints {
		kinds[e.Kind] = true
		if e.Address == "" {
			t.Errorf("endpoint %+v has no address", e)
		}
	}
	if !kinds["ClusterIP"] || !kinds["Pod"] {
		t.Errorf("got endpoints %+v; want a ClusterIP and a Pod endpoint", st.Endpoints)
	}
	if !slices.Equal(st.Nodes, []string{"kwok-cloud-0"}) {
		t.Errorf("got nodes %v; want [kwok-cloud-0]", st.Nodes)
	}

	// The namespace is labelled, the Mp1 Secret holds the MEP access, the pod reads it and
	// requests what the virtualComputeDescriptor says.
	ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, a.Namespace(id), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels[kubernetes.LabelInstance] != id || ns.Labels[kubernetes.LabelAppD] != req.AppDID {
		t.Errorf("got namespace labels %v; want instance and appd ids", ns.Labels)
	}
	sec, err := c.Kube.CoreV1().Secrets(ns.Name).Get(ctx, "edgemec-mp1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(sec.Data[kubernetes.EnvMEPEndpoint]); got != req.MEP.Endpoint {
		t.Errorf("got secret %s=%q; want %q", kubernetes.EnvMEPEndpoint, got, req.MEP.Endpoint)
	}
	if got := string(sec.Data[kubernetes.EnvClientSecret]); got != req.MEP.ClientSecret {
		t.Errorf("got client secret %q; want the request's", got)
	}
	pods, err := c.Kube.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("got %d pods (%v); want 1", len(pods.Items), err)
	}
	pc := pods.Items[0].Spec.Containers[0]
	if len(pc.EnvFrom) != 1 || pc.EnvFrom[0].SecretRef == nil || pc.EnvFrom[0].SecretRef.Name != "edgemec-mp1" {
		t.Errorf("got envFrom %+v; want the edgemec-mp1 secret", pc.EnvFrom)
	}
	if got := pc.Resources.Requests.Cpu().MilliValue(); got != 250 {
		t.Errorf("got cpu request %dm; want 250m", got)
	}

	// Stop saves the replica count in an annotation; Start restores it.
	if err := a.Stop(ctx, id); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := vim.WaitPhase(kubetest.Context(t, runTimeout), a, id, 100*time.Millisecond, vim.PhaseStopped); err != nil {
		t.Fatalf("wait stopped: %v", err)
	}
	dep, err := c.Kube.AppsV1().Deployments(ns.Name).Get(ctx, "mec-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Annotations[kubernetes.AnnotReplicas] != "1" || dep.Spec.Replicas == nil || *dep.Spec.Replicas != 0 {
		t.Errorf("got replicas %v, annotation %q after stop; want 0 and \"1\"", dep.Spec.Replicas, dep.Annotations[kubernetes.AnnotReplicas])
	}
	if err := a.Start(ctx, id); err != nil {
		t.Fatalf("start: %v", err)
	}
	if st, err = vim.WaitRunning(kubetest.Context(t, runTimeout), a, id); err != nil {
		t.Fatalf("wait running after start: %v", err)
	}
	if st.Desired != 1 {
		t.Errorf("got desired %d after start; want the original 1", st.Desired)
	}
}

func TestHelmChart(t *testing.T) {
	t.Parallel()
	a, c := newAdapter(t)
	ctx := kubetest.Context(t, 2*time.Minute)
	id := kubetest.ID("chart")
	kubetest.Cleanup(t, a, id)
	req := kubetest.Request(id, "")
	req.Artifacts = vim.Artifacts{Chart: kubetest.PackChart(t, "testdata/mec-app")}
	req.Params = map[string]string{"replicaCount": "2"}
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	st, err := vim.WaitRunning(kubetest.Context(t, runTimeout), a, id)
	if err != nil {
		t.Fatalf("wait running: %v", err)
	}
	if st.Ready != 2 || st.Desired != 2 {
		t.Errorf("got %d/%d ready; want 2/2", st.Ready, st.Desired)
	}
	cm, err := c.Kube.CoreV1().ConfigMaps(a.Namespace(id)).Get(ctx, "mec-app-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["appInstanceId"] != id || cm.Data["namespace"] != a.Namespace(id) {
		t.Errorf("got rendered values %v; want instance id and namespace", cm.Data)
	}
	var svcPort bool
	for _, e := range st.Endpoints {
		if e.Kind == "ClusterIP" && e.Port == 80 {
			svcPort = true
		}
	}
	if !svcPort {
		t.Errorf("got endpoints %+v; want the chart's Service on port 80", st.Endpoints)
	}
}

func TestManifests(t *testing.T) {
	t.Parallel()
	a, _ := newAdapter(t)
	ctx := kubetest.Context(t, 2*time.Minute)
	id := kubetest.ID("mani")
	kubetest.Cleanup(t, a, id)
	req := kubetest.Request(id, "")
	req.Artifacts = vim.Artifacts{Manifests: []byte(`
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: local/db:dev, ports: [{containerPort: 5432}]}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  type: NodePort
  selector: {app: db}
  ports: [{port: 5432}]
`)}
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	st, err := vim.WaitRunning(kubetest.Context(t, runTimeout), a, id)
	if err != nil {
		t.Fatalf("wait running: %v", err)
	}
	var nodePort bool
	for _, e := range st.Endpoints {
		nodePort = nodePort || e.Kind == "NodePort" && e.Port >= 30000
	}
	if !nodePort {
		t.Errorf("got endpoints %+v (nodes %v); want a NodePort endpoint", st.Endpoints, st.Nodes)
	}
	// stop/start works on StatefulSets too
	if err := a.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := vim.WaitPhase(kubetest.Context(t, runTimeout), a, id, 100*time.Millisecond, vim.PhaseStopped); err != nil {
		t.Fatalf("wait stopped: %v", err)
	}
	if err := a.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := vim.WaitRunning(kubetest.Context(t, runTimeout), a, id); err != nil {
		t.Fatalf("wait running after start: %v", err)
	}
}

func TestIdempotentDeploy(t *testing.T) {
	t.Parallel()
	a, c := newAdapter(t)
	ctx := kubetest.Context(t, 2*time.Minute)
	id := kubetest.ID("idem")
	kubetest.Cleanup(t, a, id)
	req := kubetest.Request(id, "local/mec-app:dev")
	for i := range 3 {
		if err := a.Deploy(ctx, req); err != nil {
			t.Fatalf("deploy %d: %v", i, err)
		}
	}
	if _, err := vim.WaitRunning(kubetest.Context(t, runTimeout), a, id); err != nil {
		t.Fatalf("wait running: %v", err)
	}
	d1, err := c.Kube.AppsV1().Deployments(a.Namespace(id)).Get(ctx, "mec-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy again: %v", err)
	}
	d2, err := c.Kube.AppsV1().Deployments(a.Namespace(id)).Get(ctx, "mec-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d1.Generation != 1 || d2.Generation != d1.Generation {
		t.Errorf("got generation %d then %d; want 1 and unchanged by a repeated deploy", d1.Generation, d2.Generation)
	}
	deps, _ := c.Kube.AppsV1().Deployments(a.Namespace(id)).List(ctx, metav1.ListOptions{})
	if len(deps.Items) != 1 {
		t.Errorf("got %d deployments; want 1", len(deps.Items))
	}
	// A changed request updates the same instance.
	req.Params = map[string]string{kubernetes.ParamReplicas: "2"}
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatal(err)
	}
	st, err := vim.WaitPhase(kubetest.Context(t, runTimeout), a, id, 100*time.Millisecond, vim.PhaseRunning)
	for err == nil && st.Desired != 2 {
		time.Sleep(100 * time.Millisecond)
		st, err = vim.WaitRunning(kubetest.Context(t, runTimeout), a, id)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	a, c := newAdapter(t)
	tests := []struct {
		name string
		mut  func(*vim.DeployRequest)
		want error
	}{
		{
			name: "unschedulable",
			mut:  func(r *vim.DeployRequest) { r.Compute = vim.VirtualCompute{VirtualCPUs: 64, MemoryMiB: 1024} },
			want: vim.ErrUnschedulable,
		},
		{
			name: "unschedulable architecture",
			mut:  func(r *vim.DeployRequest) { r.Compute = vim.VirtualCompute{CPUArchitecture: "riscv64"} },
			want: vim.ErrUnschedulable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := kubetest.Context(t, 2*time.Minute)
			id := kubetest.ID("fail")
			kubetest.Cleanup(t, a, id)
			req := kubetest.Request(id, "local/mec-app:dev")
			tt.mut(&req)
			if err := a.Deploy(ctx, req); err != nil {
				t.Fatalf("deploy: %v", err)
			}
			st, err := vim.WaitRunning(kubetest.Context(t, runTimeout), a, id)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v (phase %s, reasons %+v); want %v", err, st.Phase, st.Reasons, tt.want)
			}
			var ve *vim.Error
			if !errors.As(err, &ve) || ve.Detail == "" {
				t.Errorf("got %#v; want a *vim.Error with the VIM's detail", err)
			}
			t.Logf("%s: %v", tt.name, err)
		})
	}

	t.Run("quota", func(t *testing.T) {
		t.Parallel()
		// A ResourceQuota in the instance's namespace (here from the package itself) refuses
		// the pod. The quota goes first and is given time to be counted, as an operator's
		// quota would be; the quota admission's cache may otherwise miss a brand-new one.
		ctx := kubetest.Context(t, 2*time.Minute)
		id := kubetest.ID("quota")
		kubetest.Cleanup(t, a, id)
		quota := "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: small}\nspec: {hard: {requests.cpu: 100m}}\n"
		req := kubetest.Request(id, "")
		req.Artifacts.Manifests = []byte(quota)
		if err := a.Deploy(ctx, req); err != nil {
			t.Fatal(err)
		}
		for {
			q, err := c.Kube.CoreV1().ResourceQuotas(a.Namespace(id)).Get(ctx, "small", metav1.GetOptions{})
			if err == nil && len(q.Status.Hard) > 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("quota never counted: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		req.Artifacts.Manifests = []byte(quota + `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: big}
spec:
  selector: {matchLabels: {app: big}}
  template:
    metadata: {labels: {app: big}}
    spec:
      containers: [{name: c, image: local/mec-app:dev, resources: {requests: {cpu: "1"}}}]
`)
		if err := a.Deploy(ctx, req); err != nil {
			t.Fatal(err)
		}
		_, err := vim.WaitRunning(kubetest.Context(t, runTimeout), a, id)
		if !errors.Is(err, vim.ErrQuota) {
			t.Fatalf("got %v; want ErrQuota", err)
		}
		t.Logf("quota: %v", err)
	})

	t.Run("forbidden", func(t *testing.T) {
		t.Parallel()
		// An identity without RBAC permissions (impersonated by the admin) may not create
		// the instance namespace.
		cfg := rest.CopyConfig(c.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "edgemec-no-rights"}
		lc, err := kubernetes.NewClients(cfg)
		if err != nil {
			t.Fatal(err)
		}
		la, _ := kubernetes.New(kubernetes.Config{Clients: kubernetes.Static(lc)})
		id := kubetest.ID("forbid")
		err = la.Deploy(kubetest.Context(t, 30*time.Second), kubetest.Request(id, "local/mec-app:dev"))
		if !errors.Is(err, vim.ErrForbidden) {
			t.Fatalf("got %v; want ErrForbidden", err)
		}
		t.Logf("forbidden: %v", err)
	})

	t.Run("cluster-scoped object", func(t *testing.T) {
		t.Parallel()
		id := kubetest.ID("clusterobj")
		req := kubetest.Request(id, "")
		req.Artifacts.Manifests = []byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: grab}\nrules: []\n")
		if err := a.Deploy(kubetest.Context(t, 30*time.Second), req); !errors.Is(err, vim.ErrInvalid) {
			t.Fatalf("got %v; want ErrInvalid", err)
		}
	})
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	a, _ := newAdapter(t)
	caps, err := a.Capabilities(kubetest.Context(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if caps.Kind != vim.KindKubernetes || caps.Version == "" {
		t.Errorf("got kind %q version %q; want kubernetes and a version", caps.Kind, caps.Version)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if !slices.Contains(caps.Architectures, arch) {
			t.Errorf("got architectures %v; want %s", caps.Architectures, arch)
		}
	}
	for _, k := range []vim.NodeKind{vim.NodeCloud, vim.NodeEdge} {
		if !slices.Contains(caps.NodeKinds, k) {
			t.Errorf("got node kinds %v; want %s", caps.NodeKinds, k)
		}
	}
	if caps.Allocatable.MilliCPU < 12000 || caps.Allocatable.MemoryBytes < 40<<30 {
		t.Errorf("got allocatable %+v; want at least 12 CPUs and 40 GiB (kwok-cloud-0 + kwok-edge-0)", caps.Allocatable)
	}
}

// TestConcurrent50 deploys 50 instances on one site at once and waits, through one Watch
// (as the MEO does), for all of them to run. It runs on its own, before the parallel tests
// of the package: the contract suite's namespace deletions beside it starve the test bed's
// API server on a 2-core machine (alone they take ~30 s). The bound is 3 min: under a loaded
// machine the controller-manager's Deployment status lags behind kwok's Running pods, and
// 90 s were twice not enough although every pod ran.
func TestConcurrent50(t *testing.T) {
	a, c := newAdapter(t)
	ctx := kubetest.Context(t, 3*time.Minute)
	const n = 50
	events, err := a.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	begin := map[string]time.Time{}
	for i := range ids {
		ids[i] = kubetest.ID(fmt.Sprintf("c%02d", i))
		kubetest.Cleanup(t, a, ids[i])
	}
	start := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			begin[id] = time.Now()
			mu.Unlock()
			if err := a.Deploy(ctx, kubetest.Request(id, "local/mec-app:dev")); err != nil {
				t.Errorf("deploy %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	deployed := time.Since(start)
	var durs []time.Duration
	running := map[string]bool{}
	for len(running) < n {
		select {
		case ev := <-events:
			id := ev.Status.AppInstanceID
			mu.Lock()
			t0, ours := begin[id]
			mu.Unlock()
			if ours && !running[id] && ev.Status.Phase == vim.PhaseRunning {
				running[id] = true
				durs = append(durs, time.Since(t0))
			}
		case <-ctx.Done():
			for _, id := range ids {
				if !running[id] {
					st, err := a.Status(context.Background(), id)
					t.Logf("not seen Running: %s: status %s %+v %v", id, st.Phase, st.Reasons, err)
					pods, _ := c.Kube.CoreV1().Pods(a.Namespace(id)).List(context.Background(), metav1.ListOptions{})
					for _, p := range pods.Items {
						t.Logf("  pod %s node %q phase %s conditions %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
					}
				}
			}
			t.Fatalf("%d of %d instances Running before the timeout", len(running), n)
		}
	}
	for _, id := range ids { // Status agrees with the watch
		if st, err := a.Status(ctx, id); err != nil || st.Phase != vim.PhaseRunning {
			t.Errorf("status %s: %v %v; want Running", id, st.Phase, err)
		}
	}
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	t.Logf("%d concurrent deploys: all applied in %v, all Running in %v (deploy → Running p50 %v, max %v)", n,
		deployed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond),
		durs[n/2].Round(time.Millisecond), durs[n-1].Round(time.Millisecond))
}

// TestRedeployPrunes: a redeploy from a newer package that dropped objects removes them; an
// object someone else put in the namespace stays (issue 15 §6).
func TestRedeployPrunes(t *testing.T) {
	t.Parallel()
	a, c := newAdapter(t)
	ctx := kubetest.Context(t, 2*time.Minute)
	id := kubetest.ID("prune")
	kubetest.Cleanup(t, a, id)
	ns := a.Namespace(id)
	web := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: local/mec-app:dev}]
`
	cm := func(name string) string {
		return "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {k: v}\n"
	}
	svc := "---\napiVersion: v1\nkind: Service\nmetadata: {name: old}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"
	req := kubetest.Request(id, "")
	req.Artifacts = vim.Artifacts{Manifests: []byte(web + cm("v1-config") + svc)}
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy v1: %v", err)
	}
	manual := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "operator-notes", Namespace: ns}}
	if _, err := c.Kube.CoreV1().ConfigMaps(ns).Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	req.Artifacts = vim.Artifacts{Manifests: []byte(web + cm("v2-config"))}
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy v2: %v", err)
	}
	tests := []struct {
		name   string
		get    func() error
		exists bool
	}{
		{"deployment kept", func() error {
			_, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			return err
		}, true},
		{"new config map", func() error {
			_, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, "v2-config", metav1.GetOptions{})
			return err
		}, true},
		{"dropped config map", func() error {
			_, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, "v1-config", metav1.GetOptions{})
			return err
		}, false},
		{"dropped service", func() error { _, err := c.Kube.CoreV1().Services(ns).Get(ctx, "old", metav1.GetOptions{}); return err }, false},
		{"foreign config map", func() error {
			_, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, "operator-notes", metav1.GetOptions{})
			return err
		}, true},
		{"mp1 secret", func() error {
			_, err := c.Kube.CoreV1().Secrets(ns).Get(ctx, kubernetes.Mp1SecretName, metav1.GetOptions{})
			return err
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.get()
			switch {
			case tt.exists && err != nil:
				t.Errorf("got %v; want the object kept", err)
			case !tt.exists && !apierrors.IsNotFound(err):
				t.Errorf("got %v; want the object pruned (NotFound)", err)
			}
		})
	}
	if _, err := vim.WaitRunning(kubetest.Context(t, runTimeout), a, id); err != nil {
		t.Fatalf("wait running after the redeploy: %v", err)
	}
}

// TestStopEveryWorkload: Stop stops DaemonSets and bare pods too, not only Deployments and
// StatefulSets, and Start brings all of them back (issue 15 §6).
func TestStopEveryWorkload(t *testing.T) {
	t.Parallel()
	a, c := newAdapter(t)
	ctx := kubetest.Context(t, 3*time.Minute)
	id := kubetest.ID("stopall")
	kubetest.Cleanup(t, a, id)
	ns := a.Namespace(id)
	req := kubetest.Request(id, "")
	req.Artifacts = vim.Artifacts{Manifests: []byte(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {kubernetes.io/arch: amd64}
      containers: [{name: agent, image: local/mec-app:dev}]
---
apiVersion: v1
kind: Pod
metadata: {name: solo, labels: {app: solo}}
spec:
  containers: [{name: solo, image: local/mec-app:dev, env: [{name: MODE, value: solo}]}]
`)}
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if _, err := vim.WaitRunning(kubetest.Context(t, runTimeout), a, id); err != nil {
		t.Fatalf("wait running: %v", err)
	}
	live := func() int {
		l, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil {
				n++
			}
		}
		return n
	}
	if n := live(); n < 2 {
		t.Fatalf("pods before stop: got %d; want the daemon set's and the bare one", n)
	}
	for range 2 { // stopping twice is fine
		if err := a.Stop(ctx, id); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	if _, err := vim.WaitPhase(kubetest.Context(t, runTimeout), a, id, 100*time.Millisecond, vim.PhaseStopped); err != nil {
		t.Fatalf("wait stopped: %v", err)
	}
	if n := live(); n != 0 {
		t.Errorf("pods while stopped: got %d; want 0", n)
	}
	for range 2 {
		if err := a.Start(ctx, id); err != nil {
			t.Fatalf("start: %v", err)
		}
	}
	st, err := vim.WaitRunning(kubetest.Context(t, runTimeout), a, id)
	if err != nil {
		t.Fatalf("wait running after start: %v", err)
	}
	if st.Ready < 2 {
		t.Errorf("ready after start: got %d; want the daemon set's pod and the bare pod", st.Ready)
	}
	solo, err := c.Kube.CoreV1().Pods(ns).Get(ctx, "solo", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("bare pod after start: %v", err)
	}
	if env := solo.Spec.Containers[0].Env; !slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == "MODE" && e.Value == "solo" }) {
		t.Errorf("bare pod after start lost its spec: env %+v", env)
	}
	ds, err := c.Kube.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ds.Spec.Template.Spec.NodeSelector[kubernetes.StopNodeSelector]; ok || ds.Spec.Template.Spec.NodeSelector["kubernetes.io/arch"] != "amd64" {
		t.Errorf("daemon set node selector after start: %v; want only its own", ds.Spec.Template.Spec.NodeSelector)
	}
	if _, err := c.Kube.CoreV1().Secrets(ns).Get(ctx, kubernetes.StoppedPodsSecret, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("saved pods secret after start: %v; want it gone", err)
	}
}

// TestTestbedNodeLeases checks the test bed the adapters' tests rely on: every kwok node of
// sites A and B holds a Lease in kube-node-lease that kwok renews. Without it the node
// lifecycle controller marked each node Unknown once per grace period, and every pod running
// on it NotReady for good (kwok's pod-ready stage runs for Pending pods only): a workload
// Running one moment was Pending the next.
func TestTestbedNodeLeases(t *testing.T) {
	for _, env := range []string{kubetest.EnvKubeconfig, kubetest.EnvK3sKubeconfig} {
		c, err := kubernetes.NewClients(kubetest.RESTConfig(t, env))
		if err != nil {
			t.Fatal(err)
		}
		ctx := kubetest.Context(t, 30*time.Second)
		nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kwok := 0
		for _, n := range nodes.Items {
			if n.Annotations["kwok.x-k8s.io/node"] != "fake" {
				continue
			}
			kwok++
			l, err := c.Kube.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil {
				t.Errorf("%s: node %s: lease: %v", env, n.Name, err)
				continue
			}
			if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
				t.Errorf("%s: node %s: lease %+v never renewed", env, n.Name, l.Spec)
				continue
			}
			if age, d := time.Since(l.Spec.RenewTime.Time), time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second; age > d {
				t.Errorf("%s: node %s: lease renewed %v ago, longer than its duration %v", env, n.Name, age.Round(time.Second), d)
			}
		}
		if kwok == 0 {
			t.Errorf("%s: no kwok nodes", env)
		}
	}
}
