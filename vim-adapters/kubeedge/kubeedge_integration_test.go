//go:build integration

package kubeedge_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgemec/edgemec/vim-adapters/internal/kubetest"
	"github.com/edgemec/edgemec/vim-adapters/kubeedge"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

// notReadyLabel makes kwok's node-not-ready chaos stage report the node NotReady, the way a
// KubeEdge edge node looks to the control plane when it loses its uplink.
const notReadyLabel = "node-not-ready.stage.kwok.x-k8s.io"

func setup(t *testing.T) (*kubeedge.Adapter, *kubernetes.Clients) {
	t.Helper()
	c, err := kubernetes.NewClients(kubetest.RESTConfig(t, kubetest.EnvKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	a, err := kubeedge.New(kubernetes.Config{Site: "site-a", Clients: kubernetes.Static(c)})
	if err != nil {
		t.Fatal(err)
	}
	return a, c
}

// edgeNode registers a kwok-managed, KubeEdge-style edge node of its own for the test, in
// node group group, and waits for it to be Ready.
func edgeNode(t *testing.T, c *kubernetes.Clients, name, group string) {
	t.Helper()
	ctx := kubetest.Context(t, 30*time.Second)
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64",
				kubernetes.LabelEdgeRole: "", "node-role.kubernetes.io/agent": "", kubeedge.LabelNodeGroup: group, "type": "kwok",
			},
		},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: kubernetes.LabelEdgeRole, Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			// Both address kinds: kwok's node-initialize stage rewrites a list lacking one.
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.255.99.1"}, {Type: corev1.NodeHostName, Address: name}},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
			NodeInfo:    corev1.NodeSystemInfo{Architecture: "arm64", OperatingSystem: "linux", KubeletVersion: "v1.37.2-kubeedge"},
		},
	}
	if _, err := c.Kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := c.Kube.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete node %s: %v", name, err)
		}
	})
	waitNode(t, c, name, true)
}

