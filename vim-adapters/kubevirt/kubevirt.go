// Package kubevirt is the VIM adapter for VM workloads on KubeVirt: each app instance is a
// kubevirt.io/v1 VirtualMachine in its own namespace, built from the AppD's
// swImageDescriptor and virtualComputeDescriptor.
//
//   - The VM boots from a containerDisk holding swImage (an OCI image wrapping the qcow2/raw
//     disk, KubeVirt's registry-distributed disk format).
//   - CPU cores and guest memory come from the virtualComputeDescriptor (numVirtualCpu
//     rounded up to whole cores; virtualMemSize in MiB, at least swImage's minRam).
//   - Mp1 access reaches the guest through cloud-init (NoCloud): the Secret "edgemec-mp1"
//     holds user data that writes /etc/edgemec/mp1.env with the MEP endpoint, the instance id
//     and the client credentials.
//   - Ports declared in the package get a Service selecting the VM's pod (virt-launcher
//     carries the template labels).
//   - Start and Stop set spec.runStrategy to Always or Halted; Terminate deletes the namespace.
//   - Status reads the VM's printableStatus and the VMI's interfaces (the VM's IP addresses).
//
// KubeVirt itself (virt-operator, virt-controller, virt-handler) is not part of the test
// bed: the CRDs are generated from the kubevirt.io/api types (test/crds/kubevirt) and
// package fakevirt plays virt-controller.
package kubevirt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Resources of the KubeVirt API the adapter uses.
var (
	VMResource  = kubevirtv1.SchemeGroupVersion.WithResource("virtualmachines")
	VMIResource = kubevirtv1.SchemeGroupVersion.WithResource("virtualmachineinstances")
)

var _ vim.VIM = (*Adapter)(nil)

// Config configures an Adapter for one site.
type Config struct {
	Site string
	// Clients returns the site's API clients. Required.
	Clients kubernetes.ClientsFunc
	// NamespacePrefix prefixes the instance id to name its namespace. Default "mec-".
	NamespacePrefix string
	// Logger receives the adapter's logs. Default slog.Default().
	Logger *slog.Logger
}

// Adapter is the KubeVirt VIM adapter for one site.
type Adapter struct {
	site    string
	clients kubernetes.ClientsFunc
	prefix  string
	log     *slog.Logger
}

const manager = "edgemec"

// VMName is the name of every instance's VirtualMachine (one per namespace).
const VMName = "vm"

