package appd

import (
	"strings"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// AppD is an application descriptor (ETSI GS MEC 010-2 clause 6.2.1.2, GS MEC 037 names).
// Lists that the specification allows in one or several forms hold the list form; rules use
// the Mp1 wire types, so what the AppD says goes to the MEP unchanged.
type AppD struct {
	// AppDID identifies the AppD and the package holding it (globally unique). It is a
	// lowercase DNS label here, because it labels the app's objects on every VIM.
	AppDID string `json:"appDId"`
	// AppName names the application; AppProvider is who provides it and its AppD.
	AppName     string `json:"appName"`
	AppProvider string `json:"appProvider"`
	// AppSoftVersion is the application's software version; AppDVersion the AppD's own.
	AppSoftVersion string `json:"appSoftVersion"`
	AppDVersion    string `json:"appDVersion"`
	// MECVersion lists the MEC system versions the app works with (one string accepted).
	MECVersion []string `json:"mecVersion"`
	// AppInfoName is a human readable name, AppDescription a human readable description.
	AppInfoName    string `json:"appInfoName,omitempty"`
	AppDescription string `json:"appDescription,omitempty"`
	// VirtualComputeDescriptor gives the resources one instance needs.
	VirtualComputeDescriptor *VirtualComputeDescriptor `json:"virtualComputeDescriptor,omitempty"`
	// SwImageDescriptor describes the app's software images; the first is the one the VIM
	// runs (one object accepted on input).
	SwImageDescriptor []SwImageDescriptor `json:"swImageDescriptor,omitempty"`
	// VirtualStorageDescriptor describes storage; kept as given, not used for deployment.
	VirtualStorageDescriptor []map[string]any `json:"virtualStorageDescriptor,omitempty"`
	// AppExtCpd describes the app's external connection points.
	AppExtCpd []AppExtCpd `json:"appExtCpd,omitempty"`
	// AppServiceRequired and AppServiceOptional are the services the app consumes.
	AppServiceRequired []mp1api.ServiceDependency `json:"appServiceRequired,omitempty"`
	AppServiceOptional []mp1api.ServiceDependency `json:"appServiceOptional,omitempty"`
	// AppServiceProduced are the services the app produces.
	AppServiceProduced []mm5api.ServiceDescriptor `json:"appServiceProduced,omitempty"`
	// AppFeatureRequired and AppFeatureOptional are platform features the app uses.
	AppFeatureRequired []mp1api.FeatureDependency `json:"appFeatureRequired,omitempty"`
	AppFeatureOptional []mp1api.FeatureDependency `json:"appFeatureOptional,omitempty"`
	// TransportDependencies are transports a service-producing app needs the platform to offer.
	TransportDependencies []TransportDependency `json:"transportDependencies,omitempty"`
	// AppTrafficRule and AppDNSRule seed the instance's Mp1 traffic and DNS rules. A rule
	// without state is ACTIVE.
	AppTrafficRule []mp1api.TrafficRule `json:"appTrafficRule,omitempty"`
	AppDNSRule     []mp1api.DnsRule     `json:"appDNSRule,omitempty"`
	// AppLatency is the maximum latency the app tolerates.
	AppLatency *LatencyDescriptor `json:"appLatency,omitempty"`
	// TerminateAppInstanceOpConfig and ChangeAppInstanceStateOpConfig bound the graceful
	// termination and stop timeouts.
	TerminateAppInstanceOpConfig   *TerminateAppInstanceOpConfig   `json:"terminateAppInstanceOpConfig,omitempty"`
	ChangeAppInstanceStateOpConfig *ChangeAppInstanceStateOpConfig `json:"changeAppInstanceStateOpConfig,omitempty"`
}

// VirtualComputeDescriptor is an ETSI NFV VirtualComputeDesc (GS NFV-IFA 011), as MEC 037
// uses it. Members the orchestrator does not act on are kept as given.
type VirtualComputeDescriptor struct {
	VirtualComputeDescID          string         `json:"virtualComputeDescId,omitempty"`
	VirtualCPU                    *VirtualCPU    `json:"virtualCpu,omitempty"`
	VirtualMemory                 *VirtualMemory `json:"virtualMemory,omitempty"`
	VirtualDisk                   []any          `json:"virtualDisk,omitempty"`
	LogicalNode                   any            `json:"logicalNode,omitempty"`
	RequestAdditionalCapabilities any            `json:"requestAdditionalCapabilities,omitempty"`
	ComputeRequirements           any            `json:"computeRequirements,omitempty"`
}

// VirtualCPU is the CPU part of a VirtualComputeDescriptor.
type VirtualCPU struct {
	// CPUArchitecture is x86_64, aarch64, amd64, arm64, ... (see Workload for the normal form).
	CPUArchitecture string `json:"cpuArchitecture,omitempty"`
	// NumVirtualCPU is the number of CPUs; fractions are allowed for containers.
	NumVirtualCPU                    float64 `json:"numVirtualCpu"`
	VirtualCPUClock                  float64 `json:"virtualCpuClock,omitempty"`
	VirtualCPUOversubscriptionPolicy string  `json:"virtualCpuOversubscriptionPolicy,omitempty"`
	VirtualCPUPinning                any     `json:"virtualCpuPinning,omitempty"`
	VduCPURequirements               any     `json:"vduCpuRequirements,omitempty"`
}

// VirtualMemory is the memory part of a VirtualComputeDescriptor.
type VirtualMemory struct {
	// VirtualMemSize is in MB (treated as MiB by the VIM adapters).
	VirtualMemSize                   float64 `json:"virtualMemSize"`
	VirtualMemOversubscriptionPolicy string  `json:"virtualMemOversubscriptionPolicy,omitempty"`
	NumaEnabled                      bool    `json:"numaEnabled,omitempty"`
}

// SwImageDescriptor is an ETSI NFV SwImageDesc (GS NFV-IFA 011) as MEC 037 uses it.
type SwImageDescriptor struct {
	ID       string    `json:"id,omitempty"`
	Name     string    `json:"name,omitempty"`
	Version  string    `json:"version,omitempty"`
	Checksum *Checksum `json:"checksum,omitempty"`
	// ContainerFormat and DiskFormat tell a container image (DOCKER) from a VM image.
	ContainerFormat ContainerFormat `json:"containerFormat,omitempty"`
	DiskFormat      DiskFormat      `json:"diskFormat,omitempty"`
	// MinDisk is in GB, MinRAM in MB, Size in GB.
	MinDisk int64 `json:"minDisk,omitempty"`
	MinRAM  int64 `json:"minRam,omitempty"`
	Size    int64 `json:"size,omitempty"`
	// SwImage is the image: an OCI reference for containers and KubeVirt container disks, a
	// path or URL of a disk image for VMs.
	SwImage                            string   `json:"swImage,omitempty"`
	OperatingSystem                    string   `json:"operatingSystem,omitempty"`
	SupportedVirtualisationEnvironment []string `json:"supportedVirtualisationEnvironment,omitempty"`
}

// Checksum is an image checksum.
type Checksum struct {
	Algorithm string `json:"algorithm"`
	Hash      string `json:"hash"`
}

// ContainerFormat is a SwImageDesc containerFormat (GS NFV-IFA 011; compared without case).
type ContainerFormat string

// Valid reports whether f is a containerFormat GS NFV-IFA 011 lists.
func (f ContainerFormat) Valid() bool {
	switch strings.ToUpper(string(f)) {
	case "AKI", "AMI", "ARI", "BARE", "DOCKER", "OVA", "OVF":
		return true
	}
	return false
}

// DiskFormat is a SwImageDesc diskFormat (GS NFV-IFA 011; compared without case).
type DiskFormat string

// Valid reports whether f is a diskFormat GS NFV-IFA 011 lists.
func (f DiskFormat) Valid() bool {
	switch strings.ToUpper(string(f)) {
	case "AKI", "AMI", "ARI", "ISO", "QCOW2", "RAW", "VDI", "VHD", "VHDX", "VMDK":
		return true
	}
	return false
}

// AppExtCpd is an external connection point of the app.
type AppExtCpd struct {
	CpdID                               string   `json:"cpdId,omitempty"`
	Description                         string   `json:"description,omitempty"`
	LayerProtocol                       []string `json:"layerProtocol,omitempty"`
	VirtualNetworkInterfaceRequirements []any    `json:"virtualNetworkInterfaceRequirements,omitempty"`
	InheritedAttributes                 any      `json:"inherited_attributes,omitempty"`
	// Ports are the ports the app listens on at this connection point. An extension of the
	// GS: the VIM adapters expose them when a package has an image but no artefacts.
	Ports []Port `json:"ports,omitempty"`
}

// Port is a port an app listens on.
type Port struct {
	Name     string   `json:"name"`
	Port     int32    `json:"port"`
	Protocol Protocol `json:"protocol,omitempty"`
}

// Protocol is a port's transport protocol: TCP (the default) or UDP.
type Protocol string

// Valid reports whether p is TCP or UDP.
func (p Protocol) Valid() bool { return p == "TCP" || p == "UDP" }

// TransportDependency is a transport a service-producing app needs (GS MEC 010-2 6.2.1.17).
type TransportDependency struct {
	Transport   TransportDescriptor     `json:"transport"`
	Serializers []mp1api.SerializerType `json:"serializers"`
	Labels      []string                `json:"labels"`
}

// TransportDescriptor describes a transport (GS MEC 010-2 6.2.1.18).
type TransportDescriptor struct {
	Type             mp1api.TransportType `json:"type"`
	Protocol         string               `json:"protocol"`
	Version          string               `json:"version"`
	Security         *mp1api.SecurityInfo `json:"security,omitempty"`
	ImplSpecificInfo any                  `json:"implSpecificInfo,omitempty"`
}

// LatencyDescriptor is the latency an app tolerates.
type LatencyDescriptor struct {
	// MaxLatency is in nanoseconds (MEC 010-2 LatencyDescriptor; Uint32, so at most ~4.29 s).
	MaxLatency uint32 `json:"maxLatency"`
}

// TerminateAppInstanceOpConfig bounds graceful termination (seconds). The V2.1.1 spelling
// macRecommendedGracefulTerminationTimeout is accepted on input.
type TerminateAppInstanceOpConfig struct {
	MinGracefulTerminationTimeout            uint32  `json:"minGracefulTerminationTimeout"`
	MaxRecommendedGracefulTerminationTimeout *uint32 `json:"maxRecommendedGracefulTerminationTimeout,omitempty"`
}

// ChangeAppInstanceStateOpConfig bounds a graceful stop (seconds).
type ChangeAppInstanceStateOpConfig struct {
	MinGracefulStopTimeout            uint32  `json:"minGracefulStopTimeout"`
	MaxRecommendedGracefulStopTimeout *uint32 `json:"maxRecommendedGracefulStopTimeout,omitempty"`
}
