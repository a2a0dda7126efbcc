// Package libvirt is the VIM adapter for VM sites managed by libvirt, over libvirt's RPC
// protocol with a pure-Go client (github.com/digitalocean/go-libvirt; no cgo, no libvirt
// library on the MEO's host).
//
// Each app instance is one persistent domain named "<prefix><appInstanceId>":
//   - vCPUs and memory come from the virtualComputeDescriptor (numVirtualCpu rounded up;
//     virtualMemSize in MiB, at least swImage's minRam);
//   - the boot disk is swImage, which must be a volume libvirt knows (an absolute path of a
//     volume in one of its storage pools, or "pool/volume"); a missing volume is
//     vim.ErrImageMissing, reported before anything is defined;
//   - the MEP access reaches the guest as systemd credentials in SMBIOS OEM strings
//     (io.systemd.credential:edgemec.mp1.*), readable in the guest with systemd-creds or
//     dmidecode;
//   - the instance and AppD ids are in the domain's <metadata>;
//   - a request larger than the host (NodeGetInfo) is vim.ErrUnschedulable.
//
// Start is DomainCreate, Stop a graceful shutdown (destroy after ShutdownGrace), Terminate
// destroys and undefines. Status maps the domain state; endpoints are the guest's addresses
// from DHCP leases. Watch follows libvirt's domain lifecycle events.
package libvirt

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

var _ vim.VIM = (*Adapter)(nil)

// ConnectFunc returns an open connection to one site's libvirtd. The MEO injects one per site;
// it is called on every operation and should hand out one long-lived connection.
type ConnectFunc func(ctx context.Context) (*golibvirt.Libvirt, error)

// Dial connects to the libvirtd listening on the unix socket and opens uri on it
// (libvirt.TestDefault in tests, "qemu:///system" in production).
func Dial(socket string, uri golibvirt.ConnectURI) (*golibvirt.Libvirt, error) {
	l := golibvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(socket), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(uri); err != nil {
		return nil, fmt.Errorf("connect %s on %s: %w", uri, socket, err)
	}
	return l, nil
}

// Once returns a ConnectFunc that dials once and reuses the connection.
func Once(socket string, uri golibvirt.ConnectURI) ConnectFunc {
	var (
		mu sync.Mutex
		l  *golibvirt.Libvirt
	)
	return func(context.Context) (*golibvirt.Libvirt, error) {
		mu.Lock()
		defer mu.Unlock()
		if l != nil && l.IsConnected() {
			return l, nil
		}
		var err error
		l, err = Dial(socket, uri)
		return l, err
	}
}

// Config configures an Adapter for one site.
type Config struct {
	Site string
	// Connect returns the site's libvirt connection. Required.
	Connect ConnectFunc
	// DomainType is the domain type: "kvm" (default) or "qemu"; "test" for libvirt's test driver.
	DomainType string
	// Network is the libvirt network guests attach to. Default "default".
	Network string
	// DomainPrefix prefixes the instance id to name its domain. Default "mec-".
	DomainPrefix string
	// ShutdownGrace is how long Stop waits for a guest to power off before destroying it.
	// Default 30 s.
	ShutdownGrace time.Duration
	Logger        *slog.Logger
}

// Adapter is the libvirt VIM adapter for one site.
type Adapter struct {
	cfg Config
	log *slog.Logger
}