// New returns an Adapter for cfg.
func New(cfg Config) (*Adapter, error) {
	if cfg.Clients == nil {
		return nil, errors.New("kubevirt adapter: Clients is required")
	}
	a := &Adapter{site: cfg.Site, clients: cfg.Clients, prefix: cfg.NamespacePrefix, log: cfg.Logger}
	if a.prefix == "" {
		a.prefix = "mec-"
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With(logkeys.Site, cfg.Site, logkeys.Kind, string(vim.KindKubeVirt))
	return a, nil
}

// Namespace returns the namespace of an app instance.
func (a *Adapter) Namespace(id string) string { return a.prefix + id }

func (a *Adapter) get(ctx context.Context, op, id string) (*kubernetes.Clients, error) {
	c, err := a.clients(ctx)
	if err != nil {
		return nil, &vim.Error{Op: op, AppInstanceID: id, Err: vim.ErrUnavailable, Detail: "site " + a.site + " clients", Cause: err}
	}
	return c, nil
}

// VM builds the VirtualMachine for req in namespace ns.
func VM(req *vim.DeployRequest, ns string) (*kubevirtv1.VirtualMachine, error) {
	if req.Image.Ref == "" {
		return nil, errors.New("swImageDescriptor has no swImage")
	}
	cores := uint32(max(1, math.Ceil(req.Compute.VirtualCPUs)))
	memMiB := max(req.Compute.MemoryMiB, req.Image.MinRAMMiB, 64)
	always := kubevirtv1.RunStrategyAlways
	labels := kubernetes.InstanceLabels(req)
	return &kubevirtv1.VirtualMachine{
		TypeMeta:   metav1.TypeMeta{APIVersion: kubevirtv1.SchemeGroupVersion.String(), Kind: "VirtualMachine"},
		ObjectMeta: metav1.ObjectMeta{Name: VMName, Namespace: ns, Labels: labels, Annotations: map[string]string{kubernetes.AnnotAppD: req.AppDID}},
		Spec: kubevirtv1.VirtualMachineSpec{
			RunStrategy: &always,
			Template: &kubevirtv1.VirtualMachineInstanceTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: kubevirtv1.VirtualMachineInstanceSpec{
					Domain: kubevirtv1.DomainSpec{
						CPU: &kubevirtv1.CPU{Cores: cores},
						Resources: kubevirtv1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceMemory: *resource.NewQuantity(memMiB<<20, resource.BinarySI),
						}},
						Devices: kubevirtv1.Devices{
							Disks: []kubevirtv1.Disk{
								{Name: "rootdisk", DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBusVirtio}}},
								{Name: "cloudinit", DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBusVirtio}}},
							},
							Interfaces: []kubevirtv1.Interface{{Name: "default", InterfaceBindingMethod: kubevirtv1.InterfaceBindingMethod{Masquerade: &kubevirtv1.InterfaceMasquerade{}}}},
						},
					},
					Networks: []kubevirtv1.Network{{Name: "default", NetworkSource: kubevirtv1.NetworkSource{Pod: &kubevirtv1.PodNetwork{}}}},
					Volumes: []kubevirtv1.Volume{
						{Name: "rootdisk", VolumeSource: kubevirtv1.VolumeSource{ContainerDisk: &kubevirtv1.ContainerDiskSource{Image: req.Image.Ref}}},
						{Name: "cloudinit", VolumeSource: kubevirtv1.VolumeSource{CloudInitNoCloud: &kubevirtv1.CloudInitNoCloudSource{
							UserDataSecretRef: &corev1.LocalObjectReference{Name: kubernetes.Mp1SecretName},
						}}},
					},
					NodeSelector: nodeSelector(req),
				},
			},
		},
	}, nil
}

func nodeSelector(req *vim.DeployRequest) map[string]string {
	sel := map[string]string{}
	for k, v := range req.Placement.NodeSelector {
		sel[k] = v
	}
	switch req.Compute.CPUArchitecture {
	case "x86_64", "amd64":
		sel[kubernetes.LabelArch] = "amd64"
	case "aarch64", "arm64":
		sel[kubernetes.LabelArch] = "arm64"
	}
	if len(sel) == 0 {
		return nil
	}
	return sel
}

// UserData is the cloud-init user data that hands the guest its Mp1 access.
func UserData(req *vim.DeployRequest) string {
	return fmt.Sprintf("#cloud-config\nwrite_files:\n- path: /etc/edgemec/mp1.env\n  permissions: '0600'\n  content: |\n"+
		"    %s=%s\n    %s=%s\n    %s=%s\n    %s=%s\n    %s=%s\n",
		kubernetes.EnvMEPEndpoint, req.MEP.Endpoint, kubernetes.EnvInstanceID, req.AppInstanceID, kubernetes.EnvAppDID, req.AppDID,
		kubernetes.EnvClientID, req.MEP.ClientID, kubernetes.EnvClientSecret, req.MEP.ClientSecret)
}

