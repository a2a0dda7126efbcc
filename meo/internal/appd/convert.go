package appd

import (
	"math"
	"slices"
	"strings"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Kind is what a VIM runs for an app: a container workload or a virtual machine.
type Kind string

// Kinds of workload.
const (
	KindContainer Kind = "container"
	KindVM        Kind = "vm"
)

// Workload is what placement needs to know about an app to choose a site that can run it.
type Workload struct {
	// Kind is KindVM when the first swImageDescriptor is a disk image (a diskFormat, or a
	// containerFormat other than DOCKER), else KindContainer.
	Kind Kind `json:"kind"`
	// CPUArchitecture is the CPU architecture the app needs in Kubernetes/Go form (amd64,
	// arm64, ...), or "" when the AppD does not say.
	CPUArchitecture string `json:"cpuArchitecture,omitempty"`
	// VirtualCPUs and MemoryMiB are what one instance requests (0 when not given).
	VirtualCPUs float64 `json:"numVirtualCpu,omitempty"`
	MemoryMiB   int64   `json:"virtualMemSize,omitempty"`
}

// Workload reports the app's workload kind and resource needs.
func (a *AppD) Workload() Workload {
	w := Workload{Kind: KindContainer}
	if img := a.image(); img != nil {
		cf := strings.ToUpper(string(img.ContainerFormat))
		if img.DiskFormat != "" || (cf != "" && cf != "DOCKER") {
			w.Kind = KindVM
		}
	}
	c := a.compute()
	w.CPUArchitecture, w.VirtualCPUs, w.MemoryMiB = c.CPUArchitecture, c.VirtualCPUs, c.MemoryMiB
	return w
}

// Arch maps ETSI and uname CPU architecture names to the Kubernetes and Go ones.
func Arch(a string) string {
	switch strings.ToLower(a) {
	case "x86_64", "x86-64", "amd64", "x64", "x86":
		return "amd64"
	case "aarch64", "arm64", "armv8":
		return "arm64"
	}
	return strings.ToLower(a)
}

func (a *AppD) image() *SwImageDescriptor {
	if len(a.SwImageDescriptor) == 0 {
		return nil
	}
	return &a.SwImageDescriptor[0]
}

func (a *AppD) compute() vim.VirtualCompute {
	var c vim.VirtualCompute
	v := a.VirtualComputeDescriptor
	if v == nil {
		return c
	}
	if v.VirtualCPU != nil {
		c.VirtualCPUs = v.VirtualCPU.NumVirtualCPU
		c.CPUArchitecture = Arch(v.VirtualCPU.CPUArchitecture)
	}
	if v.VirtualMemory != nil {
		c.MemoryMiB = int64(math.Ceil(min(v.VirtualMemory.VirtualMemSize, math.MaxInt32)))
	}
	return c
}

// Ports are the ports the AppD declares on its connection points, in order.
func (a *AppD) Ports() []vim.Port {
	var ps []vim.Port
	for _, c := range a.AppExtCpd {
		for _, p := range c.Ports {
			proto := string(p.Protocol)
			if proto == "" {
				proto = "TCP"
			}
			ps = append(ps, vim.Port{Name: p.Name, Port: p.Port, Protocol: proto})
		}
	}
	return ps
}

// DeployRequest is the request a VIM adapter gets to run instance appInstanceID of this app,
// with the package's artefacts art (nil chart and manifests for an image-only app). The
// AppD's ports fill art.Ports when the caller gives none. The caller adds the MEP access,
// per-instance parameters and placement hints.
func (a *AppD) DeployRequest(appInstanceID string, art vim.Artifacts) vim.DeployRequest {
	if len(art.Ports) == 0 {
		art.Ports = a.Ports()
	}
	r := vim.DeployRequest{
		AppInstanceID:  appInstanceID,
		AppDID:         a.AppDID,
		AppName:        a.AppName,
		AppProvider:    a.AppProvider,
		AppSoftVersion: a.AppSoftVersion,
		Compute:        a.compute(),
		Artifacts:      art,
	}
	if img := a.image(); img != nil {
		r.Image = vim.SwImage{
			Name: img.Name, Ref: img.SwImage,
			ContainerFormat: strings.ToLower(string(img.ContainerFormat)),
			DiskFormat:      strings.ToLower(string(img.DiskFormat)),
			MinDiskGiB:      img.MinDisk, MinRAMMiB: img.MinRAM,
		}
	}
	return r
}

// AppInstance is the Mm5 body that tells a MEP about an instance of this app: its identity,
// its rules (state ACTIVE unless the AppD says otherwise) and the services it requires, may
// use and produces. appInstanceName is optional. Mm5 carries no mecVersion.
func (a *AppD) AppInstance(appInstanceName string) mm5api.AppInstance {
	inst := mm5api.AppInstance{AppDId: a.AppDID, AppName: a.AppName, AppProvider: a.AppProvider}
	if appInstanceName != "" {
		inst.AppInstanceName = &appInstanceName
	}
	if len(a.MECVersion) > 0 {
		// The MEP answers the app in the MEC 011 representation of its newest version.
		inst.MecVersion = new(slices.Clone(a.MECVersion))
	}
	if len(a.AppTrafficRule) > 0 {
		rs := make([]mp1api.TrafficRule, len(a.AppTrafficRule))
		copy(rs, a.AppTrafficRule)
		for i := range rs {
			if rs[i].State == "" {
				rs[i].State = mp1api.RuleStateACTIVE
			}
		}
		inst.AppTrafficRule = &rs
	}
	if len(a.AppDNSRule) > 0 {
		rs := make([]mp1api.DnsRule, len(a.AppDNSRule))
		copy(rs, a.AppDNSRule)
		for i := range rs {
			if rs[i].State == "" {
				rs[i].State = mp1api.RuleStateACTIVE
			}
		}
		inst.AppDNSRule = &rs
	}
	inst.AppServiceRequired = listPtr(a.AppServiceRequired)
	inst.AppServiceOptional = listPtr(a.AppServiceOptional)
	inst.AppServiceProduced = listPtr(a.AppServiceProduced)
	return inst
}

func listPtr[T any](l []T) *[]T {
	if len(l) == 0 {
		return nil
	}
	c := append([]T(nil), l...)
	return &c
}