// New returns an Adapter for cfg.
func New(cfg Config) (*Adapter, error) {
	if cfg.Connect == nil {
		return nil, errors.New("libvirt adapter: Connect is required")
	}
	if cfg.DomainType == "" {
		cfg.DomainType = "kvm"
	}
	if cfg.Network == "" {
		cfg.Network = "default"
	}
	if cfg.DomainPrefix == "" {
		cfg.DomainPrefix = "mec-"
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Adapter{cfg: cfg, log: log.With(logkeys.Site, cfg.Site, logkeys.Kind, string(vim.KindLibvirt))}, nil
}

// DomainName returns the domain name of an instance.
func (a *Adapter) DomainName(id string) string { return a.cfg.DomainPrefix + id }

func (a *Adapter) conn(ctx context.Context, op, id string) (*golibvirt.Libvirt, error) {
	l, err := a.cfg.Connect(ctx)
	if err != nil {
		return nil, &vim.Error{Op: op, AppInstanceID: id, Err: vim.ErrUnavailable, Detail: "site " + a.cfg.Site, Cause: err}
	}
	return l, nil
}

// wrap classifies a libvirt error.
func wrap(op, id string, err error, detail string) error {
	if err == nil {
		return nil
	}
	var ve *vim.Error
	if errors.As(err, &ve) {
		return err
	}
	sentinel := vim.ErrFailed
	var le golibvirt.Error
	var ne net.Error
	switch {
	case errors.As(err, &le):
		switch golibvirt.ErrorNumber(le.Code) {
		case golibvirt.ErrNoDomain:
			sentinel = vim.ErrNotFound
		case golibvirt.ErrNoStorageVol, golibvirt.ErrNoStoragePool:
			sentinel = vim.ErrImageMissing
		case golibvirt.ErrAuthFailed, golibvirt.ErrAccessDenied, golibvirt.ErrOperationDenied:
			sentinel = vim.ErrForbidden
		case golibvirt.ErrXMLError, golibvirt.ErrXMLDetail, golibvirt.ErrInvalidArg, golibvirt.ErrConfigUnsupported:
			sentinel = vim.ErrInvalid
		case golibvirt.ErrDomExist, golibvirt.ErrOperationInvalid:
			sentinel = vim.ErrConflict
		}
	case errors.Is(err, golibvirt.ErrInterrupted), errors.As(err, &ne):
		sentinel = vim.ErrUnavailable
	}
	return &vim.Error{Op: op, AppInstanceID: id, Err: sentinel, Detail: detail, Cause: err}
}

func isCode(err error, code golibvirt.ErrorNumber) bool {
	var le golibvirt.Error
	return errors.As(err, &le) && golibvirt.ErrorNumber(le.Code) == code
}

// Domain states (virDomainState).
const (
	stateNoState     = 0
	stateRunning     = 1
	stateBlocked     = 2
	statePaused      = 3
	stateShutdown    = 4
	stateShutoff     = 5
	stateCrashed     = 6
	statePMSuspended = 7
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
	VCPU    int `xml:"vcpu"`
	Sysinfo struct {
		Type       string   `xml:"type,attr"`
		OEMStrings []string `xml:"oemStrings>entry"`
	} `xml:"sysinfo"`
	OS struct {
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
	d.Sysinfo.Type = "smbios"
	for _, kv := range [][2]string{
		{"edgemec.mp1.endpoint", req.MEP.Endpoint}, {"edgemec.mp1.app-instance-id", req.AppInstanceID},
		{"edgemec.mp1.client-id", req.MEP.ClientID}, {"edgemec.mp1.client-secret", req.MEP.ClientSecret},
	} {
		d.Sysinfo.OEMStrings = append(d.Sysinfo.OEMStrings, "io.systemd.credential:"+kv[0]+"="+kv[1])
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

// resolveImage finds swImage among libvirt's storage volumes.
func resolveImage(l *golibvirt.Libvirt, ref string) (golibvirt.StorageVol, string, error) {
	var (
		v   golibvirt.StorageVol
		err error
	)
	if pool, vol, ok := strings.Cut(ref, "/"); ok && !strings.HasPrefix(ref, "/") {
		p, perr := l.StoragePoolLookupByName(pool)
		if perr != nil {
			return v, "", perr
		}
		v, err = l.StorageVolLookupByName(p, vol)
	} else {
		v, err = l.StorageVolLookupByPath(ref)
	}
	if err != nil {
		return v, "", err
	}
	path, err := l.StorageVolGetPath(v)
	return v, path, err
}

// diskName is the name of an instance's own disk volume.
func (a *Adapter) diskName(id string) string { return a.DomainName(id) + ".qcow2" }

// instanceDisk returns the path of the instance's own disk: a qcow2 volume in the image's
// pool, backed by the image, created on the first deploy. Guests never write to the shared
// image, so instances of one app can run side by side and the image stays as it was
// onboarded. A redeploy onto another image stops the guest and starts it on a new disk.
func (a *Adapter) instanceDisk(ctx context.Context, l *golibvirt.Libvirt, req *vim.DeployRequest, img golibvirt.StorageVol, imgPath string) (string, error) {
	pool, err := l.StoragePoolLookupByVolume(img)
	if err != nil {
		return "", fmt.Errorf("pool of the image: %w", err)
	}
	name := a.diskName(req.AppInstanceID)
	if v, err := l.StorageVolLookupByName(pool, name); err == nil {
		desc, err := l.StorageVolGetXMLDesc(v, 0)
		if err != nil {
			return "", fmt.Errorf("describe %s: %w", name, err)
		}
		var x struct {
			Backing struct {
				Path string `xml:"path"`
			} `xml:"backingStore"`
		}
		if err := xml.Unmarshal([]byte(desc), &x); err != nil {
			return "", fmt.Errorf("parse %s: %w", name, err)
		}
		if x.Backing.Path == imgPath {
			return l.StorageVolGetPath(v)
		}
		if err := a.Stop(ctx, req.AppInstanceID); err != nil && !errors.Is(err, vim.ErrNotFound) {
			return "", err
		}
		if err := l.StorageVolDelete(v, 0); err != nil {
			return "", fmt.Errorf("delete %s (built on another image): %w", name, err)
		}
	} else if !isCode(err, golibvirt.ErrNoStorageVol) {
		return "", fmt.Errorf("lookup %s: %w", name, err)
	}
	_, capacity, _, err := l.StorageVolGetInfo(img)
	if err != nil {
		return "", fmt.Errorf("image size: %w", err)
	}
	var b strings.Builder
	b.WriteString("<volume><name>")
	xml.EscapeText(&b, []byte(name))
	fmt.Fprintf(&b, "</name><capacity unit='bytes'>%d</capacity><target><format type='qcow2'/></target><backingStore><path>", capacity)
	xml.EscapeText(&b, []byte(imgPath))
	b.WriteString("</path><format type='")
	xml.EscapeText(&b, []byte(orStr(req.Image.DiskFormat, "qcow2")))
	b.WriteString("'/></backingStore></volume>")
	v, err := l.StorageVolCreateXML(pool, b.String(), 0)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	return l.StorageVolGetPath(v)
}

// Deploy implements vim.VIM: it checks the image and the host's size, defines the domain
// (redefining updates it) and starts it unless it runs.
func (a *Adapter) Deploy(ctx context.Context, req vim.DeployRequest) error {
	const op = "deploy"
	if err := req.Validate(); err != nil {
		return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: err}
	}
	if req.Image.Ref == "" {
		return vim.Errorf(op, req.AppInstanceID, vim.ErrInvalid, "swImageDescriptor has no swImage")
	}
	l, err := a.conn(ctx, op, req.AppInstanceID)
	if err != nil {
		return err
	}
	img, imgPath, err := resolveImage(l, req.Image.Ref)
	if err != nil {
		return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: vim.ErrImageMissing,
			Detail: fmt.Sprintf("swImage %q is not a volume of this host", req.Image.Ref), Cause: err}
	}
	_, memKiB, cpus, _, _, _, _, _, err := l.NodeGetInfo()
	if err != nil {
		return wrap(op, req.AppInstanceID, err, "node info")
	}
	wantCPU, wantMiB := int32(max(1, math.Ceil(req.Compute.VirtualCPUs))), max(req.Compute.MemoryMiB, req.Image.MinRAMMiB)
	if wantCPU > cpus || uint64(wantMiB)<<10 > memKiB {
		return vim.Errorf(op, req.AppInstanceID, vim.ErrUnschedulable, "host has %d CPUs and %d MiB; the app needs %d vCPUs and %d MiB",
			cpus, memKiB>>10, wantCPU, wantMiB)
	}
	path, err := a.instanceDisk(ctx, l, &req, img, imgPath)
	if err != nil {
		return wrap(op, req.AppInstanceID, err, "instance disk")
	}
	x, err := a.DomainXML(&req, path)
	if err != nil {
		return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: vim.ErrInvalid, Cause: err}
	}
	// Redefining an existing domain must name its UUID, and the domain must be ours.
	if old, err := l.DomainLookupByName(a.DomainName(req.AppInstanceID)); err == nil {
		if err := a.owned(l, old, req.AppInstanceID); err != nil {
			return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: vim.ErrConflict, Cause: err,
				Detail: fmt.Sprintf("domain %s exists and was not defined for this app instance", old.Name)}
		}
		u := old.UUID
		x = strings.Replace(x, "</name>", fmt.Sprintf("</name>\n  <uuid>%x-%x-%x-%x-%x</uuid>", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), 1)
	} else if !golibvirt.IsNotFound(err) {
		return wrap(op, req.AppInstanceID, err, "lookup domain")
	}
	dom, err := l.DomainDefineXML(x)
	if err != nil {
		return wrap(op, req.AppInstanceID, err, "define domain")
	}
	if err := start(l, dom); err != nil {
		return wrap(op, req.AppInstanceID, err, "start domain")
	}
	a.log.InfoContext(ctx, "vm instance deployed", logkeys.AppInstanceID, req.AppInstanceID, logkeys.Name, dom.Name)
	return nil
}

