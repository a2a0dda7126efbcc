package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/edgemec/edgemec/internal/callback"
	"github.com/edgemec/edgemec/mep/internal/store"
)

// SubscriptionKind selects one of the two Mp1 subscription collections of an app.
type SubscriptionKind int

// The subscription collections.
const (
	SerAvail SubscriptionKind = iota // /mec_service_mgmt/v1/applications/{id}/subscriptions
	AppTerm                          // /mec_app_support/v1/applications/{id}/subscriptions
)

func (k SubscriptionKind) typeName() string {
	if k == AppTerm {
		return AppTermSubscriptionType
	}
	return SerAvailSubscriptionType
}

func (s *MEP) subHref(k SubscriptionKind, app, id string) string {
	if k == AppTerm {
		return s.termSubHref(app, id)
	}
	return s.serSubHref(app, id)
}

// Subscribe creates subscription sub for app, in the collection of its kind. It returns
// the subscription as created, its links set, and its URI.
func (s *MEP) Subscribe(ctx context.Context, app string, sub Subscription) (Subscription, string, error) {
	k := sub.Kind()
	d := &subDoc{ID: newID(), AppInstanceID: app, Type: k.typeName()}
	switch {
	case sub.SerAvail != nil && sub.AppTerm == nil:
		b := *sub.SerAvail
		if err := ValidateSerAvailSubscription(&b); err != nil {
			return Subscription{}, "", err
		}
		d.SerAvail = &b
	case sub.AppTerm != nil && sub.SerAvail == nil:
		b := *sub.AppTerm
		b.AppInstanceId = app // the path id is authoritative, as for rules and services
		if err := ValidateAppTermSubscription(app, &b); err != nil {
			return Subscription{}, "", err
		}
		d.AppTerm = &b
	default:
		return Subscription{}, "", invalid("a subscription is of exactly one kind")
	}
	if err := s.callbackAllowed(d); err != nil {
		return Subscription{}, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(app)
	if err != nil {
		return Subscription{}, "", err
	}
	if a.Termination != nil {
		return Subscription{}, "", conflict("app instance %q is %s", app, flowWord(a.Termination.Action))
	}
	n := 0
	for _, sub := range s.subs {
		if sub.AppInstanceID == app {
			n++
		}
	}
	if n >= s.cfg.MaxSubscriptionsPerApp {
		return Subscription{}, "", errf(ErrLimit, "app instance %q already has %d subscriptions", app, n)
	}
	href := s.subHref(k, app, d.ID)
	links := &SubscriptionLinks{Self: LinkType{Href: href}}
	if d.SerAvail != nil {
		d.SerAvail.UnderscoreLinks = links
	} else {
		d.AppTerm.UnderscoreLinks = links
	}
	t := s.begin()
	t.put(store.KindSubscription, d.ID, d)
	t.then(func() { s.subs[d.ID] = d; s.owners.Store(d.ID, d.AppInstanceID) })
	if err := t.commit(ctx); err != nil {
		return Subscription{}, "", err
	}
	return d.view(), href, nil
}

// view returns the subscription. Its members are never modified once it is stored.
func (d *subDoc) view() Subscription {
	return Subscription{SerAvail: d.SerAvail, AppTerm: d.AppTerm}
}

func (d *subDoc) kind() SubscriptionKind {
	if d.AppTerm != nil {
		return AppTerm
	}
	return SerAvail
}

// Subscriptions lists the app's subscriptions of kind k.
func (s *MEP) Subscriptions(k SubscriptionKind, app string) (SubscriptionList, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.app(app); err != nil {
		return SubscriptionList{}, err
	}
	self := s.subHref(k, app, "")
	list := SubscriptionList{Self: self[:len(self)-1], Subscriptions: []SubscriptionRef{}}
	var ids []string
	for id, sub := range s.subs {
		if sub.AppInstanceID == app && sub.kind() == k {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		list.Subscriptions = append(list.Subscriptions, SubscriptionRef{Href: s.subHref(k, app, id), SubscriptionType: k.typeName()})
	}
	return list, nil
}

// Subscription returns one subscription of kind k.
func (s *MEP) Subscription(k SubscriptionKind, app, id string) (Subscription, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.app(app); err != nil {
		return Subscription{}, err
	}
	sub := s.subs[id]
	if sub == nil || sub.AppInstanceID != app || sub.kind() != k {
		return Subscription{}, notFound("subscription %q is not known for app instance %q", id, app)
	}
	return sub.view(), nil
}

// Unsubscribe deletes one subscription of kind k.
func (s *MEP) Unsubscribe(ctx context.Context, k SubscriptionKind, app, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.app(app); err != nil {
		return err
	}
	sub := s.subs[id]
	if sub == nil || sub.AppInstanceID != app || sub.kind() != k {
		return notFound("subscription %q is not known for app instance %q", id, app)
	}
	t := s.begin()
	t.del(store.KindSubscription, id)
	t.then(func() { delete(s.subs, id); s.owners.Delete(id) })
	return t.commit(ctx)
}

// matches applies a SerAvailability subscription's filteringCriteria to a service.
func matches(f *SerAvailFilter, sv *service) bool {
	if f == nil {
		return true
	}
	if f.SerInstanceIds != nil && !slices.Contains(*f.SerInstanceIds, sv.id) {
		return false
	}
	if f.SerNames != nil && !slices.Contains(*f.SerNames, sv.name) {
		return false
	}
	if f.SerCategories != nil {
		if sv.catID == "" || !slices.ContainsFunc(*f.SerCategories, func(c CategoryRef) bool { return c.Id == sv.catID }) {
			return false
		}
	}
	if f.States != nil && !slices.Contains(*f.States, sv.state) {
		return false
	}
	if f.IsLocal != nil && sv.isLocal != *f.IsLocal {
		return false
	}
	return true
}

// notifyServiceChange queues a ServiceAvailabilityNotification to every SerAvailability
// subscriber whose filter matches and who may see the service. skipApp (a terminating app)
// gets none.
func (s *MEP) notifyServiceChange(t *tx, sv *service, change ChangeType, skipApp string) {
	var subs []*subDoc
	for _, sub := range s.subs {
		if sub.SerAvail == nil || sub.AppInstanceID == skipApp {
			continue
		}
		if !matches(sub.SerAvail.FilteringCriteria, sv) || !s.visibleLocked(sub.AppInstanceID, sv) {
			continue
		}
		subs = append(subs, sub)
	}
	if len(subs) == 0 {
		return
	}
	link := LinkType{Href: s.serviceHref(sv.app, sv.id)}
	s.enqueue(t, subs, func(href string) any {
		return ServiceAvailabilityNotification{
			NotificationType: "SerAvailabilityNotification",
			ServiceReferences: []ServiceReference{{
				Link: &link, SerName: sv.name, SerInstanceId: sv.id, State: sv.state, ChangeType: change,
			}},
			UnderscoreLinks: NotificationLinks{Subscription: LinkType{Href: href}},
		}
	})
}

// subscriptionHole locates _links.subscription.href in a notification encoded with an empty
// href. The sequence cannot occur inside a JSON string, where every quote is escaped.
var subscriptionHole = []byte(`"subscription":{"href":""`)

// enqueue queues one notification to subs; body returns it with the subscription link href.
// The notifications of one change differ only in that link (ETSI GS MEC 011 §7.1.2), so the
// body is encoded once with an empty href and each subscriber's link is spliced in on
// delivery; this keeps the commit of a change with many subscribers to one outbox row.
func (s *MEP) enqueue(t *tx, subs []*subDoc, body func(href string) any) {
	b, err := json.Marshal(body(""))
	if err != nil {
		panic(fmt.Sprintf("marshal notification: %v", err)) // only our own types are marshalled
	}
	at := bytes.Index(b, subscriptionHole)
	if at < 0 { // not a notification of this shape: one body per subscriber
		for _, sub := range subs {
			b, _ := json.Marshal(body(s.subHref(sub.kind(), sub.AppInstanceID, sub.ID)))
			t.b.Enqueue = append(t.b.Enqueue, store.Notification{Body: b, Targets: []store.Target{sub.target("")}})
		}
		return
	}
	n := store.Notification{Body: b, LinkAt: at + len(subscriptionHole) - 1, Targets: make([]store.Target, len(subs))}
	for i, sub := range subs {
		n.Targets[i] = sub.target(jsonStringContent(s.subHref(sub.kind(), sub.AppInstanceID, sub.ID)))
	}
	t.b.Enqueue = append(t.b.Enqueue, n)
}

// jsonStringContent returns s escaped as json.Marshal escapes it inside a string, without the
// quotes. Links are plain ASCII URLs, which need no escaping; anything else takes the long way.
func jsonStringContent(s string) string {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return string(b[1 : len(b)-1])
		}
	}
	return s
}

