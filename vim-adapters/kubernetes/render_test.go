package kubernetes

import (
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/edgemec/edgemec/vim-adapters/internal/kubetest"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

func TestRenderChart(t *testing.T) {
	req := kubetest.Request("a1", "")
	req.Artifacts.Chart = kubetest.PackChart(t, "testdata/mec-app")
	req.Params = map[string]string{"replicaCount": "3", "image.tag": "v2"}
	objs, err := render(&req, "mec-a1", "v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
	}
	if kinds["Deployment"] != 1 || kinds["Service"] != 1 || kinds["ConfigMap"] != 1 || kinds["Pod"] != 0 {
		t.Fatalf("got kinds %v; want one Deployment, Service, ConfigMap and no test hook pod", kinds)
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			t.Fatal(err)
		}
		if got := *d.Spec.Replicas; got != 3 {
			t.Errorf("got replicas %d; want 3", got)
		}
		c := d.Spec.Template.Spec.Containers[0]
		if c.Image != "local/mec-app:v2" {
			t.Errorf("got image %q; want local/mec-app:v2", c.Image)
		}
		if c.Env[0].Value != req.MEP.Endpoint {
			t.Errorf("got MEP_FROM_VALUES %q; want %q", c.Env[0].Value, req.MEP.Endpoint)
		}
	}
}

func TestPrepare(t *testing.T) {
	a, err := New(Config{Clients: Static(&Clients{})})
	if err != nil {
		t.Fatal(err)
	}
	req := kubetest.Request("a2", "local/app:dev")
	req.Compute = vim.VirtualCompute{VirtualCPUs: 0.5, MemoryMiB: 128, CPUArchitecture: "aarch64"}
	req.Placement = vim.Placement{NodeKind: vim.NodeEdge, NodeGroup: "g1", RuntimeClassName: "kata"}
	objs, err := render(&req, "mec-a2", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.prepare(&req, "mec-a2", objs[0]); err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, &d); err != nil {
		t.Fatal(err)
	}
	s := d.Spec.Template.Spec
	c := s.Containers[0]
	if got := c.Resources.Requests.Cpu().MilliValue(); got != 500 {
		t.Errorf("got cpu request %dm; want 500m", got)
	}
	if got := c.Resources.Limits.Memory().Value(); got != 128<<20 {
		t.Errorf("got memory limit %d; want %d", got, 128<<20)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != Mp1SecretName {
		t.Errorf("got envFrom %v; want secret %s", c.EnvFrom, Mp1SecretName)
	}
	want := map[string]string{LabelArch: "arm64", LabelEdgeRole: "", LabelNodeGroup: "g1"}
	for k, v := range want {
		if got, ok := s.NodeSelector[k]; !ok || got != v {
			t.Errorf("got nodeSelector[%s]=%q; want %q", k, got, v)
		}
	}
	if s.RuntimeClassName == nil || *s.RuntimeClassName != "kata" {
		t.Errorf("got runtimeClassName %v; want kata", s.RuntimeClassName)
	}
	if len(s.Tolerations) != 1 || s.Tolerations[0].Key != LabelEdgeRole {
		t.Errorf("got tolerations %v; want the edge toleration", s.Tolerations)
	}
	if d.Spec.Template.Labels[LabelInstance] != "a2" || d.Labels[LabelInstance] != "a2" {
		t.Errorf("instance label missing: %v / %v", d.Labels, d.Spec.Template.Labels)
	}
	if d.Namespace != "mec-a2" {
		t.Errorf("got namespace %q; want mec-a2", d.Namespace)
	}
}

func TestRenderInvalid(t *testing.T) {
	tests := []struct {
		name string
		art  vim.Artifacts
	}{
		{"empty", vim.Artifacts{}},
		{"bad chart", vim.Artifacts{Chart: []byte("not a tgz")}},
		{"bad yaml", vim.Artifacts{Manifests: []byte("kind: [")}},
		{"no name", vim.Artifacts{Manifests: []byte("apiVersion: v1\nkind: ConfigMap\n")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := vim.DeployRequest{AppInstanceID: "x", AppDID: "d", Artifacts: tt.art}
			if _, err := render(&req, "mec-x", ""); err == nil {
				t.Fatal("got no error; want one")
			}
		})
	}
}

func TestStatusRules(t *testing.T) {
	a, _ := New(Config{Clients: Static(&Clients{})})
	one := int32(1)
	dep := appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &one}}
	ready := corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	ready.Name = "n1"
	pod := func(mut func(*corev1.Pod)) corev1.Pod {
		p := corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
		p.Name = "p"
		mut(&p)
		return p
	}
	tests := []struct {
		name  string
		pods  []corev1.Pod
		ready int32
		want  vim.Phase
		err   error
	}{
		{"running", nil, 1, vim.PhaseRunning, nil},
		{"image", []corev1.Pod{pod(func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull",
				Message: `failed to pull and unpack image "reg.example/c:1": reg.example/c:1: not found`}}}}
		})}, 0, vim.PhaseFailed, vim.ErrImageMissing},
		{"unschedulable", []corev1.Pod{pod(func(p *corev1.Pod) {
			p.Spec.NodeName = ""
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
		})}, 0, vim.PhasePending, vim.ErrUnschedulable},
		{"creating", []corev1.Pod{pod(func(p *corev1.Pod) {})}, 0, vim.PhasePending, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dep
			d.Status.ReadyReplicas = tt.ready
			d.Status.UpdatedReplicas = one // no rollout under way (see TestStatusPhases)
			s := &snapshot{ns: &corev1.Namespace{}, deps: []appsv1.Deployment{d}, pods: tt.pods, nodes: map[string]*corev1.Node{"n1": &ready}}
			st := a.status("x", s)
			if st.Phase != tt.want {
				t.Fatalf("got phase %s (%v); want %s", st.Phase, st.Reasons, tt.want)
			}
			if err := st.Err(); (tt.err == nil) != (err == nil) || tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("got err %v; want %v", err, tt.err)
			}
		})
	}
}