func start(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
	st, _, err := l.DomainGetState(dom, 0)
	if err != nil {
		return err
	}
	if st == stateRunning || st == stateBlocked {
		return nil
	}
	if st == statePaused {
		return l.DomainResume(dom)
	}
	if err := l.DomainCreate(dom); err != nil && !isCode(err, golibvirt.ErrOperationInvalid) {
		return err
	}
	return nil
}

// Start implements vim.VIM.
func (a *Adapter) Start(ctx context.Context, id string) error {
	const op = "start"
	l, dom, err := a.lookup(ctx, op, id)
	if err != nil {
		return err
	}
	return wrap(op, id, start(l, dom), "start domain")
}

// Stop implements vim.VIM: ACPI shutdown, destroyed if still up after ShutdownGrace.
func (a *Adapter) Stop(ctx context.Context, id string) error {
	const op = "stop"
	l, dom, err := a.lookup(ctx, op, id)
	if err != nil {
		return err
	}
	st, _, err := l.DomainGetState(dom, 0)
	if err != nil {
		return wrap(op, id, err, "state")
	}
	if st == stateShutoff || st == stateCrashed {
		return nil
	}
	if err := l.DomainShutdown(dom); err != nil && !isCode(err, golibvirt.ErrOperationInvalid) {
		return wrap(op, id, err, "shutdown")
	}
	deadline := time.Now().Add(a.cfg.ShutdownGrace)
	for time.Now().Before(deadline) {
		if st, _, err := l.DomainGetState(dom, 0); err == nil && st == stateShutoff {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := l.DomainDestroy(dom); err != nil && !isCode(err, golibvirt.ErrOperationInvalid) {
		return wrap(op, id, err, "destroy after shutdown grace")
	}
	return nil
}

// Terminate implements vim.VIM: destroy and undefine; a domain that is gone succeeds.
func (a *Adapter) Terminate(ctx context.Context, id string) error {
	const op = "terminate"
	l, dom, err := a.lookup(ctx, op, id)
	if errors.Is(err, vim.ErrNotFound) { // gone already; its disk may not be
		if l, err = a.conn(ctx, op, id); err != nil {
			return err
		}
		return wrap(op, id, a.deleteDisk(l, id), "delete the instance disk")
	}
	if err != nil {
		return err
	}
	if err := a.owned(l, dom, id); err != nil {
		return &vim.Error{Op: op, AppInstanceID: id, Err: vim.ErrConflict, Cause: err,
			Detail: fmt.Sprintf("domain %s was not defined for this app instance; left alone", dom.Name)}
	}
	if err := l.DomainDestroy(dom); err != nil && !isCode(err, golibvirt.ErrOperationInvalid) && !golibvirt.IsNotFound(err) {
		return wrap(op, id, err, "destroy")
	}
	err = l.DomainUndefineFlags(dom, golibvirt.DomainUndefineManagedSave|golibvirt.DomainUndefineSnapshotsMetadata|golibvirt.DomainUndefineNvram)
	if isCode(err, golibvirt.ErrInvalidArg) { // drivers without NVRAM support refuse the flag
		err = l.DomainUndefineFlags(dom, golibvirt.DomainUndefineManagedSave|golibvirt.DomainUndefineSnapshotsMetadata)
	}
	if err != nil && !golibvirt.IsNotFound(err) {
		return wrap(op, id, err, "undefine")
	}
	if err := a.deleteDisk(l, id); err != nil {
		return wrap(op, id, err, "delete the instance disk")
	}
	a.log.InfoContext(ctx, "vm instance terminated", logkeys.AppInstanceID, id)
	return nil
}

// owned checks that dom carries the adapter's metadata for instance id, so that Deploy
// never redefines and Terminate never destroys a domain someone else named mec-<id>.
func (a *Adapter) owned(l *golibvirt.Libvirt, dom golibvirt.Domain, id string) error {
	md, err := l.DomainGetMetadata(dom, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{metadataNS}, 0)
	if err != nil {
		return fmt.Errorf("no %s metadata: %w", metadataNS, err)
	}
	var m struct {
		AppInstanceID string `xml:"appInstanceId"`
	}
	if err := xml.Unmarshal([]byte(md), &m); err != nil {
		return fmt.Errorf("parse metadata: %w", err)
	}
	if m.AppInstanceID != id {
		return fmt.Errorf("metadata names app instance %q", m.AppInstanceID)
	}
	return nil
}

// deleteDisk deletes the instance's own disk volume (see instanceDisk) from whichever
// active pool holds it; none is fine.
func (a *Adapter) deleteDisk(l *golibvirt.Libvirt, id string) error {
	pools, _, err := l.ConnectListAllStoragePools(1, golibvirt.ConnectListStoragePoolsActive)
	if err != nil {
		return err
	}
	for _, p := range pools {
		v, err := l.StorageVolLookupByName(p, a.diskName(id))
		if isCode(err, golibvirt.ErrNoStorageVol) {
			continue
		}
		if err != nil {
			return err
		}
		if err := l.StorageVolDelete(v, 0); err != nil && !isCode(err, golibvirt.ErrNoStorageVol) {
			return err
		}
	}
	return nil
}

func (a *Adapter) lookup(ctx context.Context, op, id string) (*golibvirt.Libvirt, golibvirt.Domain, error) {
	if err := vim.ValidateID(id); err != nil {
		return nil, golibvirt.Domain{}, &vim.Error{Op: op, AppInstanceID: id, Err: err}
	}
	l, err := a.conn(ctx, op, id)
	if err != nil {
		return nil, golibvirt.Domain{}, err
	}
	dom, err := l.DomainLookupByName(a.DomainName(id))
	if err != nil {
		return nil, golibvirt.Domain{}, wrap(op, id, err, "lookup domain")
	}
	return l, dom, nil
}

// Status implements vim.VIM from the domain state and the guest's addresses.
func (a *Adapter) Status(ctx context.Context, id string) (vim.Status, error) {
	const op = "status"
	l, dom, err := a.lookup(ctx, op, id)
	if err != nil {
		return vim.Status{}, err
	}
	return a.status(l, dom, id)
}

func (a *Adapter) status(l *golibvirt.Libvirt, dom golibvirt.Domain, id string) (vim.Status, error) {
	st, reason, err := l.DomainGetState(dom, 0)
	if err != nil {
		return vim.Status{}, wrap("status", id, err, "state")
	}
	s := vim.Status{AppInstanceID: id, Desired: 1, Observed: time.Now()}
	switch st {
	case stateRunning, stateBlocked:
		s.Phase, s.Ready = vim.PhaseRunning, 1
	case stateShutoff, stateShutdown:
		s.Phase, s.Desired = vim.PhaseStopped, 0
	case stateCrashed:
		s.Phase = vim.PhaseFailed
		s.Reasons = []vim.Reason{{Code: "Crashed", Message: fmt.Sprintf("domain crashed (reason %d)", reason), Object: "domain/" + dom.Name, Err: vim.ErrFailed}}
	default: // paused, pmsuspended, nostate
		s.Phase = vim.PhasePending
		s.Reasons = []vim.Reason{{Code: stateName(st), Object: "domain/" + dom.Name}}
	}
	if s.Phase == vim.PhaseRunning {
		if host, err := l.ConnectGetHostname(); err == nil {
			s.Nodes = []string{host}
		}
		if ifaces, err := l.DomainInterfaceAddresses(dom, 0, 0); err == nil { // 0: DHCP leases
			for _, ifc := range ifaces {
				for _, ad := range ifc.Addrs {
					s.Endpoints = append(s.Endpoints, vim.Endpoint{Name: ifc.Name, Kind: "VM", Address: ad.Addr})
				}
			}
		}
	}
	return s, nil
}

func stateName(st int32) string {
	switch st {
	case statePaused:
		return "Paused"
	case statePMSuspended:
		return "PMSuspended"
	default:
		return "NoState"
	}
}

// Capabilities implements vim.VIM from NodeGetInfo and the host capabilities.
func (a *Adapter) Capabilities(ctx context.Context) (vim.Capabilities, error) {
	const op = "capabilities"
	l, err := a.conn(ctx, op, "")
	if err != nil {
		return vim.Capabilities{}, err
	}
	_, memKiB, cpus, _, _, _, _, _, err := l.NodeGetInfo()
	if err != nil {
		return vim.Capabilities{}, wrap(op, "", err, "node info")
	}
	capsXML, err := l.ConnectGetCapabilities()
	if err != nil {
		return vim.Capabilities{}, wrap(op, "", err, "capabilities")
	}
	var hc struct {
		Host struct {
			CPU struct {
				Arch string `xml:"arch"`
			} `xml:"cpu"`
		} `xml:"host"`
	}
	_ = xml.Unmarshal([]byte(capsXML), &hc)
	arch := hc.Host.CPU.Arch
	switch arch {
	case "x86_64":
		arch = "amd64"
	case "aarch64":
		arch = "arm64"
	}
	host, _ := l.ConnectGetHostname()
	ver, _ := l.ConnectGetLibVersion()
	res := vim.Resources{MilliCPU: int64(cpus) * 1000, MemoryBytes: int64(memKiB) << 10}
	return vim.Capabilities{
		Kind:          vim.KindLibvirt,
		Version:       fmt.Sprintf("%d.%d.%d", ver/1000000, ver/1000%1000, ver%1000),
		Allocatable:   res,
		Architectures: []string{arch},
		NodeKinds:     []vim.NodeKind{vim.NodeHost},
		Nodes:         []vim.Node{{Name: host, Kind: vim.NodeHost, Arch: arch, Ready: true, Schedulable: true, Allocatable: res}},
	}, nil
}

// Watch implements vim.VIM: the current status of every instance domain, then a status on
// each lifecycle event of one (defined, started, stopped, crashed, undefined).
func (a *Adapter) Watch(ctx context.Context) (<-chan vim.Event, error) {
	const op = "watch"
	l, err := a.conn(ctx, op, "")
	if err != nil {
		return nil, err
	}
	events, err := l.LifecycleEvents(ctx)
	if err != nil {
		return nil, wrap(op, "", err, "subscribe to lifecycle events")
	}
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		return nil, wrap(op, "", err, "list domains")
	}
	out := make(chan vim.Event, 64)
	go func() {
		defer close(out)
		send := func(ev vim.Event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		emit := func(dom golibvirt.Domain) bool {
			id, ok := strings.CutPrefix(dom.Name, a.cfg.DomainPrefix)
			if !ok {
				return true
			}
			st, err := a.status(l, dom, id)
			if err != nil {
				if golibvirt.IsNotFound(errors.Unwrap(err)) || errors.Is(err, vim.ErrNotFound) {
					return send(vim.Event{Status: vim.Status{AppInstanceID: id}, Deleted: true})
				}
				return true
			}
			return send(vim.Event{Status: st})
		}
		for _, d := range doms {
			if !emit(d) {
				return
			}
		}
		for ev := range events {
			if ev.Event == int32(golibvirt.DomainEventUndefined) {
				if id, ok := strings.CutPrefix(ev.Dom.Name, a.cfg.DomainPrefix); ok {
					if !send(vim.Event{Status: vim.Status{AppInstanceID: id}, Deleted: true}) {
						return
					}
				}
				continue
			}
			if !emit(ev.Dom) {
				return
			}
		}
	}()
	return out, nil
}
