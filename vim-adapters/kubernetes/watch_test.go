package kubernetes

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
