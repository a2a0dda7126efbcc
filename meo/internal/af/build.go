package af

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/free5gc/openapi/models"

	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// MaxFlowDescriptions bounds the flow descriptions one traffic filter expands to (its
// protocols × source prefixes × destination prefixes).
const MaxFlowDescriptions = 64

// Instance is what the AF needs of an app instance.
type Instance struct {
	// AppInstanceID identifies the instance; it is the subscription's afTransId and keys the
	// notification endpoint.
	AppInstanceID string
	// AppDID is the app's AppD id; it is the subscription's afServiceId.
	AppDID string
	// AFAppID, if set, is an application id the 5G core already knows (from PFDs
	// provisioned for the app, TS 29.122 PFD management); it is sent as afAppId instead of
	// traffic filters derived from Rules.
	AFAppID string
	// Rules are the instance's traffic rules (the AppD's appTrafficRule, as changed over Mp1).
	Rules []mp1api.TrafficRule
	// Address is the app's address on the site's N6 side, the routeInfo of every route; Port
	// its port, 0 when the route is by address only.
	Address netip.Addr
	Port    uint16
}

// UETarget says whose traffic the subscription steers: exactly one of any UE, a group of
// UEs, or one UE by GPSI or by IP address (IPv4, IPv6 or both of one UE).
type UETarget struct {
	AnyUE bool
	// ExternalGroupID is <local id>@<domain> (TS 23.682 clause 4.6.3).
	ExternalGroupID string
	// GPSI is "msisdn-<digits>" or "extid-<local>@<domain>".
	GPSI string
	// IPv4 and IPv6 are the UE's addresses.
	IPv4, IPv6 netip.Addr
}

// Validate checks that exactly one target is given and that it is well formed.
func (t UETarget) Validate() error {
	n := 0
	for _, set := range []bool{t.AnyUE, t.ExternalGroupID != "", t.GPSI != "", t.IPv4.IsValid() || t.IPv6.IsValid()} {
		if set {
			n++
		}
	}
	if n != 1 {
		return invalid("ue target: exactly one of any UE, externalGroupId, gpsi and UE address is required, got %d", n)
	}
	if t.ExternalGroupID != "" && strings.Count(t.ExternalGroupID, "@") != 1 {
		return invalid("ue target: externalGroupId %q: want <local id>@<domain>", t.ExternalGroupID)
	}
	if t.IPv4.IsValid() && !t.IPv4.Is4() {
		return invalid("ue target: ipv4 %s is not an IPv4 address", t.IPv4)
	}
	if t.IPv6.IsValid() && (!t.IPv6.Is6() || t.IPv6.Is4In6()) {
		return invalid("ue target: ipv6 %s is not an IPv6 address", t.IPv6)
	}
	return nil
}

// BuildSubscription returns the traffic influence subscription (TS 29.522 clause 5.4.2.1.2)
// that steers the target UEs' traffic of the instance to the site's DNAIs:
//
//   - afServiceId is the AppD id, afTransId the instance id;
//   - afAppId if the instance has one, else trafficFilters from its rules (FlowInfos);
//   - dnn and snssai of the site; the UE target;
//   - one trafficRoute per DNAI of the site, routeInfo the app's address and port;
//   - subscribedEvents UP_PATH_CHANGE with dnaiChgType LATE (told once the new path is in
//     use) to notifyURL.
func BuildSubscription(site SiteConfig, inst Instance, target UETarget, notifyURL string) (models.NefTrafficInfluSub, error) {
	if err := target.Validate(); err != nil {
		return models.NefTrafficInfluSub{}, err
	}
	if inst.AppInstanceID == "" || inst.AppDID == "" {
		return models.NefTrafficInfluSub{}, invalid("instance: appInstanceId and appDId are required")
	}
	if notifyURL == "" {
		return models.NefTrafficInfluSub{}, invalid("notification url: required")
	}
	routes, err := trafficRoutes(site, inst)
	if err != nil {
		return models.NefTrafficInfluSub{}, err
	}
	sub := models.NefTrafficInfluSub{
		AfServiceId:             inst.AppDID,
		AfTransId:               inst.AppInstanceID,
		Dnn:                     site.DNN,
		Snssai:                  &models.Snssai{Sst: int32(site.SNSSAI.SST), Sd: site.SNSSAI.SD},
		AnyUeInd:                target.AnyUE,
		ExternalGroupId:         target.ExternalGroupID,
		Gpsi:                    target.GPSI,
		SubscribedEvents:        []models.SubscribedEvent{models.SubscribedEvent_UP_PATH_CHANGE},
		NotificationDestination: notifyURL,
		DnaiChgType:             models.DnaiChangeType_LATE,
		TrafficRoutes:           routes,
	}
	if target.IPv4.IsValid() {
		sub.Ipv4Addr = target.IPv4.String()
	}
	if target.IPv6.IsValid() {
		sub.Ipv6Addr = target.IPv6.String()
	}
	if inst.AFAppID != "" {
		sub.AfAppId = inst.AFAppID
		return sub, nil
	}
	if sub.TrafficFilters, err = FlowInfos(inst.Rules); err != nil {
		return models.NefTrafficInfluSub{}, err
	}
	return sub, nil
}

