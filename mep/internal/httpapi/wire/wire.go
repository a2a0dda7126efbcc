// Package wire converts between the generated wire types of Mp1 and Mm5 (mep/mp1api,
// mep/mm5api) and the MEP's domain model (mep/internal/platform). The handlers convert on
// the way in and out, so what differs between API versions (the MEC 011 V2.1.1 and V3
// shapes, see httpapi's mecversion.go) stays at the edge; rules convert through
// internal/mecrule/mp1rule, which the UPGW and the orchestrator share.
package wire

import (
	"github.com/edgemec/edgemec/internal/mecrule/mp1rule"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// AppInstance returns the domain form of an Mm5 app instance.
func AppInstance(a *mm5api.AppInstance) platform.AppInstance {
	return platform.AppInstance{
		AppDId: a.AppDId, AppInstanceName: a.AppInstanceName, AppName: a.AppName, AppProvider: a.AppProvider,
		AppDNSRule: mapPtr(a.AppDNSRule, mp1rule.DNSRules), AppTrafficRule: mapPtr(a.AppTrafficRule, mp1rule.TrafficRules),
		AppServiceOptional: mapPtr(a.AppServiceOptional, ServiceDependencies), AppServiceRequired: mapPtr(a.AppServiceRequired, ServiceDependencies),
		AppServiceProduced: mapPtr(a.AppServiceProduced, serviceDescriptors), DnsRuleClientSubnets: a.DnsRuleClientSubnets, MecVersion: a.MecVersion,
	}
}

// AppInstanceRecord returns the Mm5 form of an app instance record, without credentials.
func AppInstanceRecord(r *platform.AppRecord) mm5api.AppInstanceRecord {
	return mm5api.AppInstanceRecord{
		AppInstanceId: r.AppInstanceId, AppDId: r.AppDId, AppInstanceName: r.AppInstanceName, AppName: r.AppName, AppProvider: r.AppProvider,
		AppDNSRule: mapPtr(r.AppDNSRule, mp1rule.WireDNSRules), AppTrafficRule: mapPtr(r.AppTrafficRule, mp1rule.WireTrafficRules),
		AppServiceOptional: mapPtr(r.AppServiceOptional, WireServiceDependencies), AppServiceRequired: mapPtr(r.AppServiceRequired, WireServiceDependencies),
		AppServiceProduced: mapPtr(r.AppServiceProduced, wireServiceDescriptors), DnsRuleClientSubnets: r.DnsRuleClientSubnets, MecVersion: r.MecVersion,
		CreatedAt: r.CreatedAt, Mp1Root: r.Mp1Root, State: mm5api.AppInstanceState(r.State), TerminationDeadline: r.TerminationDeadline,
	}
}

// AppInstanceRecords converts a list of records.
func AppInstanceRecords(rs []platform.AppRecord) []mm5api.AppInstanceRecord {
	out := make([]mm5api.AppInstanceRecord, len(rs))
	for i := range rs {
		out[i] = AppInstanceRecord(&rs[i])
	}
	return out
}

// TrafficRuleSnapshot returns the Mm5 form of the traffic rule feed.
func TrafficRuleSnapshot(s *platform.TrafficSnapshot) mm5api.TrafficRuleSnapshot {
	out := mm5api.TrafficRuleSnapshot{Version: s.Version, Rules: make([]mm5api.AppTrafficRule, len(s.Rules))}
	for i, r := range s.Rules {
		out.Rules[i] = mm5api.AppTrafficRule{AppInstanceId: r.AppInstanceID, TrafficRule: mp1rule.WireTrafficRule(&r.TrafficRule)}
	}
	return out
}

// DNSRuleSnapshot returns the Mm5 form of the DNS rule feed.
func DNSRuleSnapshot(s *platform.DNSSnapshot) mm5api.DnsRuleSnapshot {
	out := mm5api.DnsRuleSnapshot{Version: s.Version, Rules: make([]mm5api.AppDnsRule, len(s.Rules))}
	for i, r := range s.Rules {
		out.Rules[i] = mm5api.AppDnsRule{AppInstanceId: r.AppInstanceID, DnsRule: mp1rule.WireDNSRule(&r.DNSRule), CreatedAt: r.CreatedAt}
	}
	return out
}

// CategoryRef returns the domain form of a category reference (nil stays nil).
func CategoryRef(c *mp1api.CategoryRef) *platform.CategoryRef {
	if c == nil {
		return nil
	}
	d := platform.CategoryRef(*c)
	return &d
}

// WireCategoryRef returns the wire form of a category reference (nil stays nil).
func WireCategoryRef(c *platform.CategoryRef) *mp1api.CategoryRef {
	if c == nil {
		return nil
	}
	w := mp1api.CategoryRef(*c)
	return &w
}

// ServiceDependencies converts service dependencies to the domain form.
func ServiceDependencies(ds []mp1api.ServiceDependency) []platform.ServiceDependency {
	if ds == nil {
		return nil
	}
	out := make([]platform.ServiceDependency, len(ds))
	for i, d := range ds {
		out[i] = platform.ServiceDependency{RequestedPermissions: d.RequestedPermissions, SerCategory: CategoryRef(d.SerCategory),
			SerName: d.SerName, Version: d.Version}
	}
	return out
}

// WireServiceDependencies converts service dependencies to the wire form.
func WireServiceDependencies(ds []platform.ServiceDependency) []mp1api.ServiceDependency {
	if ds == nil {
		return nil
	}
	out := make([]mp1api.ServiceDependency, len(ds))
	for i, d := range ds {
		out[i] = mp1api.ServiceDependency{RequestedPermissions: d.RequestedPermissions, SerCategory: WireCategoryRef(d.SerCategory),
			SerName: d.SerName, Version: d.Version}
	}
	return out
}

func serviceDescriptors(ds []mm5api.ServiceDescriptor) []platform.ServiceDescriptor {
	if ds == nil {
		return nil
	}
	out := make([]platform.ServiceDescriptor, len(ds))
	for i, d := range ds {
		out[i] = platform.ServiceDescriptor{SerCategory: CategoryRef(d.SerCategory), SerName: d.SerName,
			TransportsSupported: d.TransportsSupported, Version: d.Version}
	}
	return out
}

func wireServiceDescriptors(ds []platform.ServiceDescriptor) []mm5api.ServiceDescriptor {
	if ds == nil {
		return nil
	}
	out := make([]mm5api.ServiceDescriptor, len(ds))
	for i, d := range ds {
		out[i] = mm5api.ServiceDescriptor{SerCategory: WireCategoryRef(d.SerCategory), SerName: d.SerName,
			TransportsSupported: d.TransportsSupported, Version: d.Version}
	}
	return out
}

// mapPtr applies f to the list p points to (nil stays nil).
func mapPtr[A, B any](p *[]A, f func([]A) []B) *[]B {
	if p == nil {
		return nil
	}
	out := f(*p)
	if out == nil {
		out = []B{}
	}
	return &out
}

// AppInfo returns the domain form of an Mp1 registration.
func AppInfo(a *mp1api.AppInfo) platform.AppInfo {
	return platform.AppInfo{
		AppCategory: CategoryRef(a.AppCategory), AppDId: a.AppDId, AppInstanceId: a.AppInstanceId, AppName: a.AppName,
		AppFeatureOptional: mapPtr(a.AppFeatureOptional, features), AppFeatureRequired: mapPtr(a.AppFeatureRequired, features),
		AppProfile: a.AppProfile, AppProvider: a.AppProvider, IsInsByMec: a.IsInsByMec, Endpoint: EndPointInfo(a.Endpoint),
		AppServiceOptional: mapPtr(a.AppServiceOptional, ServiceDependencies), AppServiceRequired: mapPtr(a.AppServiceRequired, ServiceDependencies),
	}
}

// WireAppInfo returns the Mp1 form of a registration.
func WireAppInfo(a *platform.AppInfo) mp1api.AppInfo {
	return mp1api.AppInfo{
		AppCategory: WireCategoryRef(a.AppCategory), AppDId: a.AppDId, AppInstanceId: a.AppInstanceId, AppName: a.AppName,
		AppFeatureOptional: mapPtr(a.AppFeatureOptional, wireFeatures), AppFeatureRequired: mapPtr(a.AppFeatureRequired, wireFeatures),
		AppProfile: a.AppProfile, AppProvider: a.AppProvider, IsInsByMec: a.IsInsByMec, Endpoint: WireEndPointInfo(a.Endpoint),
		AppServiceOptional: mapPtr(a.AppServiceOptional, WireServiceDependencies), AppServiceRequired: mapPtr(a.AppServiceRequired, WireServiceDependencies),
	}
}

// EndPointInfo returns the domain form of an endpoint (nil stays nil).
func EndPointInfo(e *mp1api.EndPointInfo) *platform.EndPointInfo {
	if e == nil {
		return nil
	}
	return &platform.EndPointInfo{Alternative: e.Alternative, Uris: e.Uris,
		Addresses: mapPtr(e.Addresses, convertAll(func(a mp1api.Address) platform.Address { return platform.Address(a) }))}
}

// WireEndPointInfo returns the wire form of an endpoint (nil stays nil).
func WireEndPointInfo(e *platform.EndPointInfo) *mp1api.EndPointInfo {
	if e == nil {
		return nil
	}
	return &mp1api.EndPointInfo{Alternative: e.Alternative, Uris: e.Uris,
		Addresses: mapPtr(e.Addresses, convertAll(func(a platform.Address) mp1api.Address { return mp1api.Address(a) }))}
}

var (
	features     = convertAll(func(f mp1api.FeatureDependency) platform.FeatureDependency { return platform.FeatureDependency(f) })
	wireFeatures = convertAll(func(f platform.FeatureDependency) mp1api.FeatureDependency { return mp1api.FeatureDependency(f) })
)

// convertAll lifts an element conversion to lists (nil stays nil).
func convertAll[A, B any](f func(A) B) func([]A) []B {
	return func(as []A) []B {
		if as == nil {
			return nil
		}
		out := make([]B, len(as))
		for i, a := range as {
			out[i] = f(a)
		}
		return out
	}
}