func toUnstructured(o runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	unstructured.RemoveNestedField(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(m, "spec", "template", "metadata", "creationTimestamp")
	return &unstructured.Unstructured{Object: m}, nil
}

// Deploy implements vim.VIM: namespace, Mp1 Secret (cloud-init user data), VirtualMachine
// and, for declared ports, a Service — all by server-side apply, so it converges.
func (a *Adapter) Deploy(ctx context.Context, req vim.DeployRequest) error {
	const op = "deploy"
	if err := req.Validate(); err != nil {
		return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: err}
	}
	ns := a.Namespace(req.AppInstanceID)
	vm, err := VM(&req, ns)
	if err != nil {
		return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: vim.ErrInvalid, Cause: err}
	}
	c, err := a.get(ctx, op, req.AppInstanceID)
	if err != nil {
		return err
	}
	if len(ns) > 63 {
		return vim.Errorf(op, req.AppInstanceID, vim.ErrInvalid, "namespace %q longer than 63 characters", ns)
	}
	if err := kubernetes.ClaimNamespace(ctx, c, op, ns, req.AppInstanceID); err != nil {
		return err
	}
	labels := kubernetes.InstanceLabels(&req)
	nsObj := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels, Annotations: map[string]string{kubernetes.AnnotAppD: req.AppDID, kubernetes.AnnotAppName: req.AppName}}}
	sec := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: kubernetes.Mp1SecretName, Namespace: ns, Labels: labels},
		StringData: map[string]string{"userdata": UserData(&req)}}
	objs := []runtime.Object{nsObj, sec, vm}
	if len(req.Artifacts.Ports) > 0 {
		svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: VMName, Namespace: ns, Labels: labels},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{kubernetes.LabelInstance: req.AppInstanceID}}}
		for _, p := range req.Artifacts.Ports {
			proto := corev1.ProtocolTCP
			if p.Protocol == "UDP" {
				proto = corev1.ProtocolUDP
			}
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.Name, Port: p.Port, TargetPort: intstr.FromInt32(p.Port), Protocol: proto})
		}
		objs = append(objs, svc)
	}
	for _, o := range objs {
		u, err := toUnstructured(o)
		if err != nil {
			return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: vim.ErrInvalid, Cause: err}
		}
		gvr := corev1.SchemeGroupVersion.WithResource(map[string]string{"Namespace": "namespaces", "Secret": "secrets", "Service": "services"}[u.GetKind()])
		if u.GetKind() == "VirtualMachine" {
			gvr = VMResource
		}
		if err := kubernetes.Apply(ctx, c, gvr, u, manager); err != nil {
			return kubernetes.Wrap(op, req.AppInstanceID, err, "apply "+u.GetKind())
		}
	}
	a.log.InfoContext(ctx, "vm instance deployed", logkeys.AppInstanceID, req.AppInstanceID, logkeys.Name, ns)
	return nil
}

// Start implements vim.VIM (runStrategy Always).
func (a *Adapter) Start(ctx context.Context, id string) error {
	return a.runStrategy(ctx, "start", id, kubevirtv1.RunStrategyAlways)
}

// Stop implements vim.VIM (runStrategy Halted).
func (a *Adapter) Stop(ctx context.Context, id string) error {
	return a.runStrategy(ctx, "stop", id, kubevirtv1.RunStrategyHalted)
}

func (a *Adapter) runStrategy(ctx context.Context, op, id string, rs kubevirtv1.VirtualMachineRunStrategy) error {
	if err := vim.ValidateID(id); err != nil {
		return &vim.Error{Op: op, AppInstanceID: id, Err: err}
	}
	c, err := a.get(ctx, op, id)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kubevirtv1.SchemeGroupVersion.String(), "kind": "VirtualMachine",
		"metadata": map[string]any{"name": VMName, "namespace": a.Namespace(id)},
		"spec":     map[string]any{"runStrategy": string(rs)},
	}}
	// A namespace someone else made is left alone, whatever it holds.
	if exists, err := kubernetes.NamespaceOf(ctx, c, op, a.Namespace(id), id); err != nil {
		return err
	} else if !exists {
		return vim.Errorf(op, id, vim.ErrNotFound, "namespace %s not found", a.Namespace(id))
	}
	if _, err := c.Dynamic.Resource(VMResource).Namespace(a.Namespace(id)).Get(ctx, VMName, metav1.GetOptions{}); err != nil {
		return kubernetes.Wrap(op, id, err, "get vm")
	}
	if err := kubernetes.Apply(ctx, c, VMResource, u, manager+"-lifecycle"); err != nil {
		return kubernetes.Wrap(op, id, err, "set runStrategy")
	}
	a.log.InfoContext(ctx, "vm instance state changed", logkeys.AppInstanceID, id, logkeys.Status, op)
	return nil
}

