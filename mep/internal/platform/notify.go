package platform

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/internal/outbox"
	"github.com/edgemec/edgemec/mep/internal/store"
)

// Notifier delivers the MEP's queued notifications through an outbox.Outbox (which states
// the guarantees). It is the MEP's side of it: each target of a stored notification (one
// subscriber of one change) is a delivery owned by the app instance of its subscription;
// outcomes are written back to the store's outbox; a subscription that was deleted
// (unsubscribed, or its app terminated) is no longer live.
//
// Settling: a notification whose targets are all finished is deleted; the state of single
// targets is stored only for notifications with a target waiting for a retry — while the
// others are merely in flight (bounded by the timeout) it waits for the notification to
// finish, which is then one DELETE. At worst a crash re-sends a delivered notification,
// which at-least-once delivery allows.
type Notifier struct {
	site *MEP
	st   store.Store
	log  *slog.Logger
	ob   *outbox.Outbox[target]

	mu      sync.Mutex
	notes   map[int64]*note // queued notifications with unfinished targets
	touched map[*note]bool  // notes with outcomes not yet stored
}

// note is a queued notification in memory. The delivery state of its targets is guarded by
// Notifier.mu; the rest is immutable.
type note struct {
	store.Notification
	open  int          // targets not done
	dirty map[int]bool // targets whose state changed since it was last stored
}

// target is the id of one delivery: target i of notification id, with its subscription.
type target struct {
	id  int64
	i   int
	sub string
}

// NewNotifier returns a Notifier for the site's outbox, registering its metrics on reg
// (named mep_notification…).
func NewNotifier(cfg outbox.Config, s *MEP, reg prometheus.Registerer, log *slog.Logger) *Notifier {
	if cfg.Namespace == "" {
		cfg.Namespace = "mep"
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "mep"
	}
	n := &Notifier{site: s, st: s.st, log: log, notes: map[int64]*note{}, touched: map[*note]bool{}}
	n.ob = outbox.New[target](cfg, n, reg, log)
	return n
}

// Run delivers until ctx ends. In-flight deliveries finish (bounded by the timeout) before
// it returns, and their outcomes are recorded.
func (n *Notifier) Run(ctx context.Context) error {
	// Hook into commits first, then load what is already queued (outbox.Run): a notification
	// committed in between is in both, and the outbox keeps one copy by id.
	n.site.mu.Lock()
	n.site.outbox = n.push
	n.site.mu.Unlock()
	defer func() {
		n.site.mu.Lock()
		n.site.outbox = nil
		n.site.mu.Unlock()
	}()
	return n.ob.Run(ctx)
}

// push queues committed notifications. The caller holds the site's lock.
func (n *Notifier) push(ns []store.Notification) {
	n.ob.Enqueue(n.deliveries(ns)...)
}

// deliveries returns the unfinished targets of ns as deliveries, keeping one note per
// notification id.
func (n *Notifier) deliveries(ns []store.Notification) []outbox.Delivery[target] {
	var ds []outbox.Delivery[target]
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, x := range ns {
		e := n.notes[x.ID]
		if e == nil {
			e = &note{Notification: x, dirty: map[int]bool{}}
			for _, t := range x.Targets {
				if !t.Done {
					e.open++
				}
			}
			n.notes[x.ID] = e
		}
		for i := range e.Targets {
			t := &e.Targets[i]
			if t.Done {
				continue
			}
			owner, _ := n.site.subscriptionOwner(t.SubscriptionID)
			ds = append(ds, outbox.Delivery[target]{ID: target{e.ID, i, t.SubscriptionID}, Owner: owner, URL: t.URL,
				Body: func() []byte { return e.BodyFor(i) }, Created: e.CreatedAt, Attempts: t.Attempts, Due: t.NextAt})
		}
	}
	return ds
}

