package kubernetes

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// The watch's caches keep what status reads and drop managed fields and node images.
func TestForCache(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "mec-a", Labels: map[string]string{LabelInstance: "a"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "edgemec", Operation: metav1.ManagedFieldsOperationApply}}},
		Spec:   corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	got, err := forCache(pod)
	require.NoError(t, err)
	p := got.(*corev1.Pod)
	assert.Nil(t, p.ManagedFields)
	assert.Equal(t, "a", p.Labels[LabelInstance])
	assert.Equal(t, "n1", p.Spec.NodeName)
	assert.Equal(t, corev1.PodRunning, p.Status.Phase)

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Images: []corev1.ContainerImage{{Names: []string{"registry/app:1"}, SizeBytes: 1 << 20}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	got, err = forCache(node)
	require.NoError(t, err)
	n := got.(*corev1.Node)
	assert.Empty(t, n.Status.Images)
	assert.True(t, NodeReady(n))
}

// Watches of adapters that reach one cluster with the same identity share one informer set;
// another identity gets its own; the last watch to end stops it. Each watch still gets every
// event.
func TestWatchesShareInformers(t *testing.T) {
	kube := fake.NewClientset()
	clients := func(token string) *Clients {
		return &Clients{Kube: kube, Config: &rest.Config{Host: "https://plane.test:6443", BearerToken: token}}
	}
	adapter := func(site string, c *Clients) *Adapter {
		a, err := New(Config{Site: site, Clients: Static(c), Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		return a
	}
	sets := func() map[string]int {
		informerSets.Lock()
		defer informerSets.Unlock()
		out := map[string]int{}
		for k, s := range informerSets.m {
			out[k[:8]] = s.refs
		}
		return out
	}
	require.Empty(t, sets())

	ctxA, cancelA := context.WithCancel(t.Context())
	ctxB, cancelB := context.WithCancel(t.Context())
	ctxC, cancelC := context.WithCancel(t.Context())
	defer cancelA()
	defer cancelB()
	defer cancelC()
	evA, err := adapter("site-a", clients("t1")).Watch(ctxA)
	require.NoError(t, err)
	evB, err := adapter("site-b", clients("t1")).Watch(ctxB)
	require.NoError(t, err)
	evC, err := adapter("site-c", clients("t2")).Watch(ctxC)
	require.NoError(t, err)
	got := sets()
	require.Len(t, got, 2, "one set per identity")
	refs := []int{}
	for _, r := range got {
		refs = append(refs, r)
	}
	assert.ElementsMatch(t, []int{2, 1}, refs)

	_, err = kube.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mec-app1",
		Labels: map[string]string{LabelInstance: "app1", LabelManagedBy: ManagedBy}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	for name, ch := range map[string]<-chan vim.Event{"a": evA, "b": evB, "c": evC} {
		select {
		case ev := <-ch:
			assert.Equal(t, "app1", ev.Status.AppInstanceID, name)
		case <-time.After(10 * time.Second):
			t.Fatalf("watch %s got no event", name)
		}
	}

	cancelA()
	for range evA {
	}
	require.Eventually(t, func() bool { return len(sets()) == 2 && slices.Contains(slices.Collect(maps.Values(sets())), 1) }, 5*time.Second, 10*time.Millisecond)
	cancelB()
	for range evB {
	}
	cancelC()
	for range evC {
	}
	require.Eventually(t, func() bool { return len(sets()) == 0 }, 5*time.Second, 10*time.Millisecond, "the last release stops the sets")
}
