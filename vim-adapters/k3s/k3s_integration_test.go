//go:build integration

package k3s_test

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgemec/edgemec/vim-adapters/internal/kubetest"
	"github.com/edgemec/edgemec/vim-adapters/k3s"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

// The tests run against site B of the test bed: its own control plane with kwok nodes
// k3s-server-0 and k3s-agent-0 labelled as K3s labels its nodes.

func setup(t *testing.T) (*k3s.Adapter, *kubernetes.Clients) {
	t.Helper()
	c, err := kubernetes.NewClients(kubetest.RESTConfig(t, kubetest.EnvK3sKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	a, err := k3s.New(kubernetes.Config{Site: "site-b", Clients: kubernetes.Static(c)})
	if err != nil {
		t.Fatal(err)
	}
	return a, c
}

// TestContract runs the vim.VIM contract suite on site B.
func TestContract(t *testing.T) {
	t.Parallel()
	a, c := setup(t)
	vimtest.Run(t, func(*testing.T) vim.VIM { return a }, kubetest.Contract(c.Kube, vim.KindK3s, a.Namespace))
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	a, _ := setup(t)
	caps, err := a.Capabilities(kubetest.Context(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if caps.Kind != vim.KindK3s || caps.StorageClass != k3s.StorageClass {
		t.Errorf("got kind %q storage class %q; want k3s, local-path", caps.Kind, caps.StorageClass)
	}
	if len(caps.Nodes) != 2 {
		t.Fatalf("got %d nodes; want 2", len(caps.Nodes))
	}
	for _, n := range caps.Nodes {
		if !k3s.IsK3sNode(n) {
			t.Errorf("node %s is not recognised as a K3s node: %v", n.Name, n.Labels)
		}
	}
	if !slices.Equal(caps.NodeKinds, []vim.NodeKind{vim.NodeCloud, vim.NodeControl}) {
		t.Errorf("got node kinds %v; want [cloud control]", caps.NodeKinds)
	}
}

func TestServiceLBExposure(t *testing.T) {
	t.Parallel()
	a, c := setup(t)
	ctx := kubetest.Context(t, 2*time.Minute)
	id := kubetest.ID("k3s")
	kubetest.Cleanup(t, a, id)
	req := kubetest.Request(id, "local/mec-app:dev")
	req.Params = map[string]string{k3s.ParamExpose: "LoadBalancer"}
	req.Artifacts.Manifests = []byte(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: local/mec-app:dev, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - host: app.mec.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`)
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if _, err := vim.WaitRunning(kubetest.Context(t, 60*time.Second), a, id); err != nil {
		t.Fatalf("wait running: %v", err)
	}
	ns := a.Namespace(id)
	svc, err := c.Kube.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Fatalf("got service type %s; want LoadBalancer (ServiceLB)", svc.Spec.Type)
	}
	pvc, err := c.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != k3s.StorageClass {
		t.Errorf("got storage class %v; want local-path", pvc.Spec.StorageClassName)
	}
	ing, err := c.Kube.NetworkingV1().Ingresses(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != k3s.IngressClass {
		t.Errorf("got ingress class %v; want traefik", ing.Spec.IngressClassName)
	}

	// Play K3s' ServiceLB: it publishes the node addresses in the Service's status.
	node, err := c.Kube.CoreV1().Nodes().Get(ctx, "k3s-server-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lbIP := node.Labels["k3s.io/internal-ip"]
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: lbIP}}
	if _, err := c.Kube.CoreV1().Services(ns).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := a.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range st.Endpoints {
		found = found || e.Kind == "LoadBalancer" && e.Address == lbIP && e.Port == 80
	}
	if !found {
		t.Errorf("got endpoints %+v; want LoadBalancer %s:80", st.Endpoints, lbIP)
	}
}
