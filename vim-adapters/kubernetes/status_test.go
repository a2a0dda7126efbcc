package kubernetes

import (
	"errors"
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

// TestImagePullErrors: only a pull that cannot succeed is ErrImageMissing (Failed); a
// registry that times out or rate-limits leaves the instance Pending while the kubelet
// retries (issue 15 §6).
func TestImagePullErrors(t *testing.T) {
	tests := []struct {
		name, reason, message string
		want                  vim.Phase
		missing               bool
	}{
		{"not found", "ErrImagePull", `failed to pull and unpack image "reg.example/app:1": failed to resolve reference "reg.example/app:1": reg.example/app:1: not found`, vim.PhaseFailed, true},
		{"manifest unknown", "ErrImagePull", `rpc error: code = Unknown desc = Error response from daemon: manifest for reg.example/app:1 not found: manifest unknown`, vim.PhaseFailed, true},
		{"pull access denied", "ErrImagePull", `pull access denied for app, repository does not exist or may require 'docker login'`, vim.PhaseFailed, true},
		{"registry name does not resolve", "ErrImagePull", `failed to resolve reference "registry.invalid/app:1": lookup registry.invalid: no such host`, vim.PhaseFailed, true},
		{"invalid name", "InvalidImageName", `Failed to apply default image tag "App:1": couldn't parse image name`, vim.PhaseFailed, true},
		{"never pull", "ErrImageNeverPull", `Container image "app:1" is not present with pull policy of Never`, vim.PhaseFailed, true},
		{"429", "ErrImagePull", `failed to pull and unpack image "docker.io/library/app:1": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/app/manifests/sha256:5029ab: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit`, vim.PhasePending, false},
		{"registry timeout", "ErrImagePull", `failed to pull and unpack image "reg.example/app:1": failed to resolve reference "reg.example/app:1": failed to do request: Head "https://reg.example/v2/app/manifests/1": dial tcp 192.0.2.7:443: i/o timeout`, vim.PhasePending, false},
		{"context deadline", "ErrImagePull", `rpc error: code = DeadlineExceeded desc = context deadline exceeded`, vim.PhasePending, false},
		{"503 with not found", "ErrImagePull", `unexpected status from GET request to https://reg.example/v2/app/blobs/sha256:ab: 503 Service Unavailable: blob not found in cache`, vim.PhasePending, false},
		{"back-off after a timeout", "ImagePullBackOff", `Back-off pulling image "reg.example/app:1": ErrImagePull: dial tcp 192.0.2.7:443: connect: connection refused`, vim.PhasePending, false},
		{"back-off after not found", "ImagePullBackOff", `Back-off pulling image "reg.example/app:1": ErrImagePull: reg.example/app:1: not found`, vim.PhaseFailed, true},
		{"registry unavailable", "RegistryUnavailable", `registry unavailable`, vim.PhasePending, false},
		{"unknown cause", "ErrImagePull", `something odd happened`, vim.PhasePending, false},
	}
	a := &Adapter{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app-1", OwnerReferences: []metav1.OwnerReference{*rsOwner()}},
				Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "app",
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: tt.reason, Message: tt.message}}}}}}
			s := snapshot{ns: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mec-app1"}}, nodes: map[string]*corev1.Node{},
				deps: []appsv1.Deployment{deployment(1, 0, 1)}, pods: []corev1.Pod{p}}
			st := a.status("app1", &s)
			if st.Phase != tt.want {
				t.Errorf("phase: got %s (reasons %+v); want %s", st.Phase, st.Reasons, tt.want)
			}
			if got := errors.Is(st.Err(), vim.ErrImageMissing); got != tt.missing {
				t.Errorf("ErrImageMissing: got %v (%v); want %v", got, st.Err(), tt.missing)
			}
			if len(st.Reasons) == 0 || st.Reasons[0].Code != tt.reason || st.Reasons[0].Message != tt.message {
				t.Errorf("reasons %+v; want the first to carry %s and the kubelet's message", st.Reasons, tt.reason)
			}
		})
	}
}