// Terminate implements vim.VIM: it deletes the instance's namespace; gone succeeds.
func (a *Adapter) Terminate(ctx context.Context, id string) error {
	const op = "terminate"
	if err := vim.ValidateID(id); err != nil {
		return &vim.Error{Op: op, AppInstanceID: id, Err: err}
	}
	c, err := a.get(ctx, op, id)
	if err != nil {
		return err
	}
	ns := a.Namespace(id)
	exists, err := kubernetes.NamespaceOf(ctx, c, op, ns, id)
	if err != nil || !exists {
		return err
	}
	bg := metav1.DeletePropagationBackground
	if err := c.Kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
		return kubernetes.Wrap(op, id, err, "delete namespace")
	}
	return nil
}

// Status implements vim.VIM from the VM's printableStatus and its VMI.
func (a *Adapter) Status(ctx context.Context, id string) (vim.Status, error) {
	const op = "status"
	if err := vim.ValidateID(id); err != nil {
		return vim.Status{}, &vim.Error{Op: op, AppInstanceID: id, Err: err}
	}
	c, err := a.get(ctx, op, id)
	if err != nil {
		return vim.Status{}, err
	}
	ns := a.Namespace(id)
	nsObj, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return vim.Status{}, kubernetes.Wrap(op, id, err, "namespace "+ns)
	}
	st := vim.Status{AppInstanceID: id, Observed: time.Now(), Desired: 1}
	if nsObj.DeletionTimestamp != nil {
		st.Phase = vim.PhaseTerminating
		return st, nil
	}
	u, err := c.Dynamic.Resource(VMResource).Namespace(ns).Get(ctx, VMName, metav1.GetOptions{})
	if err != nil {
		return vim.Status{}, kubernetes.Wrap(op, id, err, "get vm")
	}
	var vm kubevirtv1.VirtualMachine
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &vm); err != nil {
		return vim.Status{}, &vim.Error{Op: op, AppInstanceID: id, Err: vim.ErrFailed, Cause: err}
	}
	var vmi *kubevirtv1.VirtualMachineInstance
	if u, err := c.Dynamic.Resource(VMIResource).Namespace(ns).Get(ctx, VMName, metav1.GetOptions{}); err == nil {
		vmi = &kubevirtv1.VirtualMachineInstance{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, vmi); err != nil {
			vmi = nil
		}
	}
	var svcs []corev1.Service
	if l, err := c.Kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}); err == nil {
		svcs = l.Items
	}
	vmStatus(&st, &vm, vmi, svcs)
	return st, nil
}

// guestUp reports whether vmi's guest has come up: its guest agent connected, or it has a
// readiness probe and is Ready.
func guestUp(vmi *kubevirtv1.VirtualMachineInstance) bool {
	if vmi == nil || vmi.DeletionTimestamp != nil {
		return false
	}
	for _, c := range vmi.Status.Conditions {
		switch {
		case c.Type == kubevirtv1.VirtualMachineInstanceAgentConnected && c.Status == corev1.ConditionTrue:
			return true
		case c.Type == kubevirtv1.VirtualMachineInstanceReady && c.Status == corev1.ConditionTrue && vmi.Spec.ReadinessProbe != nil:
			return true
		}
	}
	return false
}