// BuildPatch returns the merge patch (TS 29.522 clause 5.4.3.3.4) that brings a subscription
// made by BuildSubscription up to date after the instance's rules or address changed: new
// trafficFilters (unless the instance uses afAppId, which a patch cannot change) and new
// trafficRoutes.
func BuildPatch(site SiteConfig, inst Instance) (models.NefTrafficInfluSubPatch, error) {
	routes, err := trafficRoutes(site, inst)
	if err != nil {
		return models.NefTrafficInfluSubPatch{}, err
	}
	p := models.NefTrafficInfluSubPatch{TrafficRoutes: routes}
	if inst.AFAppID == "" {
		if p.TrafficFilters, err = FlowInfos(inst.Rules); err != nil {
			return models.NefTrafficInfluSubPatch{}, err
		}
	}
	return p, nil
}

func trafficRoutes(site SiteConfig, inst Instance) ([]*models.RouteToLocation, error) {
	if len(site.DNAIs) == 0 {
		return nil, invalid("site %s: no DNAI", site.SiteID)
	}
	if !inst.Address.IsValid() {
		return nil, invalid("instance %s: the app's address is required for the route", inst.AppInstanceID)
	}
	ri := models.RouteInformation{PortNumber: int32(inst.Port)}
	if a := inst.Address.Unmap(); a.Is4() {
		ri.Ipv4Addr = a.String()
	} else {
		ri.Ipv6Addr = a.WithZone("").String()
	}
	routes := make([]*models.RouteToLocation, 0, len(site.DNAIs))
	for _, d := range site.DNAIs {
		info := ri
		routes = append(routes, &models.RouteToLocation{Dnai: d, RouteInfo: &info})
	}
	return routes, nil
}

