package vim

import (
	"context"
	"time"
)

// VIM is what the MEO needs from one site's virtualised infrastructure.
//
// Every method is idempotent: deploying the same instance twice converges to one workload,
// stopping a stopped instance or terminating one that is gone succeeds. Methods that fail
// return errors that match one of the sentinels in errors.go with errors.Is, so the MEO can
// say in the op occurrence what went wrong (image missing, quota, unschedulable, ...).
type VIM interface {
	// Capabilities reports what the site offers: its kind, allocatable capacity, node kinds
	// and architectures.
	Capabilities(ctx context.Context) (Capabilities, error)
	// Deploy creates or updates the workload of one app instance and returns without waiting
	// for it to run; use Status, Watch or WaitRunning for that.
	Deploy(ctx context.Context, req DeployRequest) error
	// Status reports the instance's current state. An instance the site does not know gives
	// an error matching ErrNotFound.
	Status(ctx context.Context, appInstanceID string) (Status, error)
	// Start runs a stopped instance again (ETSI OperateAppInstance changeStateTo STARTED).
	Start(ctx context.Context, appInstanceID string) error
	// Stop stops the instance's workload but keeps its definition (changeStateTo STOPPED).
	Stop(ctx context.Context, appInstanceID string) error
	// Terminate removes everything the adapter created for the instance. It succeeds when the
	// instance is already gone. It returns once removal is under way, not when it is complete.
	Terminate(ctx context.Context, appInstanceID string) error
	// Watch streams the status of every instance the adapter manages on the site whenever it
	// changes, starting with the current status of each. The channel closes when ctx ends or
	// the watch fails for good.
	Watch(ctx context.Context) (<-chan Event, error)
}

// Kind names a VIM kind.
type Kind string

// VIM kinds with an adapter in this module.
const (
	KindKubernetes Kind = "kubernetes"
	KindK3s        Kind = "k3s"
	KindKubeEdge   Kind = "kubeedge"
	KindKubeVirt   Kind = "kubevirt"
	KindLibvirt    Kind = "libvirt"
)

// NodeKind says what sort of machine a node is, for placement.
type NodeKind string

// Node kinds.
const (
	NodeCloud   NodeKind = "cloud"   // an ordinary worker node in the site's data centre
	NodeEdge    NodeKind = "edge"    // a far-edge node (KubeEdge edgecore, OpenYurt/SuperEdge edge unit)
	NodeControl NodeKind = "control" // a control-plane node that also runs workloads (K3s server)
	NodeHost    NodeKind = "host"    // a hypervisor host (libvirt)
)

// Resources is an amount of compute.
type Resources struct {
	// MilliCPU is the CPU in thousandths of a core.
	MilliCPU int64 `json:"milliCPU"`
	// MemoryBytes is the memory in bytes.
	MemoryBytes int64 `json:"memoryBytes"`
	// Pods is the number of pods (Kubernetes) or domains (libvirt) that fit; 0 if unlimited
	// or unknown.
	Pods int64 `json:"pods,omitempty"`
}

// Capabilities describes a site.
type Capabilities struct {
	Kind Kind `json:"kind"`
	// Version is the VIM's version (Kubernetes server version, libvirt version).
	Version string `json:"version,omitempty"`
	// Allocatable sums the allocatable resources of the nodes that are ready and schedulable.
	Allocatable Resources `json:"allocatable"`
	// Architectures lists the CPU architectures of those nodes (amd64, arm64, ...).
	Architectures []string `json:"architectures"`
	// NodeKinds lists the kinds of node the site has.
	NodeKinds []NodeKind `json:"nodeKinds"`
	// RuntimeClasses lists the container runtime classes on offer (for example kata).
	RuntimeClasses []string `json:"runtimeClasses,omitempty"`
	// StorageClass is the default storage class, if any.
	StorageClass string `json:"storageClass,omitempty"`
	// Nodes describes each node.
	Nodes []Node `json:"nodes"`
}

