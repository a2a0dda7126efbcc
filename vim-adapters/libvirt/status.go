package libvirt

import (
	"context"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

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
		if !guestUp(l, dom) { // the hypervisor runs it; the guest is not up yet (guest.go)
			s.Phase, s.Ready = vim.PhasePending, 0
			s.Reasons = []vim.Reason{{Code: reasonGuestWait, Object: "domain/" + dom.Name,
				Message: "the domain runs; its guest agent has not connected and no heartbeat came yet"}}
		}
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
