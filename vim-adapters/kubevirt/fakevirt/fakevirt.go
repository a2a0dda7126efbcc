// Package fakevirt is a fake KubeVirt for tests on a plain Kubernetes control plane: it
// installs the CRDs generated from kubevirt.io/api (test/crds/kubevirt) and runs a small
// stand-in for virt-controller and virt-handler that moves VirtualMachines between Running
// and Stopped.
//
// The stand-in is deliberately simple: every 100 ms it lists the VMs; a VM that should run
// gets a VMI (from its template) with phase Running, a node and an interface IP, and the VM
// reports printableStatus Running; a halted VM loses its VMI and reports Stopped. The guest
// boots GuestBootTime after the VMI starts: then the VMI gets the AgentConnected condition,
// as virt-handler sets it when the guest agent connects, except for a containerDisk whose
// reference contains NoGuestMarker (a guest that never comes up). Like a real cluster it
// reports ErrImagePull for a containerDisk in the reserved `.invalid` domain (the registry
// does not exist) or under RateLimitedRegistry (the registry answers 429 Too Many Requests),
// and ErrorUnschedulable when no ready node has the memory or matches the node selector.
package fakevirt

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/kubevirt"
)

// Guest simulation and registry failures, see the package doc.
const (
	GuestBootTime       = 500 * time.Millisecond
	NoGuestMarker       = "no-guest-agent"
	RateLimitedRegistry = "registry.toomanyrequests.test/"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallCRDs applies every CRD in dir and waits until the VM and VMI resources are served.
func InstallCRDs(t testing.TB, ctx context.Context, c *kubernetes.Clients, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s: %v", dir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(b)), 4096).Decode(&m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		u := &unstructured.Unstructured{Object: m}
		if _, err := c.Dynamic.Resource(crdResource).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "edgemec-test", Force: true}); err != nil {
			t.Fatalf("apply CRD %s: %v", u.GetName(), err)
		}
	}
	// A CR can fail for up to ~2 s after its CRD is Established (k8s-testbed.md G4): wait
	// until listing works.
	for _, gvr := range []schema.GroupVersionResource{kubevirt.VMResource, kubevirt.VMIResource} {
		for {
			_, err := c.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s not served: %v", gvr.Resource, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	c.Mapper.Reset()
}

// Run plays virt-controller until ctx ends.
func Run(ctx context.Context, c *kubernetes.Clients) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = reconcileAll(ctx, c)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func reconcileAll(ctx context.Context, c *kubernetes.Clients) error {
	l, err := c.Dynamic.Resource(kubevirt.VMResource).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var errs []error
	for i := range l.Items {
		if err := reconcile(ctx, c, &l.Items[i], nodes.Items); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func wantsRun(vm *kubevirtv1.VirtualMachine) bool {
	if rs := vm.Spec.RunStrategy; rs != nil {
		return *rs == kubevirtv1.RunStrategyAlways || *rs == kubevirtv1.RunStrategyRerunOnFailure || *rs == kubevirtv1.RunStrategyOnce
	}
	return vm.Spec.Running != nil && *vm.Spec.Running
}

func reconcile(ctx context.Context, c *kubernetes.Clients, u *unstructured.Unstructured, nodes []corev1.Node) error {
	var vm kubevirtv1.VirtualMachine
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &vm); err != nil {
		return err
	}
	if vm.DeletionTimestamp != nil {
		return nil
	}
	vmis := c.Dynamic.Resource(kubevirt.VMIResource).Namespace(vm.Namespace)
	want := vm.Status
	want.PrintableStatus, want.Ready, want.Created, want.Conditions = kubevirtv1.VirtualMachineStatusStopped, false, false, nil
	if wantsRun(&vm) && vm.Spec.Template != nil {
		tpl := vm.Spec.Template
		node, why := place(tpl, nodes)
		switch {
		case strings.HasPrefix(image(tpl), RateLimitedRegistry):
			want.PrintableStatus = kubevirtv1.VirtualMachineStatusErrImagePull
			want.Conditions = []kubevirtv1.VirtualMachineCondition{{Type: kubevirtv1.VirtualMachineFailure, Status: corev1.ConditionTrue,
				Reason: "ErrImagePull", Message: fmt.Sprintf("failed to pull image %q: unexpected status code 429 Too Many Requests - Server message: toomanyrequests: pull rate limit", image(tpl))}}
		case strings.Contains(image(tpl), ".invalid/"):
			want.PrintableStatus = kubevirtv1.VirtualMachineStatusErrImagePull
			want.Conditions = []kubevirtv1.VirtualMachineCondition{{Type: kubevirtv1.VirtualMachineFailure, Status: corev1.ConditionTrue,
				Reason: "ErrImagePull", Message: fmt.Sprintf("failed to pull image %q: failed to resolve reference: no such host", image(tpl))}}
		case node == "":
			want.PrintableStatus = kubevirtv1.VirtualMachineStatusUnschedulable
			want.Conditions = []kubevirtv1.VirtualMachineCondition{{Type: kubevirtv1.VirtualMachineReady, Status: corev1.ConditionFalse,
				Reason: "Unschedulable", Message: why}}
		default:
			if err := ensureVMI(ctx, c, &vm, node); err != nil {
				return err
			}
			if err := bootGuest(ctx, c, &vm); err != nil {
				return err
			}
			want.PrintableStatus, want.Ready, want.Created = kubevirtv1.VirtualMachineStatusRunning, true, true
			want.Conditions = []kubevirtv1.VirtualMachineCondition{{Type: kubevirtv1.VirtualMachineReady, Status: corev1.ConditionTrue}}
		}
	}
	if want.PrintableStatus != kubevirtv1.VirtualMachineStatusRunning {
		if err := vmis.Delete(ctx, vm.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if vm.Status.PrintableStatus == want.PrintableStatus && vm.Status.Ready == want.Ready {
		return nil
	}
	vm.Status = want
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&vm)
	if err != nil {
		return err
	}
	_, err = c.Dynamic.Resource(kubevirt.VMResource).Namespace(vm.Namespace).UpdateStatus(ctx, &unstructured.Unstructured{Object: m}, metav1.UpdateOptions{})
	return err
}

func image(tpl *kubevirtv1.VirtualMachineInstanceTemplateSpec) string {
	for _, v := range tpl.Spec.Volumes {
		if v.ContainerDisk != nil {
			return v.ContainerDisk.Image
		}
	}
	return ""
}

// place picks the first ready node matching the template's node selector with the memory the
// VM requests, or says why none fits, in the scheduler's words.
func place(tpl *kubevirtv1.VirtualMachineInstanceTemplateSpec, nodes []corev1.Node) (string, string) {
	mem := tpl.Spec.Domain.Resources.Requests.Memory()
	var noMem, noMatch int
	for _, n := range nodes {
		if !kubernetes.NodeReady(&n) || n.Spec.Unschedulable || len(n.Spec.Taints) > 0 {
			noMatch++
			continue
		}
		match := true
		for k, v := range tpl.Spec.NodeSelector {
			match = match && n.Labels[k] == v
		}
		if !match {
			noMatch++
			continue
		}
		if n.Status.Allocatable.Memory().Cmp(*mem) < 0 {
			noMem++
			continue
		}
		return n.Name, ""
	}
	return "", fmt.Sprintf("0/%d nodes are available: %d Insufficient memory, %d node(s) didn't match Pod's node affinity/selector or had untolerated taints", len(nodes), noMem, noMatch)
}

func ensureVMI(ctx context.Context, c *kubernetes.Clients, vm *kubevirtv1.VirtualMachine, node string) error {
	r := c.Dynamic.Resource(kubevirt.VMIResource).Namespace(vm.Namespace)
	if _, err := r.Get(ctx, vm.Name, metav1.GetOptions{}); err == nil {
		return nil
	}
	h := fnv.New32a()
	h.Write([]byte(vm.Namespace + "/" + vm.Name))
	ip := fmt.Sprintf("10.201.%d.%d", h.Sum32()>>8&0xff, h.Sum32()&0xfd+1)
	vmi := &kubevirtv1.VirtualMachineInstance{
		TypeMeta:   metav1.TypeMeta{APIVersion: kubevirtv1.SchemeGroupVersion.String(), Kind: "VirtualMachineInstance"},
		ObjectMeta: metav1.ObjectMeta{Name: vm.Name, Namespace: vm.Namespace, Labels: vm.Spec.Template.ObjectMeta.Labels},
		Spec:       vm.Spec.Template.Spec,
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(vmi)
	if err != nil {
		return err
	}
	unstructured.RemoveNestedField(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	created, err := r.Create(ctx, &unstructured.Unstructured{Object: m}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(created.Object, vmi); err != nil {
		return err
	}
	vmi.Status = kubevirtv1.VirtualMachineInstanceStatus{
		Phase: kubevirtv1.Running, NodeName: node,
		Interfaces: []kubevirtv1.VirtualMachineInstanceNetworkInterface{{Name: "default", IP: ip, IPs: []string{ip}}},
		Conditions: []kubevirtv1.VirtualMachineInstanceCondition{{Type: kubevirtv1.VirtualMachineInstanceReady, Status: corev1.ConditionTrue}},
	}
	if m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(vmi); err != nil {
		return err
	}
	_, err = r.UpdateStatus(ctx, &unstructured.Unstructured{Object: m}, metav1.UpdateOptions{})
	return err
}

// bootGuest sets AgentConnected on a VMI GuestBootTime after its creation, unless its guest
// never comes up (NoGuestMarker).
func bootGuest(ctx context.Context, c *kubernetes.Clients, vm *kubevirtv1.VirtualMachine) error {
	if strings.Contains(image(vm.Spec.Template), NoGuestMarker) {
		return nil
	}
	r := c.Dynamic.Resource(kubevirt.VMIResource).Namespace(vm.Namespace)
	u, err := r.Get(ctx, vm.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var vmi kubevirtv1.VirtualMachineInstance
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &vmi); err != nil {
		return err
	}
	if time.Since(vmi.CreationTimestamp.Time) < GuestBootTime {
		return nil
	}
	for _, cd := range vmi.Status.Conditions {
		if cd.Type == kubevirtv1.VirtualMachineInstanceAgentConnected {
			return nil
		}
	}
	vmi.Status.Conditions = append(vmi.Status.Conditions, kubevirtv1.VirtualMachineInstanceCondition{
		Type: kubevirtv1.VirtualMachineInstanceAgentConnected, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&vmi)
	if err != nil {
		return err
	}
	_, err = r.UpdateStatus(ctx, &unstructured.Unstructured{Object: m}, metav1.UpdateOptions{})
	return err
}