// Node describes one node of a site.
type Node struct {
	Name        string            `json:"name"`
	Kind        NodeKind          `json:"kind"`
	Arch        string            `json:"arch"`
	Ready       bool              `json:"ready"`
	Schedulable bool              `json:"schedulable"`
	Allocatable Resources         `json:"allocatable"`
	Group       string            `json:"group,omitempty"` // KubeEdge node group / OpenYurt node pool
	Labels      map[string]string `json:"labels,omitempty"`
}

// Phase is the coarse state of an app instance on a site.
type Phase string

// Phases. Reasons in Status carry the detail.
const (
	PhasePending Phase = "Pending" // accepted, not yet running (scheduling, pulling, booting)
	PhaseRunning Phase = "Running" // all workloads ready
	PhaseStopped Phase = "Stopped" // stopped on request
	PhaseFailed  Phase = "Failed"  // cannot run without a change (see Reasons)
	// PhaseUnreachable means the instance runs on nodes the control plane cannot reach, such as
	// an edge node that went offline. The app is presumed to keep running (offline autonomy),
	// so this is not a failure.
	PhaseUnreachable Phase = "Unreachable"
	PhaseTerminating Phase = "Terminating" // removal under way
)

// Status is the observed state of an app instance.
type Status struct {
	AppInstanceID string `json:"appInstanceId"`
	Phase         Phase  `json:"phase"`
	// Reasons explains a phase other than Running, most important first.
	Reasons []Reason `json:"reasons,omitempty"`
	// Endpoints are where the app can be reached.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Nodes are the nodes the instance runs on.
	Nodes []string `json:"nodes,omitempty"`
	// Ready and Desired count ready and wanted replicas (pods or VMs).
	Ready   int `json:"ready"`
	Desired int `json:"desired"`
	// Observed is when the adapter read this status.
	Observed time.Time `json:"observed"`
}

// Err returns the typed error behind a status that cannot progress on its own (Failed, or
// Pending for a reason that matches ErrUnschedulable, ErrImageMissing or ErrQuota), or nil.
func (s Status) Err() error {
	for _, r := range s.Reasons {
		if r.Err != nil && (s.Phase == PhaseFailed || s.Phase == PhasePending) {
			return &Error{Op: "status", AppInstanceID: s.AppInstanceID, Err: r.Err, Detail: r.Message}
		}
	}
	if s.Phase == PhaseFailed {
		return &Error{Op: "status", AppInstanceID: s.AppInstanceID, Err: ErrFailed, Detail: s.summary()}
	}
	return nil
}

func (s Status) summary() string {
	if len(s.Reasons) == 0 {
		return string(s.Phase)
	}
	return s.Reasons[0].Code + ": " + s.Reasons[0].Message
}

// Reason explains part of a status.
type Reason struct {
	// Code is a short CamelCase cause, taken from the VIM where it has one (ErrImagePull,
	// Unschedulable, FailedCreate, NodeUnreachable, ...).
	Code string `json:"code"`
	// Message is the VIM's human-readable detail.
	Message string `json:"message,omitempty"`
	// Object names the workload object the reason is about (pod/web-0, vm/app).
	Object string `json:"object,omitempty"`
	// Err is the sentinel the reason maps to, if any (ErrImageMissing, ErrUnschedulable, ...).
	Err error `json:"-"`
}

// Endpoint is an address where an app instance can be reached.
type Endpoint struct {
	// Name is the port's or interface's name.
	Name string `json:"name,omitempty"`
	// Kind says how the address is reached: ClusterIP, NodePort, LoadBalancer, Pod, VM.
	Kind     string `json:"kind"`
	Address  string `json:"address"`
	Port     int32  `json:"port,omitempty"`
	Protocol string `json:"protocol,omitempty"`
}

// Event is a status change streamed by Watch. Deleted is set when the instance is gone.
type Event struct {
	Status  Status `json:"status"`
	Deleted bool   `json:"deleted,omitempty"`
}