// FlowInfos derives the trafficFilters of a subscription from MEC traffic rules (ETSI GS MEC
// 011 TrafficRule). It takes the rules that steer traffic to the app: state ACTIVE and
// action FORWARD_DECAPSULATED or FORWARD_ENCAPSULATED, by priority (lower value first), then
// id. Each of their traffic filters becomes one FlowInfo, flowId numbered from 1, whose
// flowDescriptions are IPFilterRules (RFC 6733 clause 4.3.1, as TS 29.214 clause 5.3.8
// restricts them) written in the downlink direction, "permit out":
//
//	permit out <proto> from <dstAddress> [<dstPort,...>] to <srcAddress> [<srcPort,...>]
//
// A MEC filter describes the UE's uplink packets (srcAddress is the UE side, dstAddress the
// app's), so its destination is the rule's "from" and its source the "to"; the 5G core
// derives the uplink filter from the downlink one. Missing addresses are "any", a missing
// protocol is "ip" ("6" and "17" when ports are given), address ranges and dotted masks
// become prefixes, and a filter expands to one description per protocol, source and
// destination prefix of one address family (at most MaxFlowDescriptions).
//
// Filter members that an IP flow cannot express (tunnel addresses and ports, tag/token,
// qCI, dSCP, tC) are left out: the UE target and the DNN select the PDU sessions instead. A
// filter made only of them is skipped, so that it does not widen into "any to any". Rules
// without any expressible filter give ErrNoTraffic.
func FlowInfos(rules []mp1api.TrafficRule) ([]models.FlowInfo, error) {
	sel := make([]mp1api.TrafficRule, 0, len(rules))
	for _, r := range rules {
		if r.State != "" && r.State != mp1api.RuleStateACTIVE {
			continue
		}
		if r.Action != mp1api.FORWARDDECAPSULATED && r.Action != mp1api.FORWARDENCAPSULATED {
			continue
		}
		sel = append(sel, r)
	}
	slices.SortStableFunc(sel, func(a, b mp1api.TrafficRule) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(a.TrafficRuleId, b.TrafficRuleId))
	})
	var out []models.FlowInfo
	for _, r := range sel {
		for i := range r.TrafficFilter {
			descs, err := flowDescriptions(&r.TrafficFilter[i])
			if err != nil {
				return nil, invalid("traffic rule %s: trafficFilter/%d: %v", r.TrafficRuleId, i, err)
			}
			if descs == nil {
				continue
			}
			out = append(out, models.FlowInfo{FlowId: int32(len(out) + 1), FlowDescriptions: descs})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no active forwarding rule with an IP flow", ErrNoTraffic)
	}
	return out, nil
}