// vmStatus maps a VM's printableStatus (KubeVirt's summary) to a vim phase and reasons.
func vmStatus(st *vim.Status, vm *kubevirtv1.VirtualMachine, vmi *kubevirtv1.VirtualMachineInstance, svcs []corev1.Service) {
	ps := vm.Status.PrintableStatus
	halted := vm.Spec.RunStrategy != nil && *vm.Spec.RunStrategy == kubevirtv1.RunStrategyHalted
	reason := vim.Reason{Code: string(ps), Object: "vm/" + vm.Name}
	for _, c := range vm.Status.Conditions {
		if c.Message != "" && (c.Type == kubevirtv1.VirtualMachineFailure || c.Status == corev1.ConditionFalse) {
			reason.Message = c.Message
		}
	}
	switch ps {
	case kubevirtv1.VirtualMachineStatusRunning:
		// The hypervisor runs the VM; the guest is up only once its agent connected or, for
		// a VM with a readiness probe (the guest's heartbeat), the probe passed.
		if !guestUp(vmi) {
			st.Phase, st.Reasons = vim.PhasePending, []vim.Reason{{Code: "GuestStarting", Object: "vm/" + vm.Name,
				Message: "the VM runs; its guest agent has not connected yet (nor has a readiness probe passed)"}}
			break
		}
		st.Phase = vim.PhaseRunning
		if vm.Status.Ready {
			st.Ready = 1
		}
	case kubevirtv1.VirtualMachineStatusStopped:
		st.Phase, st.Desired = vim.PhaseStopped, 0
		if !halted {
			st.Phase, st.Reasons = vim.PhasePending, []vim.Reason{reason}
		}
	case kubevirtv1.VirtualMachineStatusErrImagePull, kubevirtv1.VirtualMachineStatusImagePullBackOff:
		// Only a containerDisk that cannot be had is ErrImageMissing; a registry that
		// failed for now (timeout, 429) leaves the VM Pending while the kubelet retries.
		st.Phase = vim.PhasePending
		if err, _ := kubernetes.ImagePullError(string(ps), reason.Message); err != nil {
			reason.Err, st.Phase = err, vim.PhaseFailed
		}
		st.Reasons = []vim.Reason{reason}
	case kubevirtv1.VirtualMachineStatusUnschedulable:
		reason.Err = vim.ErrUnschedulable
		st.Phase, st.Reasons = vim.PhasePending, []vim.Reason{reason}
	case kubevirtv1.VirtualMachineStatusCrashLoopBackOff, kubevirtv1.VirtualMachineStatusPvcNotFound, kubevirtv1.VirtualMachineStatusDataVolumeError:
		reason.Err = vim.ErrFailed
		st.Phase, st.Reasons = vim.PhaseFailed, []vim.Reason{reason}
	case kubevirtv1.VirtualMachineStatusTerminating:
		st.Phase = vim.PhaseTerminating
	default: // "", Provisioning, Starting, Stopping, Migrating, Paused, Unknown, WaitingFor...
		if reason.Code == "" {
			reason.Code = "Provisioning"
		}
		st.Phase, st.Reasons = vim.PhasePending, []vim.Reason{reason}
		if halted {
			st.Desired = 0
		}
	}
	if vmi != nil && vmi.DeletionTimestamp == nil {
		if vmi.Status.NodeName != "" {
			st.Nodes = []string{vmi.Status.NodeName}
		}
		for _, ifc := range vmi.Status.Interfaces {
			if ifc.IP != "" {
				st.Endpoints = append(st.Endpoints, vim.Endpoint{Name: ifc.Name, Kind: "VM", Address: ifc.IP})
			}
		}
	}
	for _, svc := range svcs {
		for _, p := range svc.Spec.Ports {
			if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
				st.Endpoints = append(st.Endpoints, vim.Endpoint{Name: svc.Name + "/" + p.Name, Kind: "ClusterIP", Address: ip, Port: p.Port, Protocol: string(p.Protocol)})
			}
		}
	}
}