func waitNode(t *testing.T, c *kubernetes.Clients, name string, ready bool) {
	t.Helper()
	ctx := kubetest.Context(t, 60*time.Second)
	for {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && (cond.Status == corev1.ConditionTrue) == ready {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node %s ready=%v: timed out (%v)", name, ready, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func setNotReady(t *testing.T, c *kubernetes.Clients, name string, notReady bool) {
	t.Helper()
	patch := `{"metadata":{"labels":{"` + notReadyLabel + `":null}}}`
	if notReady {
		patch = `{"metadata":{"labels":{"` + notReadyLabel + `":"true"}}}`
	}
	if _, err := c.Kube.CoreV1().Nodes().Patch(t.Context(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch node %s: %v", name, err)
	}
}

// TestContract runs the vim.VIM contract suite on site A, whose instances go to its edge
// node kwok-edge-0.
func TestContract(t *testing.T) {
	t.Parallel()
	a, c := setup(t)
	vimtest.Run(t, func(*testing.T) vim.VIM { return a }, kubetest.Contract(c.Kube, vim.KindKubeEdge, a.Namespace))
}

func TestEdgePlacementAndOfflineAutonomy(t *testing.T) {
	t.Parallel()
	a, c := setup(t)
	ctx := kubetest.Context(t, 3*time.Minute)
	group := kubetest.ID("grp")
	node := kubetest.ID("edge")
	edgeNode(t, c, node, group)

	events, err := a.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := kubetest.ID("ke")
	kubetest.Cleanup(t, a, id)
	// Record the instance's phases as the watch reports them (drained all along: the watch
	// reports current state, so a consumer that lags may miss short-lived phases).
	var mu sync.Mutex
	var seen []vim.Phase
	go func() {
		for ev := range events {
			mu.Lock()
			if ev.Status.AppInstanceID == id && (len(seen) == 0 || seen[len(seen)-1] != ev.Status.Phase) {
				seen = append(seen, ev.Status.Phase)
			}
			mu.Unlock()
		}
	}()
	req := kubetest.Request(id, "local/mec-app:dev")
	req.Placement.NodeGroup = group
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	st, err := vim.WaitRunning(kubetest.Context(t, 60*time.Second), a, id)
	if err != nil {
		t.Fatalf("wait running: %v", err)
	}
	if !slices.Equal(st.Nodes, []string{node}) {
		t.Fatalf("got nodes %v; want the group's edge node %s", st.Nodes, node)
	}
	pods, _ := c.Kube.CoreV1().Pods(a.Namespace(id)).List(ctx, metav1.ListOptions{})
	spec := pods.Items[0].Spec
	if _, ok := spec.NodeSelector[kubernetes.LabelEdgeRole]; !ok || spec.NodeSelector[kubeedge.LabelNodeGroup] != group {
		t.Errorf("got nodeSelector %v; want edge role and group %s", spec.NodeSelector, group)
	}
	var unreachableTol bool
	for _, tol := range spec.Tolerations {
		if tol.Key == corev1.TaintNodeUnreachable && tol.TolerationSeconds == nil {
			unreachableTol = true
		}
	}
	if !unreachableTol {
		t.Errorf("got tolerations %+v; want an unlimited unreachable toleration", spec.Tolerations)
	}

	// The edge node goes offline: the instance is Unreachable, presumed running — not Failed.
	t0 := time.Now()
	setNotReady(t, c, node, true)
	waitNode(t, c, node, false)
	st, err = vim.WaitPhase(kubetest.Context(t, 60*time.Second), a, id, 100*time.Millisecond, vim.PhaseUnreachable)
	if err != nil {
		t.Fatalf("wait unreachable: %v (status %+v)", err, st)
	}
	if st.Err() != nil || st.Reasons[0].Code != "NodeUnreachable" {
		t.Errorf("got %+v, err %v; want NodeUnreachable with no error", st.Reasons, st.Err())
	}
	t.Logf("edge node offline → Unreachable in %v: %s", time.Since(t0).Round(time.Millisecond), st.Reasons[0].Message)
	caps, err := a.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range caps.Nodes {
		if n.Name == node && (n.Ready || n.Kind != vim.NodeEdge || n.Group != group) {
			t.Errorf("got node %+v; want a not-ready edge node in group %s", n, group)
		}
	}
	// The pod stays bound to the node (no eviction while offline).
	pods, _ = c.Kube.CoreV1().Pods(a.Namespace(id)).List(ctx, metav1.ListOptions{})
	if len(pods.Items) != 1 || pods.Items[0].DeletionTimestamp != nil {
		t.Errorf("got %d pods (deleting: %v); want the one pod kept", len(pods.Items), len(pods.Items) > 0 && pods.Items[0].DeletionTimestamp != nil)
	}

	// Back online: Running again.
	setNotReady(t, c, node, false)
	waitNode(t, c, node, true)
	if _, err := vim.WaitRunning(kubetest.Context(t, 60*time.Second), a, id); err != nil {
		t.Fatalf("wait running after reconnect: %v", err)
	}

	// The watch saw Running → Unreachable → Running.
	ok := func() bool {
		mu.Lock()
		defer mu.Unlock()
		i := slices.Index(seen, vim.PhaseUnreachable)
		return i >= 1 && slices.Contains(seen[:i], vim.PhaseRunning) && slices.Contains(seen[i:], vim.PhaseRunning)
	}
	for deadline := time.Now().Add(10 * time.Second); !ok() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !ok() {
		mu.Lock()
		t.Errorf("watch saw phases %v; want Running, Unreachable, Running", seen)
		mu.Unlock()
	}
}

func TestUnknownGroupUnschedulable(t *testing.T) {
	t.Parallel()
	a, _ := setup(t)
	ctx := kubetest.Context(t, time.Minute)
	id := kubetest.ID("kenogrp")
	kubetest.Cleanup(t, a, id)
	req := kubetest.Request(id, "local/mec-app:dev")
	req.Placement.NodeGroup = "no-such-group"
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := vim.WaitRunning(ctx, a, id); !errors.Is(err, vim.ErrUnschedulable) {
		t.Fatalf("got %v; want ErrUnschedulable", err)
	}
}

func TestDefaultEdgePlacement(t *testing.T) {
	t.Parallel()
	a, _ := setup(t)
	ctx := kubetest.Context(t, time.Minute)
	id := kubetest.ID("kedef")
	kubetest.Cleanup(t, a, id)
	// No group: any edge node; on site A that is kwok-edge-0 (or a test's own edge node).
	req := kubetest.Request(id, "local/mec-app:dev")
	req.Placement.NodeGroup = "edge-group-a"
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatal(err)
	}
	st, err := vim.WaitRunning(ctx, a, id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Nodes, []string{"kwok-edge-0"}) {
		t.Errorf("got nodes %v; want [kwok-edge-0]", st.Nodes)
	}
}
