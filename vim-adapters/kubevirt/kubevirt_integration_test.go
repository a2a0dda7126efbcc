//go:build integration

package kubevirt_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/edgemec/edgemec/vim-adapters/internal/kubetest"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/kubevirt"
	"github.com/edgemec/edgemec/vim-adapters/kubevirt/fakevirt"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

var once sync.Once

// setup installs the generated KubeVirt CRDs on site A and starts the stand-in
// virt-controller (once per test binary).
func setup(t *testing.T) (*kubevirt.Adapter, *kubernetes.Clients) {
	t.Helper()
	c, err := kubernetes.NewClients(kubetest.RESTConfig(t, kubetest.EnvKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	once.Do(func() {
		fakevirt.InstallCRDs(t, kubetest.Context(t, time.Minute), c, "../../test/crds/kubevirt")
		go fakevirt.Run(context.Background(), c)
	})
	a, err := kubevirt.New(kubevirt.Config{Site: "site-a", Clients: kubernetes.Static(c)})
	if err != nil {
		t.Fatal(err)
	}
	return a, c
}

func vmRequest(id string) vim.DeployRequest {
	req := kubetest.Request(id, "registry.mec.example/vm-images/mec-app:1.0")
	req.Image.DiskFormat = "qcow2"
	req.Compute = vim.VirtualCompute{VirtualCPUs: 1.5, MemoryMiB: 1024}
	req.Artifacts.Ports = []vim.Port{{Name: "http", Port: 8080}}
	return req
}

// TestContract runs the vim.VIM contract suite on site A with fakevirt.
func TestContract(t *testing.T) {
	t.Parallel()
	a, c := setup(t)
	opts := kubetest.Contract(c.Kube, vim.KindKubeVirt, a.Namespace)
	opts.Request = vmRequest
	vimtest.Run(t, func(*testing.T) vim.VIM { return a }, opts)
}

// TestVM checks what the contract does not: the VirtualMachine (cores, memory, one
// generation for two identical deploys), its cloud-init Mp1 access, and the endpoints.
func TestVM(t *testing.T) {
	t.Parallel()
	a, c := setup(t)
	ctx := kubetest.Context(t, 2*time.Minute)
	id := kubetest.ID("vm")
	kubetest.Cleanup(t, a, id)
	req := vmRequest(id)
	for range 2 { // idempotent
		if err := a.Deploy(ctx, req); err != nil {
			t.Fatalf("deploy: %v", err)
		}
	}
	st, err := vim.WaitRunning(kubetest.Context(t, 60*time.Second), a, id)
	if err != nil {
		t.Fatalf("wait running: %v", err)
	}
	var vmEP, svcEP bool
	for _, e := range st.Endpoints {
		vmEP = vmEP || e.Kind == "VM" && strings.HasPrefix(e.Address, "10.201.")
		svcEP = svcEP || e.Kind == "ClusterIP" && e.Port == 8080
	}
	if !vmEP || !svcEP || len(st.Nodes) != 1 {
		t.Errorf("got endpoints %+v nodes %v; want the VM's IP, a ClusterIP:8080 and one node", st.Endpoints, st.Nodes)
	}

	u, err := c.Dynamic.Resource(kubevirt.VMResource).Namespace(a.Namespace(id)).Get(ctx, kubevirt.VMName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var vm kubevirtv1.VirtualMachine
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &vm); err != nil {
		t.Fatal(err)
	}
	if vm.Generation != 1 {
		t.Errorf("got generation %d after two identical deploys; want 1", vm.Generation)
	}
	dom := vm.Spec.Template.Spec.Domain
	if dom.CPU.Cores != 2 || dom.Resources.Requests.Memory().Value() != 1024<<20 {
		t.Errorf("got %d cores, %v memory; want 2 cores (1.5 rounded up) and 1Gi", dom.CPU.Cores, dom.Resources.Requests.Memory())
	}
	sec, err := c.Kube.CoreV1().Secrets(a.Namespace(id)).Get(ctx, kubernetes.Mp1SecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ud := string(sec.Data["userdata"]); !strings.HasPrefix(ud, "#cloud-config") || !strings.Contains(ud, kubernetes.EnvMEPEndpoint+"="+req.MEP.Endpoint) {
		t.Errorf("got cloud-init user data %q; want the MEP endpoint", ud)
	}
}

func TestVMFailures(t *testing.T) {
	t.Parallel()
	a, _ := setup(t)
	tests := []struct {
		name string
		mut  func(*vim.DeployRequest)
		want error
	}{
		{"unschedulable", func(r *vim.DeployRequest) { r.Compute.MemoryMiB = 1 << 20 }, vim.ErrUnschedulable},
		{"no image", func(r *vim.DeployRequest) { r.Image.Ref = "" }, vim.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := kubetest.Context(t, time.Minute)
			id := kubetest.ID("vmfail")
			kubetest.Cleanup(t, a, id)
			req := vmRequest(id)
			tt.mut(&req)
			err := a.Deploy(ctx, req)
			if err == nil {
				_, err = vim.WaitRunning(ctx, a, id)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v; want %v", err, tt.want)
			}
			t.Logf("%s: %v", tt.name, err)
		})
	}
}

// TestVMGuestAndRegistry: a VM whose hypervisor runs but whose guest never comes up (no agent
// connects) stays Pending, and a containerDisk registry answering 429 leaves the VM Pending
// without ErrImageMissing, while the kubelet retries (issue 15 §6).
func TestVMGuestAndRegistry(t *testing.T) {
	t.Parallel()
	a, c := setup(t)
	tests := []struct {
		name, image, code string
	}{
		{"guest never up", "registry.example/edgemec/" + fakevirt.NoGuestMarker + ":1", "GuestStarting"},
		{"registry rate limit", fakevirt.RateLimitedRegistry + "edgemec/vm:1", string(kubevirtv1.VirtualMachineStatusErrImagePull)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := kubetest.Context(t, time.Minute)
			id := kubetest.ID("vmguest")
			kubetest.Cleanup(t, a, id)
			req := vmRequest(id)
			req.Image.Ref = tt.image
			if err := a.Deploy(ctx, req); err != nil {
				t.Fatalf("deploy: %v", err)
			}
			// Long enough for fakevirt to start the VM and boot a guest that can boot.
			wctx, cancel := context.WithTimeout(ctx, 4*fakevirt.GuestBootTime+2*time.Second)
			defer cancel()
			st, err := vim.WaitRunning(wctx, a, id)
			if err == nil || errors.Is(err, vim.ErrImageMissing) || errors.Is(err, vim.ErrFailed) {
				t.Fatalf("wait running: got %v (%s); want a timeout with the instance Pending", err, st.Phase)
			}
			st, err = a.Status(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Phase != vim.PhasePending || len(st.Reasons) == 0 || st.Reasons[0].Code != tt.code || st.Err() != nil {
				t.Errorf("status: got %s %+v (err %v); want Pending for %s with no error", st.Phase, st.Reasons, st.Err(), tt.code)
			}
			if tt.code == "GuestStarting" {
				u, err := c.Dynamic.Resource(kubevirt.VMResource).Namespace(a.Namespace(id)).Get(ctx, kubevirt.VMName, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if ps, _, _ := unstructured.NestedString(u.Object, "status", "printableStatus"); ps != string(kubevirtv1.VirtualMachineStatusRunning) {
					t.Errorf("VM printableStatus %q; want Running (the hypervisor runs it)", ps)
				}
			}
		})
	}
}
