package vim

import (
	"errors"
	"fmt"

	"github.com/edgemec/edgemec/internal/ids"
)

// DeployRequest is everything an adapter needs to run one app instance.
type DeployRequest struct {
	// AppInstanceID identifies the instance (ETSI appInstanceId). Required; it names the
	// instance's namespace, VM or domain, so it must be a DNS label (see ValidateID).
	AppInstanceID string `json:"appInstanceId"`
	// AppDID, AppName, AppProvider and AppSoftVersion come from the AppD (GS MEC 037 / 010-2).
	AppDID         string `json:"appDId"`
	AppName        string `json:"appName"`
	AppProvider    string `json:"appProvider,omitempty"`
	AppSoftVersion string `json:"appSoftVersion,omitempty"`
	// Compute is the AppD's virtualComputeDescriptor: the resources one instance requests.
	Compute VirtualCompute `json:"virtualComputeDescriptor"`
	// Image is the AppD's swImageDescriptor: the container or VM image.
	Image SwImage `json:"swImageDescriptor"`
	// Artifacts are the package's deployment artefacts (Helm chart or manifests). Container
	// adapters need them unless Image alone describes a single-container app; VM adapters
	// ignore them.
	Artifacts Artifacts `json:"artifacts"`
	// Params are per-instance parameters: Helm values (dotted keys, e.g. "replicaCount") for
	// charts, and adapter-specific keys documented by each adapter.
	Params map[string]string `json:"params,omitempty"`
	// MEP tells the app how to reach its MEP's Mp1 API, injected into the workload.
	MEP MEPAccess `json:"mep"`
	// Placement carries hints for where and how to run.
	Placement Placement `json:"placement"`
}

// VirtualCompute is the part of an ETSI VirtualComputeDescription the adapters use.
type VirtualCompute struct {
	// VirtualCPUs is virtualCpu.numVirtualCpu. Fractions are allowed for containers.
	VirtualCPUs float64 `json:"numVirtualCpu"`
	// MemoryMiB is virtualMemory.virtualMemSize (the spec says MB; treated as MiB).
	MemoryMiB int64 `json:"virtualMemSize"`
	// CPUArchitecture is virtualCpu.cpuArchitecture (x86_64, aarch64, amd64, arm64), optional.
	CPUArchitecture string `json:"cpuArchitecture,omitempty"`
}

// SwImage is the part of an ETSI SwImageDesc the adapters use.
type SwImage struct {
	Name string `json:"name,omitempty"`
	// Ref is swImage: an OCI image reference for containers and KubeVirt container disks, or a
	// path/URL of a disk image for libvirt.
	Ref string `json:"swImage"`
	// ContainerFormat is "docker" (OCI) or "bare"; DiskFormat is qcow2, raw, ... for VMs.
	ContainerFormat string `json:"containerFormat,omitempty"`
	DiskFormat      string `json:"diskFormat,omitempty"`
	// MinDiskGiB and MinRAMMiB are minDisk and minRam.
	MinDiskGiB int64 `json:"minDisk,omitempty"`
	MinRAMMiB  int64 `json:"minRam,omitempty"`
}

// Artifacts are an app package's deployment artefacts for container VIMs.
type Artifacts struct {
	// Chart is a packaged Helm chart (.tgz).
	Chart []byte `json:"chart,omitempty"`
	// Manifests are Kubernetes manifests (YAML, several documents allowed), used when there
	// is no chart.
	Manifests []byte `json:"manifests,omitempty"`
	// Ports are the ports the app listens on, used to expose it when neither a chart nor
	// manifests are given and a workload is made from Image alone.
	Ports []Port `json:"ports,omitempty"`
}

// Port is a port an app listens on.
type Port struct {
	Name     string `json:"name"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol,omitempty"` // TCP (default) or UDP
}

// MEPAccess is what an app needs to call Mp1 (GS MEC 011) on its MEP.
type MEPAccess struct {
	// Endpoint is the Mp1 base URL, e.g. http://10.89.0.1:8080.
	Endpoint string `json:"endpoint,omitempty"`
	// ClientID and ClientSecret are the app's Mp1 credentials. They go into a Secret (or
	// into cloud-init for VMs), never into logs.
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"-"`
}

// Placement carries where and how an instance should run. Adapters apply the fields that make
// sense for their VIM and document the rest.
type Placement struct {
	// NodeKind restricts placement to one kind of node (edge for KubeEdge).
	NodeKind NodeKind `json:"nodeKind,omitempty"`
	// NodeGroup places on a node group / node pool (KubeEdge NodeGroup, OpenYurt NodePool,
	// SuperEdge NodeUnit), selected by label.
	NodeGroup string `json:"nodeGroup,omitempty"`
	// NodeSelector adds node labels to match.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// RuntimeClassName asks for a runtime class, such as "kata" for Kata Containers.
	RuntimeClassName string `json:"runtimeClassName,omitempty"`
}

// ValidateID reports whether id can name an instance on every VIM. It is the platform's id
// rule (internal/ids): a lowercase RFC 1123 label of at most 63 characters (UUIDs qualify),
// the same rule the MEP applies to app instance ids.
func ValidateID(id string) error {
	if err := ids.Validate(id); err != nil {
		return fmt.Errorf("%w: app instance id: %w", ErrInvalid, err)
	}
	return nil
}

// Validate checks the fields every adapter needs.
func (r DeployRequest) Validate() error {
	var errs []error
	if err := ValidateID(r.AppInstanceID); err != nil {
		errs = append(errs, err)
	}
	if r.AppDID == "" {
		errs = append(errs, fmt.Errorf("%w: appDId is empty", ErrInvalid))
	}
	if r.Compute.VirtualCPUs < 0 || r.Compute.MemoryMiB < 0 {
		errs = append(errs, fmt.Errorf("%w: negative virtualComputeDescriptor", ErrInvalid))
	}
	return errors.Join(errs...)
}
