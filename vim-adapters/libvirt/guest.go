package libvirt

import (
	"context"
	"encoding/xml"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// A VM is Running only once its guest is up, not when the hypervisor starts it. Two signals
// say the guest is up, whichever comes first:
//
//  1. the QEMU guest agent connected: libvirt marks the domain's guest agent channel
//     (org.qemu.guest_agent.0, which DomainXML adds) state='connected';
//  2. a first heartbeat: GuestHeartbeat (vim.GuestHeartbeater) records it in the domain's
//     live metadata (under guestNS), which libvirt drops when the domain stops, so every
//     boot needs its own. In production the MEO calls it while it waits for Running, once
//     the site's MEP reports the instance READY over Mm5 (the app in the guest called
//     confirm_ready on Mp1; meo/internal/reconcile). Tests also use it to play the guest on
//     libvirt's test driver, which has no agent.
const (
	guestNS         = "https://edgemec.io/xmlns/libvirt/guest/1"
	guestAgentName  = "org.qemu.guest_agent.0"
	reasonGuestWait = vim.ReasonGuestStarting
)

var _ vim.GuestHeartbeater = (*Adapter)(nil)

// GuestHeartbeat records that the guest of instance id is up (see above). It fails with
// vim.ErrNotFound when the instance has no domain and vim.ErrConflict when the domain is not
// the adapter's; a domain that is not running is left as it is (vim.ErrConflict).
func (a *Adapter) GuestHeartbeat(ctx context.Context, id string) error {
	const op = "heartbeat"
	l, dom, err := a.lookupOwned(ctx, op, id)
	if err != nil {
		return err
	}
	st, _, err := l.DomainGetState(dom, 0)
	if err != nil {
		return wrap(op, id, err, "state")
	}
	if st != stateRunning && st != stateBlocked {
		return vim.Errorf(op, id, vim.ErrConflict, "domain %s is not running", dom.Name)
	}
	x := fmt.Sprintf(`<heartbeat at=%q/>`, time.Now().UTC().Format(time.RFC3339))
	if err := l.DomainSetMetadata(dom, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{x},
		golibvirt.OptString{"edgemecguest"}, golibvirt.OptString{guestNS}, golibvirt.DomainAffectLive); err != nil {
		return wrap(op, id, err, "set heartbeat")
	}
	return nil
}

// guestUp reports whether the guest of the running domain dom is up (agent or heartbeat).
func guestUp(l *golibvirt.Libvirt, dom golibvirt.Domain) bool {
	if m, err := l.DomainGetMetadata(dom, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{guestNS}, golibvirt.DomainAffectLive); err == nil && m != "" {
		return true
	}
	x, err := l.DomainGetXMLDesc(dom, 0)
	if err != nil {
		return false
	}
	var live struct {
		Channels []struct {
			Target struct {
				Name  string `xml:"name,attr"`
				State string `xml:"state,attr"`
			} `xml:"target"`
		} `xml:"devices>channel"`
	}
	if xml.Unmarshal([]byte(x), &live) != nil {
		return false
	}
	for _, c := range live.Channels {
		if c.Target.Name == guestAgentName && c.Target.State == "connected" {
			return true
		}
	}
	return false
}