// Pending implements outbox.Store: the store's queued notifications, as deliveries. A
// notification whose targets are all finished (the process stopped between storing the
// last target's state and deleting it) is deleted at once.
func (n *Notifier) Pending(ctx context.Context) ([]outbox.Delivery[target], error) {
	ns, err := n.st.Pending(ctx, 1<<20)
	if err != nil {
		return nil, err
	}
	var finished []int64
	live := ns[:0]
	for _, x := range ns {
		if !slices.ContainsFunc(x.Targets, func(t store.Target) bool { return !t.Done }) {
			finished = append(finished, x.ID)
			continue
		}
		live = append(live, x)
	}
	if len(finished) > 0 {
		if err := n.st.Settle(ctx, finished, nil); err != nil {
			return nil, fmt.Errorf("remove finished notifications: %w", err)
		}
	}
	return n.deliveries(live), nil
}

// Live implements outbox.Store: the target's subscription still exists.
func (n *Notifier) Live(d *outbox.Delivery[target]) bool {
	_, ok := n.site.subscriptionOwner(d.ID.sub)
	return ok
}

// Settle implements outbox.Store.
func (n *Notifier) Settle(ctx context.Context, outs []outbox.Outcome[target]) error {
	finished, states := n.apply(outs)
	if len(finished) == 0 && len(states) == 0 {
		return nil
	}
	return n.st.Settle(ctx, finished, states)
}

// apply records outcomes in the notes and returns the notifications that are finished (and
// forgets them) and the target states to store (see Notifier).
func (n *Notifier) apply(outs []outbox.Outcome[target]) (finished []int64, states []store.TargetState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, o := range outs {
		e, i := n.notes[o.ID.id], o.ID.i
		if e == nil || e.Targets[i].Done {
			continue // settled before
		}
		t := &e.Targets[i]
		switch o.Result {
		case outbox.Retry:
			t.Attempts, t.NextAt = o.Attempts, o.Due
			if o.Attempts == reportAfterFailures {
				n.reportFailing(t, o)
			}
		case outbox.Dropped:
			n.logDrop(t, o)
			fallthrough
		default:
			t.Done = true
			e.open--
		}
		e.dirty[i] = true
		n.touched[e] = true
	}
	for e := range n.touched {
		if e.open == 0 {
			finished = append(finished, e.ID)
			delete(n.notes, e.ID)
			delete(n.touched, e)
			continue
		}
		if !slices.ContainsFunc(e.Targets, func(t store.Target) bool { return t.Attempts > 0 && !t.Done }) {
			continue // only in flight: wait for the notification to finish
		}
		for i := range e.dirty {
			t := &e.Targets[i]
			states = append(states, store.TargetState{ID: e.ID, Target: i, Attempts: t.Attempts, NextAt: t.NextAt, Done: t.Done})
		}
		clear(e.dirty)
		delete(n.touched, e)
	}
	return finished, states
}

// reportAfterFailures is the number of failed attempts after which a subscriber is
// reported, long before its last attempt is dropped minutes later.
const reportAfterFailures = 3

// reportFailing warns that a subscriber's deliveries keep failing, naming its app instance,
// the last answer and the callback's host (not the whole URL, which may carry secrets).
func (n *Notifier) reportFailing(t *store.Target, o outbox.Outcome[target]) {
	app, _ := n.site.subscriptionOwner(t.SubscriptionID)
	host := ""
	if u, err := url.Parse(t.URL); err == nil {
		host = u.Host
	}
	args := []any{logkeys.AppInstanceID, app, logkeys.SubscriptionID, t.SubscriptionID, logkeys.Attempt, o.Attempts,
		logkeys.Status, o.Status, "callback_host", host}
	if o.Err != nil {
		args = append(args, logkeys.Error, o.Err)
	}
	n.log.Warn("notification subscriber keeps failing", args...)
}

func (n *Notifier) logDrop(t *store.Target, o outbox.Outcome[target]) {
	switch o.Reason {
	case outbox.Deleted:
		n.log.Debug("notification not sent: the subscription was deleted", logkeys.SubscriptionID, t.SubscriptionID)
	case outbox.Denied:
		n.log.Warn("notification callback address is denied", logkeys.SubscriptionID, t.SubscriptionID, logkeys.Error, o.Err)
	case outbox.Gone:
		n.log.Warn("notification callback is gone", logkeys.SubscriptionID, t.SubscriptionID, logkeys.Status, o.Status)
	default:
		n.log.Warn("notification dropped", logkeys.SubscriptionID, t.SubscriptionID, logkeys.Attempt, o.Attempts,
			logkeys.Callback, outbox.Redact(t.URL))
	}
}
