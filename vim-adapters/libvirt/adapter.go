package libvirt

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

var _ vim.VIM = (*Adapter)(nil)

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
	// CredentialDir holds the Mp1 client secret files handed to guests through fw_cfg
	// (credential.go); it must be on the libvirt host and readable by the user QEMU runs
	// as. Default /run/edgemec-libvirt.
	CredentialDir string
	// SMBIOSCredentials puts the client secret into an SMBIOS OEM string as before, for a
	// libvirt host the adapter cannot write files on (a remote connection). Every user of
	// the host can then read the secret on the QEMU command line.
	SMBIOSCredentials bool
	Logger            *slog.Logger
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
	if cfg.CredentialDir == "" {
		cfg.CredentialDir = "/run/edgemec-libvirt"
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
	// An existing domain must be ours, checked before the instance disk is touched.
	old, err := l.DomainLookupByName(a.DomainName(req.AppInstanceID))
	existing := err == nil
	if existing {
		if err := a.owned(l, old, req.AppInstanceID); err != nil {
			return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: vim.ErrConflict, Cause: err,
				Detail: fmt.Sprintf("domain %s exists and was not defined for this app instance", old.Name)}
		}
	} else if !golibvirt.IsNotFound(err) {
		return wrap(op, req.AppInstanceID, err, "lookup domain")
	}
	path, err := a.instanceDisk(ctx, l, &req, img, imgPath)
	if err != nil {
		return wrap(op, req.AppInstanceID, err, "instance disk")
	}
	if p := a.credentialPath(req.AppInstanceID); p != "" {
		if err := writeCredential(p, req.MEP.ClientSecret); err != nil {
			return wrap(op, req.AppInstanceID, err, "mp1 credential")
		}
	}
	x, err := a.DomainXML(&req, path)
	if err != nil {
		return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: vim.ErrInvalid, Cause: err}
	}
	// Redefining an existing domain must name its UUID.
	if existing {
		u := old.UUID
		x = strings.Replace(x, "</name>", fmt.Sprintf("</name>\n  <uuid>%x-%x-%x-%x-%x</uuid>", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), 1)
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
	l, dom, err := a.lookupOwned(ctx, op, id)
	if err != nil {
		return err
	}
	return wrap(op, id, start(l, dom), "start domain")
}

// Stop implements vim.VIM: ACPI shutdown, destroyed if still up after ShutdownGrace.
func (a *Adapter) Stop(ctx context.Context, id string) error {
	const op = "stop"
	l, dom, err := a.lookupOwned(ctx, op, id)
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
		if err := a.removeCredential(id); err != nil {
			return wrap(op, id, err, "mp1 credential")
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
	if err := a.removeCredential(id); err != nil {
		return wrap(op, id, err, "mp1 credential")
	}
	a.log.InfoContext(ctx, "vm instance terminated", logkeys.AppInstanceID, id)
	return nil
}

// owned checks that dom carries the adapter's metadata for instance id, so that Deploy
// never redefines, Start and Stop never power and Terminate never destroys a domain someone
// else named mec-<id>.
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

// lookupOwned is lookup for an instance's own domain: a foreign one is vim.ErrConflict.
func (a *Adapter) lookupOwned(ctx context.Context, op, id string) (*golibvirt.Libvirt, golibvirt.Domain, error) {
	l, dom, err := a.lookup(ctx, op, id)
	if err != nil {
		return nil, dom, err
	}
	if err := a.owned(l, dom, id); err != nil {
		return nil, dom, &vim.Error{Op: op, AppInstanceID: id, Err: vim.ErrConflict, Cause: err,
			Detail: fmt.Sprintf("domain %s was not defined for this app instance; left alone", dom.Name)}
	}
	return l, dom, nil
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