// target returns the subscription as a notification target with the given link.
func (d *subDoc) target(link string) store.Target {
	if d.SerAvail != nil {
		return store.Target{SubscriptionID: d.ID, URL: d.SerAvail.CallbackReference, Link: link}
	}
	return store.Target{SubscriptionID: d.ID, URL: d.AppTerm.CallbackReference, Link: link}
}

// callbackAllowed refuses a callbackReference that callback.CheckURL refuses: bytes a URI
// cannot hold, or a host that is an address literal in Config.CallbackDeny (the unspecified
// address counting as loopback). Names are checked when the notifier connects.
func (s *MEP) callbackAllowed(d *subDoc) error {
	var cb string
	switch {
	case d.SerAvail != nil:
		cb = d.SerAvail.CallbackReference
	case d.AppTerm != nil:
		cb = d.AppTerm.CallbackReference
	}
	if err := callback.CheckURL(cb, s.cfg.CallbackDeny); err != nil {
		return invalid("callbackReference %q: %v", cb, err)
	}
	return nil
}

// subscriptionOwner returns the app instance that owns subscription id, and false when the
// subscription no longer exists. It does not take s.mu.
func (s *MEP) subscriptionOwner(id string) (string, bool) {
	app, ok := s.owners.Load(id)
	if !ok {
		return "", false
	}
	return app.(string), true
}
