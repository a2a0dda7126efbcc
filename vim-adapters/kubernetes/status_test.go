package kubernetes

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// readyPod, failedPod and deployment build the objects of snapshots for (*Adapter).status.
func readyPod(name string, owner *metav1.OwnerReference) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

func failedPod(name, reason string, owner *metav1.OwnerReference) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: reason}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

func rsOwner() *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "app-5d9", UID: "u1", Controller: &yes}
}

func deployment(replicas, ready, updated int32) appsv1.Deployment {
	return appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "app", Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: &replicas},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, ReadyReplicas: ready, UpdatedReplicas: updated, Replicas: replicas}}
}

func TestStatusPhases(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mec-app1"}}
	tests := []struct {
		name string
		s    snapshot
		want vim.Phase
		code string // first reason's code, when not Running
	}{
		{"deployment ready", snapshot{deps: []appsv1.Deployment{deployment(1, 1, 1)}, pods: []corev1.Pod{readyPod("app-1", rsOwner())}}, vim.PhaseRunning, ""},
		{"an evicted pod its ReplicaSet replaced", snapshot{deps: []appsv1.Deployment{deployment(1, 1, 1)},
			pods: []corev1.Pod{readyPod("app-2", rsOwner()), failedPod("app-1", "Evicted", rsOwner())}}, vim.PhaseRunning, ""},
		{"a bare pod failed", snapshot{pods: []corev1.Pod{failedPod("app", "Error", nil)}}, vim.PhaseFailed, "Error"},
		{"a rollout under way", snapshot{deps: []appsv1.Deployment{deployment(1, 1, 0)}, pods: []corev1.Pod{readyPod("app-1", rsOwner())}}, vim.PhasePending, "RollingOut"},
		{"a daemon set on no node", snapshot{dss: []appsv1.DaemonSet{{ObjectMeta: metav1.ObjectMeta{Name: "agent"}}}}, vim.PhasePending, "NoEligibleNodes"},
		{"a stateful set not yet observed", snapshot{sts: []appsv1.StatefulSet{{ObjectMeta: metav1.ObjectMeta{Name: "db", Generation: 3},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(1))}, Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 1}}}}, vim.PhasePending, "NotReady"},
		{"a stateful set rolling out", snapshot{sts: []appsv1.StatefulSet{{ObjectMeta: metav1.ObjectMeta{Name: "db", Generation: 3},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(2))}, Status: appsv1.StatefulSetStatus{ObservedGeneration: 3, ReadyReplicas: 2,
				UpdatedReplicas: 1, CurrentRevision: "db-1", UpdateRevision: "db-2"}}}}, vim.PhasePending, "RollingOut"},
	}
	a := &Adapter{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.ns = ns
			tt.s.nodes = map[string]*corev1.Node{}
			st := a.status("app1", &tt.s)
			if st.Phase != tt.want {
				t.Fatalf("phase %s (reasons %+v); want %s", st.Phase, st.Reasons, tt.want)
			}
			if tt.code != "" && (len(st.Reasons) == 0 || st.Reasons[0].Code != tt.code) {
				t.Errorf("reasons %+v; want the first to be %s", st.Reasons, tt.code)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
