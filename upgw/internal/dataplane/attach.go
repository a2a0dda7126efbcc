package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// XDPMode selects how XDP programs attach.
type XDPMode int

// XDP attach modes.
const (
	XDPNative XDPMode = iota
	XDPGeneric
)

func (m XDPMode) flags() link.XDPAttachFlags {
	if m == XDPGeneric {
		return link.XDPGenericMode
	}
	return link.XDPDriverMode
}

func (m XDPMode) String() string {
	if m == XDPGeneric {
		return "generic"
	}
	return "native"
}

// linkDir is the subdirectory of the pin dir holding the pinned links.
const linkDir = "links"

// AttachN3 attaches the uplink program to the gNB-side port and the downlink program to the
// UPF-side port (XDP), the DUPLICATE_* half to both (TCX ingress), and records the ports in
// slots 0 and 1 and in the config map. With a pin dir, links a previous agent pinned for the
// same port and mode are taken over: their program is replaced atomically.
func (d *Datapath) AttachN3(gnb, upf int, mode XDPMode) error {
	if err := d.SetConfig(gnb, upf); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	for slot, ifx := range map[uint32]int{SlotGNB: gnb, SlotUPF: upf} {
		if err := d.SetTarget(slot, Target{Ifindex: uint32(ifx), Kind: TargetN3}); err != nil {
			return err
		}
	}
	attach := []struct {
		role string
		prog *ebpf.Program
		ifx  int
		tc   bool
	}{
		{"ul-xdp-" + mode.String(), d.objs.UpgwUl, gnb, false}, {"dl-xdp-" + mode.String(), d.objs.UpgwDl, upf, false},
		{"gnb-tc", d.objs.UpgwN3Tc, gnb, true}, {"upf-tc", d.objs.UpgwN3Tc, upf, true},
	}
	// A pinned XDP link of the other mode cannot be updated in place: it goes first.
	other := XDPGeneric
	if mode == XDPGeneric {
		other = XDPNative
	}
	for _, role := range []string{"ul-xdp-" + other.String(), "dl-xdp-" + other.String()} {
		if err := d.dropPinnedLink(role); err != nil {
			return err
		}
	}
	for _, a := range attach {
		if err := d.attach(a.role, a.prog, a.ifx, a.tc, mode); err != nil {
			return err
		}
	}
	return nil
}

// AttachApp attaches the return-path program to an app-facing port (TCX ingress).
func (d *Datapath) AttachApp(ifindex int, name string) error {
	return d.attach("app-"+name, d.objs.UpgwApp, ifindex, true, XDPNative)
}

// attach attaches prog to ifindex under role. With a pin dir, a link pinned under role on
// the same interface gets prog with BPF_LINK_UPDATE (atomic: every packet meets the old or
// the new program); one on another interface is removed first; a new link is pinned.
func (d *Datapath) attach(role string, prog *ebpf.Program, ifx int, tc bool, mode XDPMode) error {
	path := ""
	if d.pinDir != "" {
		path = filepath.Join(d.pinDir, linkDir, role)
		l, err := link.LoadPinnedLink(path, nil)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			// A pin the kernel no longer backs (its interface went away): start afresh.
			if rerr := removePin(path); rerr != nil {
				return rerr
			}
		default:
			if linkIfindex(l) == ifx {
				if err := l.Update(prog); err != nil {
					l.Close()
					return fmt.Errorf("replace %s program on ifindex %d: %w", role, ifx, err)
				}
				d.mu.Lock()
				d.links = append(d.links, pinnedLink{Link: l, path: path})
				d.adopted++
				d.mu.Unlock()
				return nil
			}
			// Another interface: this link is not ours to keep.
			err := errors.Join(l.Unpin(), l.Close())
			if err != nil {
				return fmt.Errorf("remove stale %s link: %w", role, err)
			}
		}
	}
	var (
		l   link.Link
		err error
	)
	if tc {
		l, err = link.AttachTCX(link.TCXOptions{Interface: ifx, Program: prog, Attach: ebpf.AttachTCXIngress})
	} else {
		l, err = link.AttachXDP(link.XDPOptions{Interface: ifx, Program: prog, Flags: mode.flags()})
	}
	if err != nil {
		return fmt.Errorf("attach %s to ifindex %d: %w", prog, ifx, err)
	}
	if path != "" {
		if err := l.Pin(path); err != nil {
			l.Close()
			return fmt.Errorf("pin %s link: %w", role, err)
		}
	}
	d.mu.Lock()
	d.links = append(d.links, pinnedLink{Link: l, path: path})
	d.mu.Unlock()
	return nil
}