// Capabilities implements vim.VIM: the site's nodes, provided the KubeVirt API is served.
func (a *Adapter) Capabilities(ctx context.Context) (vim.Capabilities, error) {
	const op = "capabilities"
	c, err := a.get(ctx, op, "")
	if err != nil {
		return vim.Capabilities{}, err
	}
	if _, err := c.Dynamic.Resource(VMResource).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return vim.Capabilities{}, &vim.Error{Op: op, Err: vim.ErrUnavailable, Detail: "kubevirt.io/v1 virtualmachines not served", Cause: err}
	}
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return vim.Capabilities{}, kubernetes.Wrap(op, "", err, "list nodes")
	}
	caps := vim.Capabilities{Kind: vim.KindKubeVirt}
	if v, err := c.Kube.Discovery().ServerVersion(); err == nil {
		caps.Version = v.GitVersion
	}
	for _, n := range nodes.Items {
		ready := kubernetes.NodeReady(&n)
		vn := vim.Node{Name: n.Name, Kind: kubernetes.ClassifyNode(&n), Arch: n.Labels[kubernetes.LabelArch], Ready: ready,
			Schedulable: !n.Spec.Unschedulable, Labels: n.Labels,
			Allocatable: vim.Resources{MilliCPU: n.Status.Allocatable.Cpu().MilliValue(), MemoryBytes: n.Status.Allocatable.Memory().Value()}}
		caps.Nodes = append(caps.Nodes, vn)
		if !ready || n.Spec.Unschedulable {
			continue
		}
		caps.Allocatable.MilliCPU += vn.Allocatable.MilliCPU
		caps.Allocatable.MemoryBytes += vn.Allocatable.MemoryBytes
		if !slices.Contains(caps.Architectures, vn.Arch) {
			caps.Architectures = append(caps.Architectures, vn.Arch)
		}
		if !slices.Contains(caps.NodeKinds, vn.Kind) {
			caps.NodeKinds = append(caps.NodeKinds, vn.Kind)
		}
	}
	slices.Sort(caps.Architectures)
	slices.Sort(caps.NodeKinds)
	return caps, nil
}

// Watch implements vim.VIM with informers on the VMs, VMIs and namespaces the adapter manages:
// each change re-reads the instance's status and sends it when it changed.
func (a *Adapter) Watch(ctx context.Context) (<-chan vim.Event, error) {
	const op = "watch"
	c, err := a.get(ctx, op, "")
	if err != nil {
		return nil, err
	}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.Dynamic, 0, metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.LabelSelector = kubernetes.LabelInstance })
	q := workqueue.NewTyped[string]()
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			if id := m.GetLabels()[kubernetes.LabelInstance]; id != "" {
				q.Add(id)
			}
		}
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue}
	for _, gvr := range []schema.GroupVersionResource{VMResource, VMIResource, corev1.SchemeGroupVersion.WithResource("namespaces")} {
		if _, err := f.ForResource(gvr).Informer().AddEventHandler(h); err != nil {
			return nil, kubernetes.Wrap(op, "", err, "add handler")
		}
	}
	f.Start(ctx.Done())
	for gvr, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, vim.Errorf(op, "", vim.ErrUnavailable, "cache of %v did not sync", gvr)
		}
	}
	out := make(chan vim.Event, 64)
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	go func() {
		defer close(out)
		defer f.Shutdown()
		sent := map[string]string{}
		for {
			id, shutdown := q.Get()
			if shutdown {
				return
			}
			st, err := a.Status(ctx, id)
			q.Done(id)
			var ev vim.Event
			switch {
			case errors.Is(err, vim.ErrNotFound):
				if _, known := sent[id]; !known {
					continue
				}
				delete(sent, id)
				ev = vim.Event{Status: vim.Status{AppInstanceID: id}, Deleted: true}
			case err != nil:
				continue
			default:
				sig := fmt.Sprintf("%s|%d|%v|%v", st.Phase, st.Ready, st.Reasons, st.Endpoints)
				if sent[id] == sig {
					continue
				}
				sent[id] = sig
				ev = vim.Event{Status: st}
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
