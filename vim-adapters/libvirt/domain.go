package libvirt

import (
	"encoding/xml"
	"fmt"
	"math"
	"strings"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// metadataNS is the XML namespace of the adapter's domain metadata.
const metadataNS = "https://edgemec.io/xmlns/libvirt/1"

type domainXML struct {
	XMLName  xml.Name `xml:"domain"`
	Type     string   `xml:"type,attr"`
	Name     string   `xml:"name"`
	Metadata struct {
		Instance instanceMeta `xml:"edgemec:instance"`
	} `xml:"metadata"`
	Memory struct {
		Unit  string `xml:"unit,attr"`
		Value int64  `xml:",chardata"`
	} `xml:"memory"`
	VCPU    int          `xml:"vcpu"`
	Sysinfo []sysinfoXML `xml:"sysinfo"`
	OS      struct {
		Type struct {
			Arch  string `xml:"arch,attr,omitempty"`
			Value string `xml:",chardata"`
		} `xml:"type"`
		SMBIOS struct {
			Mode string `xml:"mode,attr"`
		} `xml:"smbios"`
	} `xml:"os"`
	Devices struct {
		Disk struct {
			Type   string `xml:"type,attr"`
			Device string `xml:"device,attr"`
			Driver struct {
				Name string `xml:"name,attr"`
				Type string `xml:"type,attr"`
			} `xml:"driver"`
			Source struct {
				File string `xml:"file,attr"`
			} `xml:"source"`
			Target struct {
				Dev string `xml:"dev,attr"`
				Bus string `xml:"bus,attr"`
			} `xml:"target"`
		} `xml:"disk"`
		Channel struct {
			Type   string `xml:"type,attr"`
			Target struct {
				Type string `xml:"type,attr"`
				Name string `xml:"name,attr"`
			} `xml:"target"`
		} `xml:"channel"`
		Interface struct {
			Type   string `xml:"type,attr"`
			Source struct {
				Network string `xml:"network,attr"`
			} `xml:"source"`
			Model struct {
				Type string `xml:"type,attr"`
			} `xml:"model"`
		} `xml:"interface"`
	} `xml:"devices"`
}

// sysinfoXML is an SMBIOS (OEM strings) or fw_cfg (file entries) sysinfo element.
type sysinfoXML struct {
	Type       string   `xml:"type,attr"`
	OEMStrings []string `xml:"oemStrings>entry,omitempty"`
	Entries    []struct {
		Name string `xml:"name,attr"`
		File string `xml:"file,attr"`
	} `xml:"entry,omitempty"`
}

type instanceMeta struct {
	XMLNS         string `xml:"xmlns:edgemec,attr"`
	AppInstanceID string `xml:"edgemec:appInstanceId"`
	AppDID        string `xml:"edgemec:appDId"`
	AppName       string `xml:"edgemec:appName"`
}

// DomainXML builds the domain definition for req.
func (a *Adapter) DomainXML(req *vim.DeployRequest, diskPath string) (string, error) {
	var d domainXML
	d.Type = a.cfg.DomainType
	d.Name = a.DomainName(req.AppInstanceID)
	d.Metadata.Instance = instanceMeta{XMLNS: metadataNS, AppInstanceID: req.AppInstanceID, AppDID: req.AppDID, AppName: req.AppName}
	d.Memory.Unit, d.Memory.Value = "MiB", max(req.Compute.MemoryMiB, req.Image.MinRAMMiB, 64)
	d.VCPU = int(max(1, math.Ceil(req.Compute.VirtualCPUs)))
	smbios := sysinfoXML{Type: "smbios"}
	creds := [][2]string{
		{"edgemec.mp1.endpoint", req.MEP.Endpoint}, {"edgemec.mp1.app-instance-id", req.AppInstanceID},
		{"edgemec.mp1.client-id", req.MEP.ClientID},
	}
	secretFile := a.credentialPath(req.AppInstanceID)
	if secretFile == "" {
		creds = append(creds, [2]string{credSecretName, req.MEP.ClientSecret})
	}
	for _, kv := range creds {
		smbios.OEMStrings = append(smbios.OEMStrings, "io.systemd.credential:"+kv[0]+"="+kv[1])
	}
	d.Sysinfo = append(d.Sysinfo, smbios)
	if secretFile != "" { // credential.go: only the file's path is on the command line
		fw := sysinfoXML{Type: "fwcfg"}
		fw.Entries = append(fw.Entries, struct {
			Name string `xml:"name,attr"`
			File string `xml:"file,attr"`
		}{fwcfgCredPath, secretFile})
		d.Sysinfo = append(d.Sysinfo, fw)
	}
	d.OS.Type.Value = "hvm"
	switch strings.ToLower(req.Compute.CPUArchitecture) {
	case "x86_64", "amd64":
		d.OS.Type.Arch = "x86_64"
	case "aarch64", "arm64":
		d.OS.Type.Arch = "aarch64"
	}
	d.OS.SMBIOS.Mode = "sysinfo"
	disk := &d.Devices.Disk
	disk.Type, disk.Device = "file", "disk"
	disk.Driver.Name, disk.Driver.Type = "qemu", "qcow2" // the instance's own overlay (instanceDisk)
	disk.Source.File = diskPath
	disk.Target.Dev, disk.Target.Bus = "vda", "virtio"
	ch := &d.Devices.Channel // the guest agent's channel: its state tells that the guest is up
	ch.Type, ch.Target.Type, ch.Target.Name = "unix", "virtio", guestAgentName
	ifc := &d.Devices.Interface
	ifc.Type, ifc.Source.Network, ifc.Model.Type = "network", a.cfg.Network, "virtio"
	b, err := xml.MarshalIndent(&d, "", "  ")
	if err != nil {
		return "", fmt.Errorf("marshal domain: %w", err)
	}
	return string(b), nil
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