// linkIfindex returns the interface a link is attached to (0 if unknown or gone).
func linkIfindex(l link.Link) int {
	info, err := l.Info()
	if err != nil {
		return 0
	}
	if x := info.XDP(); x != nil {
		return int(x.Ifindex)
	}
	if t := info.TCX(); t != nil {
		return int(t.Ifindex)
	}
	return 0
}

// dropPinnedLink detaches and unpins the link pinned under role, if any.
func (d *Datapath) dropPinnedLink(role string) error {
	if d.pinDir == "" {
		return nil
	}
	path := filepath.Join(d.pinDir, linkDir, role)
	l, err := link.LoadPinnedLink(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return removePin(path)
	}
	if err := errors.Join(l.Unpin(), l.Close()); err != nil {
		return fmt.Errorf("remove %s link: %w", role, err)
	}
	return nil
}

// Commit finishes a start: maps created to replace incompatible pins take the pins (every
// link now runs programs that use them), and pinned links this agent did not take over
// (an app port no longer configured) are detached.
func (d *Datapath) Commit() error {
	if d.pinDir == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.pending {
		path := filepath.Join(d.pinDir, p.name)
		if err := removePin(path); err != nil {
			return err
		}
		if err := p.m.Pin(path); err != nil {
			return fmt.Errorf("pin %s: %w", p.name, err)
		}
	}
	d.pending = nil
	mine := map[string]bool{}
	for _, l := range d.links {
		mine[filepath.Base(l.path)] = true
	}
	ents, err := os.ReadDir(filepath.Join(d.pinDir, linkDir))
	if err != nil {
		return fmt.Errorf("read pinned links: %w", err)
	}
	for _, e := range ents {
		if mine[e.Name()] || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(d.pinDir, linkDir, e.Name())
		if l, err := link.LoadPinnedLink(path, nil); err == nil {
			l.Close() // the pin keeps it until removed below
		}
		if err := removePin(path); err != nil {
			return err
		}
		d.logf("detached pinned link %s: no longer configured", e.Name())
	}
	return nil
}

// removePin removes a pin; a missing one is fine.
func removePin(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove pin %s: %w", path, err)
	}
	return nil
}

// AttachPass attaches the XDP_PASS program, which lets native XDP redirects into a veth
// reach its peer (the peer of a redirect target needs an XDP program). It is never pinned.
func (d *Datapath) AttachPass(ifindex int, mode XDPMode) error {
	l, err := link.AttachXDP(link.XDPOptions{Interface: ifindex, Program: d.objs.UpgwPass, Flags: mode.flags()})
	if err != nil {
		return fmt.Errorf("attach pass program to ifindex %d: %w", ifindex, err)
	}
	d.mu.Lock()
	d.links = append(d.links, pinnedLink{Link: l})
	d.mu.Unlock()
	return nil
}

// SetTarget writes an output slot: its description and, for real interfaces, the devmap.
// Entries that already hold the value (an adopted data plane) are not rewritten: a devmap
// update replaces the device entry packets are being redirected through.
func (d *Datapath) SetTarget(slot uint32, t Target) error {
	if slot >= MaxTargets {
		return fmt.Errorf("target slot %d out of range", slot)
	}
	var cur Target
	if err := d.objs.Targets.Lookup(slot, &cur); err != nil || cur != t {
		if err := d.objs.Targets.Put(slot, t); err != nil {
			return fmt.Errorf("write target %d: %w", slot, err)
		}
	}
	if t.Ifindex != 0 {
		var ifx uint32
		if err := d.objs.TxPorts.Lookup(slot, &ifx); err != nil || ifx != t.Ifindex {
			if err := d.objs.TxPorts.Put(slot, t.Ifindex); err != nil {
				return fmt.Errorf("write tx port %d: %w", slot, err)
			}
		}
	}
	return nil
}

// SetConfig writes the N3 ifindexes (AttachN3 does; tests of the return path call it alone).
func (d *Datapath) SetConfig(gnb, upf int) error {
	want := upgwUpgwConfig{GnbIfindex: uint32(gnb), UpfIfindex: uint32(upf)}
	var cur upgwUpgwConfig
	if err := d.objs.Config.Lookup(uint32(0), &cur); err == nil && cur == want {
		return nil
	}
	return d.objs.Config.Put(uint32(0), want)
}
