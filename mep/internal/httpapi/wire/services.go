package wire

import (
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// Services, transports, liveness and subscriptions of Mp1. The domain serves a service's
// stored representation as it is (platform.ServiceInfo encodes as mp1api.ServiceInfo), so
// services convert only on the way in; notifications never pass the handlers (the outbox
// sends the domain's encoding, which the tests hold to the wire types' own).

// ServiceInfoPost returns the domain form of a service registration.
func ServiceInfoPost(p *mp1api.ServiceInfoPost) platform.ServiceInfoPost {
	d := platform.ServiceInfoPost{
		ConsumedLocalOnly: p.ConsumedLocalOnly, IsLocal: p.IsLocal, LivenessInterval: p.LivenessInterval,
		ScopeOfLocality: (*platform.LocalityType)(p.ScopeOfLocality), SerCategory: CategoryRef(p.SerCategory), SerName: p.SerName,
		Serializer: platform.SerializerType(p.Serializer), State: platform.ServiceState(p.State), TransportId: p.TransportId, Version: p.Version,
	}
	if p.TransportInfo != nil {
		t := TransportInfo(p.TransportInfo)
		d.TransportInfo = &t
	}
	return d
}

// ServiceInfo returns the domain form of a service.
func ServiceInfo(s *mp1api.ServiceInfo) platform.ServiceInfo {
	d := platform.ServiceInfo{
		ConsumedLocalOnly: s.ConsumedLocalOnly, IsLocal: s.IsLocal, LivenessInterval: s.LivenessInterval,
		ScopeOfLocality: (*platform.LocalityType)(s.ScopeOfLocality), SerCategory: CategoryRef(s.SerCategory), SerInstanceId: s.SerInstanceId,
		SerName: s.SerName, Serializer: platform.SerializerType(s.Serializer), State: platform.ServiceState(s.State),
		TransportInfo: TransportInfo(&s.TransportInfo), Version: s.Version,
	}
	if l := s.UnderscoreLinks; l != nil {
		d.UnderscoreLinks = &platform.ServiceLinks{Liveness: (*platform.LinkType)(l.Liveness), Self: platform.LinkType(l.Self)}
	}
	return d
}

// WireServiceInfo returns the Mp1 form of a service.
func WireServiceInfo(s *platform.ServiceInfo) mp1api.ServiceInfo {
	w := mp1api.ServiceInfo{
		ConsumedLocalOnly: s.ConsumedLocalOnly, IsLocal: s.IsLocal, LivenessInterval: s.LivenessInterval,
		ScopeOfLocality: (*mp1api.LocalityType)(s.ScopeOfLocality), SerCategory: WireCategoryRef(s.SerCategory), SerInstanceId: s.SerInstanceId,
		SerName: s.SerName, Serializer: mp1api.SerializerType(s.Serializer), State: mp1api.ServiceState(s.State),
		TransportInfo: WireTransportInfo(&s.TransportInfo), Version: s.Version,
	}
	if l := s.UnderscoreLinks; l != nil {
		w.UnderscoreLinks = &mp1api.ServiceLinks{Liveness: (*mp1api.LinkType)(l.Liveness), Self: mp1api.LinkType(l.Self)}
	}
	return w
}

// TransportInfo returns the domain form of a transport.
func TransportInfo(t *mp1api.TransportInfo) platform.TransportInfo {
	d := platform.TransportInfo{
		Description: t.Description, Endpoint: deref(EndPointInfo(&t.Endpoint)), Id: t.Id, ImplSpecificInfo: t.ImplSpecificInfo,
		Name: t.Name, Protocol: t.Protocol, Type: platform.TransportType(t.Type), Version: t.Version,
	}
	if o := t.Security.OAuth2Info; o != nil {
		d.Security.OAuth2Info = &platform.OAuth2Info{TokenEndpoint: o.TokenEndpoint,
			GrantTypes: convertAll(func(g mp1api.GrantType) platform.GrantType { return platform.GrantType(g) })(o.GrantTypes)}
	}
	return d
}

// WireTransportInfo returns the Mp1 form of a transport.
func WireTransportInfo(t *platform.TransportInfo) mp1api.TransportInfo {
	w := mp1api.TransportInfo{
		Description: t.Description, Endpoint: deref(WireEndPointInfo(&t.Endpoint)), Id: t.Id, ImplSpecificInfo: t.ImplSpecificInfo,
		Name: t.Name, Protocol: t.Protocol, Type: mp1api.TransportType(t.Type), Version: t.Version,
	}
	if o := t.Security.OAuth2Info; o != nil {
		w.Security.OAuth2Info = &mp1api.OAuth2Info{TokenEndpoint: o.TokenEndpoint,
			GrantTypes: convertAll(func(g platform.GrantType) mp1api.GrantType { return mp1api.GrantType(g) })(o.GrantTypes)}
	}
	return w
}

// WireTransports returns the Mp1 form of the transports the platform offers.
func WireTransports(ts []platform.TransportInfo) []mp1api.TransportInfo {
	return convertAll(func(t platform.TransportInfo) mp1api.TransportInfo { return WireTransportInfo(&t) })(ts)
}

// WireLiveness returns the Mp1 form of a service's liveness resource.
func WireLiveness(l platform.Liveness) mp1api.ServiceLivenessInfo {
	return mp1api.ServiceLivenessInfo{State: mp1api.ServiceState(l.State), Interval: l.Interval,
		TimeStamp: mp1api.TimeStamp{Seconds: l.LastHeartbeat.Unix(), NanoSeconds: int32(l.LastHeartbeat.Nanosecond())}}
}

// SerAvailSubscription returns the domain form of a service availability subscription.
func SerAvailSubscription(s *mp1api.SerAvailabilityNotificationSubscription) platform.Subscription {
	d := &platform.SerAvailSubscription{UnderscoreLinks: subscriptionLinks(s.UnderscoreLinks),
		CallbackReference: s.CallbackReference, SubscriptionType: s.SubscriptionType}
	if f := s.FilteringCriteria; f != nil {
		d.FilteringCriteria = &platform.SerAvailFilter{IsLocal: f.IsLocal, SerInstanceIds: f.SerInstanceIds, SerNames: f.SerNames,
			SerCategories: mapPtr(f.SerCategories, convertAll(func(c mp1api.CategoryRef) platform.CategoryRef { return platform.CategoryRef(c) })),
			States:        mapPtr(f.States, convertAll(func(s mp1api.ServiceState) platform.ServiceState { return platform.ServiceState(s) }))}
	}
	return platform.Subscription{SerAvail: d}
}

// AppTermSubscription returns the domain form of an app termination subscription.
func AppTermSubscription(s *mp1api.AppTerminationNotificationSubscription) platform.Subscription {
	return platform.Subscription{AppTerm: &platform.AppTermSubscription{UnderscoreLinks: subscriptionLinks(s.UnderscoreLinks),
		AppInstanceId: s.AppInstanceId, CallbackReference: s.CallbackReference, SubscriptionType: s.SubscriptionType}}
}

// WireSerAvailSubscription returns the Mp1 form of a service availability subscription.
func WireSerAvailSubscription(s *platform.SerAvailSubscription) mp1api.SerAvailabilityNotificationSubscription {
	w := mp1api.SerAvailabilityNotificationSubscription{UnderscoreLinks: wireSubscriptionLinks(s.UnderscoreLinks),
		CallbackReference: s.CallbackReference, SubscriptionType: s.SubscriptionType}
	if f := s.FilteringCriteria; f != nil {
		w.FilteringCriteria = &mp1api.SerAvailabilityFilteringCriteria{IsLocal: f.IsLocal, SerInstanceIds: f.SerInstanceIds, SerNames: f.SerNames,
			SerCategories: mapPtr(f.SerCategories, convertAll(func(c platform.CategoryRef) mp1api.CategoryRef { return mp1api.CategoryRef(c) })),
			States:        mapPtr(f.States, convertAll(func(s platform.ServiceState) mp1api.ServiceState { return mp1api.ServiceState(s) }))}
	}
	return w
}

// WireAppTermSubscription returns the Mp1 form of an app termination subscription.
func WireAppTermSubscription(s *platform.AppTermSubscription) mp1api.AppTerminationNotificationSubscription {
	return mp1api.AppTerminationNotificationSubscription{UnderscoreLinks: wireSubscriptionLinks(s.UnderscoreLinks),
		AppInstanceId: s.AppInstanceId, CallbackReference: s.CallbackReference, SubscriptionType: s.SubscriptionType}
}

// WireSubscription returns the Mp1 form of a subscription of either kind.
func WireSubscription(s platform.Subscription) any {
	if s.AppTerm != nil {
		w := WireAppTermSubscription(s.AppTerm)
		return &w
	}
	w := WireSerAvailSubscription(s.SerAvail)
	return &w
}

// WireSubscriptionList returns the Mp1 form of a subscription list. Each entry names its
// type twice: subscriptionType, and rel as the 2021 OAS called it.
func WireSubscriptionList(l *platform.SubscriptionList) mp1api.SubscriptionLinkList {
	subs := make([]mp1api.SubscriptionLinkListEntry, len(l.Subscriptions))
	for i, s := range l.Subscriptions {
		subs[i] = mp1api.SubscriptionLinkListEntry{Href: s.Href, SubscriptionType: s.SubscriptionType, Rel: &s.SubscriptionType}
	}
	return mp1api.SubscriptionLinkList{UnderscoreLinks: mp1api.SubscriptionLinkListLinks{Self: mp1api.LinkType{Href: l.Self}, Subscriptions: &subs}}
}

func subscriptionLinks(l *mp1api.SubscriptionLinks) *platform.SubscriptionLinks {
	if l == nil {
		return nil
	}
	return &platform.SubscriptionLinks{Self: platform.LinkType(l.Self)}
}

func wireSubscriptionLinks(l *platform.SubscriptionLinks) *mp1api.SubscriptionLinks {
	if l == nil {
		return nil
	}
	return &mp1api.SubscriptionLinks{Self: mp1api.LinkType(l.Self)}
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}
