package dataplane

import (
	"fmt"

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

// AttachN3 attaches the uplink program to the gNB-side port and the downlink program to the
// UPF-side port (XDP), the DUPLICATE_* half to both (TCX ingress), and records the ports in
// slots 0 and 1 and in the config map.
func (d *Datapath) AttachN3(gnb, upf int, mode XDPMode) error {
	if err := d.objs.Config.Put(uint32(0), upgwUpgwConfig{GnbIfindex: uint32(gnb), UpfIfindex: uint32(upf)}); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	for slot, ifx := range map[uint32]int{SlotGNB: gnb, SlotUPF: upf} {
		if err := d.SetTarget(slot, Target{Ifindex: uint32(ifx), Kind: TargetN3}); err != nil {
			return err
		}
	}
	attach := []struct {
		prog *ebpf.Program
		ifx  int
		tc   bool
	}{
		{d.objs.UpgwUl, gnb, false}, {d.objs.UpgwDl, upf, false},
		{d.objs.UpgwN3Tc, gnb, true}, {d.objs.UpgwN3Tc, upf, true},
	}
	for _, a := range attach {
		var (
			l   link.Link
			err error
		)
		if a.tc {
			l, err = link.AttachTCX(link.TCXOptions{Interface: a.ifx, Program: a.prog, Attach: ebpf.AttachTCXIngress})
		} else {
			l, err = link.AttachXDP(link.XDPOptions{Interface: a.ifx, Program: a.prog, Flags: mode.flags()})
		}
		if err != nil {
			return fmt.Errorf("attach %s to ifindex %d: %w", a.prog, a.ifx, err)
		}
		d.addLink(l)
	}
	return nil
}

// AttachApp attaches the return-path program to an app-facing port (TCX ingress).
func (d *Datapath) AttachApp(ifindex int) error {
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: d.objs.UpgwApp, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return fmt.Errorf("attach app program to ifindex %d: %w", ifindex, err)
	}
	d.addLink(l)
	return nil
}

// AttachPass attaches the XDP_PASS program, which lets native XDP redirects into a veth
// reach its peer (the peer of a redirect target needs an XDP program).
func (d *Datapath) AttachPass(ifindex int, mode XDPMode) error {
	l, err := link.AttachXDP(link.XDPOptions{Interface: ifindex, Program: d.objs.UpgwPass, Flags: mode.flags()})
	if err != nil {
		return fmt.Errorf("attach pass program to ifindex %d: %w", ifindex, err)
	}
	d.addLink(l)
	return nil
}

func (d *Datapath) addLink(l link.Link) {
	d.mu.Lock()
	d.links = append(d.links, l)
	d.mu.Unlock()
}

// SetTarget writes an output slot: its description and, for real interfaces, the devmap.
func (d *Datapath) SetTarget(slot uint32, t Target) error {
	if slot >= MaxTargets {
		return fmt.Errorf("target slot %d out of range", slot)
	}
	if err := d.objs.Targets.Put(slot, t); err != nil {
		return fmt.Errorf("write target %d: %w", slot, err)
	}
	if t.Ifindex != 0 {
		if err := d.objs.TxPorts.Put(slot, t.Ifindex); err != nil {
			return fmt.Errorf("write tx port %d: %w", slot, err)
		}
	}
	return nil
}

// SetConfig writes the N3 ifindexes without attaching (for tests of the return path).
func (d *Datapath) SetConfig(gnb, upf int) error {
	return d.objs.Config.Put(uint32(0), upgwUpgwConfig{GnbIfindex: uint32(gnb), UpfIfindex: uint32(upf)})
}
