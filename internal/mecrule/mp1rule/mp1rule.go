// Package mp1rule converts between the generated MEC 011 wire types of the Mp1 and Mm5 APIs
// (mep/mp1api) and the platform's rule model (internal/mecrule), and checks wire rules with
// mecrule's one acceptance check. Callers that hold wire rules (the UPGW compiler, the
// orchestrator's AppD check, the MEP's handlers) use it at their edge; what lies behind the
// edge works on mecrule types only.
package mp1rule

import (
	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// ValidateTrafficRule is mecrule.ValidateTrafficRule of a wire rule.
func ValidateTrafficRule(r *mp1api.TrafficRule) error {
	d := TrafficRule(r)
	return mecrule.ValidateTrafficRule(&d)
}

// ValidateDNSRule is mecrule.ValidateDNSRule of a wire rule.
func ValidateDNSRule(r *mp1api.DnsRule) error {
	d := DNSRule(r)
	return mecrule.ValidateDNSRule(&d)
}

// TrafficRule returns the platform form of a wire traffic rule. Lists are shared with r.
func TrafficRule(r *mp1api.TrafficRule) mecrule.TrafficRule {
	out := mecrule.TrafficRule{
		Action: mecrule.Action(r.Action), FilterType: mecrule.FilterType(r.FilterType), Priority: r.Priority,
		State: mecrule.RuleState(r.State), TrafficRuleId: r.TrafficRuleId,
	}
	if r.TrafficFilter != nil {
		out.TrafficFilter = make([]mecrule.TrafficFilter, len(r.TrafficFilter))
		for i, f := range r.TrafficFilter {
			out.TrafficFilter[i] = mecrule.TrafficFilter(f)
		}
	}
	if r.DstInterface != nil {
		dis := make([]mecrule.DestinationInterface, len(*r.DstInterface))
		for i, d := range *r.DstInterface {
			dis[i] = mecrule.DestinationInterface{DstIpAddress: d.DstIpAddress, DstMacAddress: d.DstMacAddress,
				InterfaceType: mecrule.InterfaceType(d.InterfaceType), SrcMacAddress: d.SrcMacAddress}
			if t := d.TunnelInfo; t != nil {
				dis[i].TunnelInfo = &mecrule.TunnelInfo{TunnelDstAddress: t.TunnelDstAddress, TunnelSrcAddress: t.TunnelSrcAddress,
					TunnelType: mecrule.TunnelType(t.TunnelType)}
			}
		}
		out.DstInterface = &dis
	}
	return out
}

// WireTrafficRule returns the wire form of a platform traffic rule. Lists are shared with r.
func WireTrafficRule(r *mecrule.TrafficRule) mp1api.TrafficRule {
	out := mp1api.TrafficRule{
		Action: mp1api.TrafficRuleAction(r.Action), FilterType: mp1api.FilterType(r.FilterType), Priority: r.Priority,
		State: mp1api.RuleState(r.State), TrafficRuleId: r.TrafficRuleId,
	}
	if r.TrafficFilter != nil {
		out.TrafficFilter = make([]mp1api.TrafficFilter, len(r.TrafficFilter))
		for i, f := range r.TrafficFilter {
			out.TrafficFilter[i] = mp1api.TrafficFilter(f)
		}
	}
	if r.DstInterface != nil {
		dis := make(mp1api.DestinationInterfaces, len(*r.DstInterface))
		for i, d := range *r.DstInterface {
			dis[i] = mp1api.DestinationInterface{DstIpAddress: d.DstIpAddress, DstMacAddress: d.DstMacAddress,
				InterfaceType: mp1api.DestinationInterfaceInterfaceType(d.InterfaceType), SrcMacAddress: d.SrcMacAddress}
			if t := d.TunnelInfo; t != nil {
				dis[i].TunnelInfo = &mp1api.TunnelInfo{TunnelDstAddress: t.TunnelDstAddress, TunnelSrcAddress: t.TunnelSrcAddress,
					TunnelType: mp1api.TunnelInfoTunnelType(t.TunnelType)}
			}
		}
		out.DstInterface = &dis
	}
	return out
}

// DNSRule returns the platform form of a wire DNS rule.
func DNSRule(r *mp1api.DnsRule) mecrule.DNSRule {
	return mecrule.DNSRule{DnsRuleId: r.DnsRuleId, DomainName: r.DomainName, IpAddress: r.IpAddress,
		IpAddressType: mecrule.AddressType(r.IpAddressType), State: mecrule.RuleState(r.State), Ttl: r.Ttl}
}

// WireDNSRule returns the wire form of a platform DNS rule.
func WireDNSRule(r *mecrule.DNSRule) mp1api.DnsRule {
	return mp1api.DnsRule{DnsRuleId: r.DnsRuleId, DomainName: r.DomainName, IpAddress: r.IpAddress,
		IpAddressType: mp1api.IpAddressType(r.IpAddressType), State: mp1api.RuleState(r.State), Ttl: r.Ttl}
}

// TrafficRules converts a list of wire traffic rules (nil stays nil).
func TrafficRules(rs []mp1api.TrafficRule) []mecrule.TrafficRule {
	if rs == nil {
		return nil
	}
	out := make([]mecrule.TrafficRule, len(rs))
	for i := range rs {
		out[i] = TrafficRule(&rs[i])
	}
	return out
}

// WireTrafficRules converts a list of platform traffic rules (nil stays nil).
func WireTrafficRules(rs []mecrule.TrafficRule) []mp1api.TrafficRule {
	if rs == nil {
		return nil
	}
	out := make([]mp1api.TrafficRule, len(rs))
	for i := range rs {
		out[i] = WireTrafficRule(&rs[i])
	}
	return out
}

// DNSRules converts a list of wire DNS rules (nil stays nil).
func DNSRules(rs []mp1api.DnsRule) []mecrule.DNSRule {
	if rs == nil {
		return nil
	}
	out := make([]mecrule.DNSRule, len(rs))
	for i := range rs {
		out[i] = DNSRule(&rs[i])
	}
	return out
}

// WireDNSRules converts a list of platform DNS rules (nil stays nil).
func WireDNSRules(rs []mecrule.DNSRule) []mp1api.DnsRule {
	if rs == nil {
		return nil
	}
	out := make([]mp1api.DnsRule, len(rs))
	for i := range rs {
		out[i] = WireDNSRule(&rs[i])
	}
	return out
}
