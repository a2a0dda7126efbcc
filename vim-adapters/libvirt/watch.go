package libvirt

import (
	"context"
	"errors"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Watch implements vim.VIM: the current status of every instance domain, then a status on
// each lifecycle event of one (defined, started, stopped, crashed, undefined) and when its
// guest comes up (guest agent or heartbeat, see guest.go).
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
	// A guest coming up (agent connected, heartbeat) changes the status without a
	// lifecycle event. A host that cannot report these events only loses those updates.
	guest := make(chan golibvirt.Domain, 16)
	for _, id := range []golibvirt.DomainEventID{golibvirt.DomainEventIDMetadataChange, golibvirt.DomainEventIDAgentLifecycle} {
		ch, err := l.SubscribeEvents(ctx, id, golibvirt.OptDomain{})
		if err != nil {
			continue
		}
		go func() {
			for ev := range ch {
				var dom golibvirt.Domain
				switch ev := ev.(type) {
				case *golibvirt.DomainEventCallbackMetadataChangeMsg:
					dom = ev.Dom
				case *golibvirt.DomainEventCallbackAgentLifecycleMsg:
					dom = ev.Dom
				default:
					continue
				}
				select {
				case guest <- dom:
				case <-ctx.Done():
				}
			}
		}()
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
		for {
			var ev golibvirt.DomainEventLifecycleMsg
			select {
			case dom := <-guest:
				if !emit(dom) {
					return
				}
				continue
			case e, ok := <-events:
				if !ok {
					return
				}
				ev = e
			}
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