// flowDescriptions expands one MEC filter; nil means the filter has nothing an IP flow can
// express.
func flowDescriptions(f *mp1api.TrafficFilter) ([]string, error) {
	list := func(p *[]string) []string {
		if p == nil {
			return nil
		}
		return *p
	}
	src, dst := list(f.SrcAddress), list(f.DstAddress)
	srcPorts, dstPorts, protos := list(f.SrcPort), list(f.DstPort), list(f.Protocol)
	if len(src)+len(dst)+len(srcPorts)+len(dstPorts)+len(protos) == 0 {
		if len(list(f.SrcTunnelAddress))+len(list(f.TgtTunnelAddress))+len(list(f.SrcTunnelPort))+
			len(list(f.DstTunnelPort))+len(list(f.Tag))+len(list(f.Token)) > 0 || f.QCI != nil || f.DSCP != nil || f.TC != nil {
			return nil, nil
		}
		// An empty filter matches every packet, in MEC as here.
		return []string{"permit out ip from any to any"}, nil
	}

	srcPrefixes, err := prefixes(src)
	if err != nil {
		return nil, fmt.Errorf("srcAddress: %w", err)
	}
	dstPrefixes, err := prefixes(dst)
	if err != nil {
		return nil, fmt.Errorf("dstAddress: %w", err)
	}
	sp, err := ports(srcPorts)
	if err != nil {
		return nil, fmt.Errorf("srcPort: %w", err)
	}
	dp, err := ports(dstPorts)
	if err != nil {
		return nil, fmt.Errorf("dstPort: %w", err)
	}
	// Application protocol names (HTTP, QUIC) do not restrict the IP protocol: no protocol
	// field in the flow description then, as the UPGW compiles them.
	ipProtos, err := mecrule.IPProtocols(protos)
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	var protoNums []string
	for _, n := range ipProtos {
		if s := fmt.Sprint(n); !slices.Contains(protoNums, s) {
			protoNums = append(protoNums, s)
		}
	}
	withPorts := sp != "" || dp != ""
	switch {
	case len(protoNums) == 0 && withPorts:
		protoNums = []string{"6", "17"}
	case len(protoNums) == 0:
		protoNums = []string{"ip"}
	case withPorts:
		for _, p := range protoNums {
			if p != "6" && p != "17" && p != "132" {
				return nil, fmt.Errorf("protocol %s has no ports", p)
			}
		}
	}

	var out []string
	for _, proto := range protoNums {
		for _, d := range dstPrefixes {
			for _, s := range srcPrefixes {
				if d.IsValid() && s.IsValid() && d.Addr().Is4() != s.Addr().Is4() {
					continue // one flow has one address family
				}
				out = append(out, "permit out "+proto+" from "+endpoint(d, dp)+" to "+endpoint(s, sp))
				if len(out) > MaxFlowDescriptions {
					return nil, fmt.Errorf("expands to more than %d flow descriptions", MaxFlowDescriptions)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no source and destination of the same address family")
	}
	return out, nil
}

// prefixes parses MEC address items; no items is one invalid prefix, meaning "any".
func prefixes(items []string) ([]netip.Prefix, error) {
	if len(items) == 0 {
		return []netip.Prefix{{}}, nil
	}
	var out []netip.Prefix
	for _, it := range items {
		ps, err := mecrule.ParseAddress(it)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// ports joins MEC port items into an IPFilterRule port list, "80,8000-8080".
func ports(items []string) (string, error) {
	parts := make([]string, 0, len(items))
	for _, it := range items {
		pr, err := mecrule.ParsePort(it)
		if err != nil {
			return "", err
		}
		if pr.Lo == pr.Hi {
			parts = append(parts, fmt.Sprint(pr.Lo))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", pr.Lo, pr.Hi))
		}
	}
	return strings.Join(parts, ","), nil
}

func endpoint(p netip.Prefix, ports string) string {
	s := "any"
	if p.IsValid() {
		s = p.String()
		if p.Bits() == p.Addr().BitLen() {
			s = p.Addr().String()
		}
	}
	if ports != "" {
		s += " " + ports
	}
	return s
}

// Keys of the instantiate request's additionalParams (ETSI GS MEC 010-2 InstantiateAppRequest)
// that choose the UE target; TargetFromParams reads them.
const (
	ParamExternalGroupID = "ueExternalGroupId"
	ParamGPSI            = "ueGpsi"
	ParamIPv4            = "ueIpv4Addr"
	ParamIPv6            = "ueIpv6Addr"
	ParamAnyUE           = "anyUe"
)

// TargetFromParams reads the UE target from an instantiate request's additionalParams: at
// most one of ueExternalGroupId, ueGpsi and ueIpv4Addr/ueIpv6Addr (strings), or anyUe
// (true); none of them means any UE. anyUe false with no other target names no UE and is
// refused, as is more than one target. Errors match ErrInvalid.
func TargetFromParams(params map[string]any) (UETarget, error) {
	var t UETarget
	str := func(key string) (string, error) {
		v, ok := params[key]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok || s == "" {
			return "", invalid("additionalParams/%s: want a non-empty string", key)
		}
		return s, nil
	}
	var err error
	if t.ExternalGroupID, err = str(ParamExternalGroupID); err != nil {
		return UETarget{}, err
	}
	if t.GPSI, err = str(ParamGPSI); err != nil {
		return UETarget{}, err
	}
	for _, a := range []struct {
		key string
		dst *netip.Addr
	}{{ParamIPv4, &t.IPv4}, {ParamIPv6, &t.IPv6}} {
		s, err := str(a.key)
		if err != nil {
			return UETarget{}, err
		}
		if s == "" {
			continue
		}
		if *a.dst, err = netip.ParseAddr(s); err != nil {
			return UETarget{}, invalid("additionalParams/%s: %v", a.key, err)
		}
	}
	anyUE, anyGiven := params[ParamAnyUE]
	if anyGiven {
		b, isBool := anyUE.(bool)
		if !isBool {
			return UETarget{}, invalid("additionalParams/%s: want true or false", ParamAnyUE)
		}
		t.AnyUE = b
	}
	if !anyGiven && t.ExternalGroupID == "" && t.GPSI == "" && !t.IPv4.IsValid() && !t.IPv6.IsValid() {
		t.AnyUE = true
	}
	if err := t.Validate(); err != nil {
		return UETarget{}, err
	}
	return t, nil
}
