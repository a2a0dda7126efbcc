package platform_test

import (
	"context"
	"time"

	"github.com/edgemec/edgemec/internal/mecrule/mp1rule"
	"github.com/edgemec/edgemec/mep/internal/httpapi/wire"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// wireMEP is the MEP as the handlers see it: the Mp1 and Mm5 wire types on the way in and
// out, converted as the handlers convert them (mep/internal/httpapi/wire). The tests speak
// the APIs' language, and documents stored when the domain kept the wire types are checked
// for what the APIs show of them.
type wireMEP struct{ *platform.MEP }

func (w *wireMEP) PutApp(ctx context.Context, id string, spec mm5api.AppInstance, explicit map[string]bool) (mm5api.AppInstanceRecord, bool, error) {
	r, created, err := w.MEP.PutApp(ctx, id, wire.AppInstance(&spec), explicit)
	return wire.AppInstanceRecord(&r), created, err
}

func (w *wireMEP) GetApp(id string) (mm5api.AppInstanceRecord, error) {
	r, err := w.MEP.GetApp(id)
	return wire.AppInstanceRecord(&r), err
}

func (w *wireMEP) ListApps() []mm5api.AppInstanceRecord {
	return wire.AppInstanceRecords(w.MEP.ListApps())
}

func (w *wireMEP) RotateSecret(ctx context.Context, id string) (mm5api.AppInstanceRecord, error) {
	r, err := w.MEP.RotateSecret(ctx, id)
	return wire.AppInstanceRecord(&r), err
}

func (w *wireMEP) StartTermination(ctx context.Context, id string, timeout time.Duration) (mm5api.AppInstanceRecord, error) {
	r, err := w.MEP.StartTermination(ctx, id, timeout)
	return wire.AppInstanceRecord(&r), err
}

func (w *wireMEP) ConfirmReady(ctx context.Context, id string, c mp1api.AppReadyConfirmation) error {
	return w.MEP.ConfirmReady(ctx, id, c.Indication)
}

func (w *wireMEP) ConfirmTermination(ctx context.Context, id string, c mp1api.AppTerminationConfirmation) error {
	return w.MEP.ConfirmTermination(ctx, id, platform.OperationAction(c.OperationAction))
}

func (w *wireMEP) TrafficRules(app string) ([]mp1api.TrafficRule, error) {
	rs, err := w.MEP.TrafficRules(app)
	return mp1rule.WireTrafficRules(rs), err
}

func (w *wireMEP) TrafficRule(app, id string) (mp1api.TrafficRule, string, error) {
	r, etag, err := w.MEP.TrafficRule(app, id)
	return mp1rule.WireTrafficRule(&r), etag, err
}

func (w *wireMEP) UpdateTrafficRule(ctx context.Context, actor, app, id, ifMatch string, r mp1api.TrafficRule) (mp1api.TrafficRule, string, error) {
	got, etag, err := w.MEP.UpdateTrafficRule(ctx, actor, app, id, ifMatch, mp1rule.TrafficRule(&r))
	return mp1rule.WireTrafficRule(&got), etag, err
}

func (w *wireMEP) DNSRules(app string) ([]mp1api.DnsRule, error) {
	rs, err := w.MEP.DNSRules(app)
	return mp1rule.WireDNSRules(rs), err
}

func (w *wireMEP) DNSRule(app, id string) (mp1api.DnsRule, string, error) {
	r, etag, err := w.MEP.DNSRule(app, id)
	return mp1rule.WireDNSRule(&r), etag, err
}

func (w *wireMEP) UpdateDNSRule(ctx context.Context, actor, app, id, ifMatch string, r mp1api.DnsRule) (mp1api.DnsRule, string, error) {
	got, etag, err := w.MEP.UpdateDNSRule(ctx, actor, app, id, ifMatch, mp1rule.DNSRule(&r))
	return mp1rule.WireDNSRule(&got), etag, err
}

func (w *wireMEP) TrafficFeed(ctx context.Context, after *int64, wait time.Duration) mm5api.TrafficRuleSnapshot {
	s := w.MEP.TrafficFeed(ctx, after, wait)
	return wire.TrafficRuleSnapshot(&s)
}

func (w *wireMEP) DNSFeed(ctx context.Context, after *int64, wait time.Duration) mm5api.DnsRuleSnapshot {
	s := w.MEP.DNSFeed(ctx, after, wait)
	return wire.DNSRuleSnapshot(&s)
}

func (w *wireMEP) Register(ctx context.Context, info mp1api.AppInfo, create bool) (mp1api.AppInfo, error) {
	d, err := w.MEP.Register(ctx, wire.AppInfo(&info), create)
	return wire.WireAppInfo(&d), err
}

func (w *wireMEP) Registration(id string) (mp1api.AppInfo, error) {
	d, err := w.MEP.Registration(id)
	return wire.WireAppInfo(&d), err
}

func (w *wireMEP) RegisterService(ctx context.Context, actor, app string, p mp1api.ServiceInfoPost) ([]byte, string, string, error) {
	return w.MEP.RegisterService(ctx, actor, app, wire.ServiceInfoPost(&p))
}

func (w *wireMEP) UpdateService(ctx context.Context, actor, app, id, ifMatch string, info mp1api.ServiceInfo) ([]byte, string, error) {
	return w.MEP.UpdateService(ctx, actor, app, id, ifMatch, wire.ServiceInfo(&info))
}

func (w *wireMEP) Liveness(app, id string) (mp1api.ServiceLivenessInfo, error) {
	l, err := w.MEP.Liveness(app, id)
	return wire.WireLiveness(l), err
}

func (w *wireMEP) Heartbeat(ctx context.Context, app, id string, u mp1api.ServiceLivenessUpdate) (mp1api.ServiceLivenessInfo, error) {
	l, err := w.MEP.Heartbeat(ctx, app, id, platform.ServiceState(u.State))
	return wire.WireLiveness(l), err
}

func (w *wireMEP) Transports() []mp1api.TransportInfo {
	return wire.WireTransports(w.MEP.Transports())
}

// Subscribe takes and returns *mp1api.SerAvailabilityNotificationSubscription or
// *mp1api.AppTerminationNotificationSubscription, as the two POST handlers do.
func (w *wireMEP) Subscribe(ctx context.Context, app string, body any) (any, string, error) {
	var sub platform.Subscription
	switch b := body.(type) {
	case *mp1api.SerAvailabilityNotificationSubscription:
		sub = wire.SerAvailSubscription(b)
	case *mp1api.AppTerminationNotificationSubscription:
		sub = wire.AppTermSubscription(b)
	}
	out, loc, err := w.MEP.Subscribe(ctx, app, sub)
	if err != nil {
		return nil, "", err
	}
	return wire.WireSubscription(out), loc, nil
}

func (w *wireMEP) Subscriptions(k platform.SubscriptionKind, app string) (mp1api.SubscriptionLinkList, error) {
	l, err := w.MEP.Subscriptions(k, app)
	return wire.WireSubscriptionList(&l), err
}

func (w *wireMEP) Subscription(k platform.SubscriptionKind, app, id string) (any, error) {
	sub, err := w.MEP.Subscription(k, app, id)
	if err != nil {
		return nil, err
	}
	return wire.WireSubscription(sub), nil
}
