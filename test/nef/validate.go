package nef

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/free5gc/openapi/models"
)

var (
	// sdRe is a Slice Differentiator: 3 octets in hex (TS 29.571 Snssai).
	sdRe = regexp.MustCompile(`^[A-Fa-f0-9]{6}$`)
	// externalGroupIDRe is <local>@<domain> with no other '@' (TS 29.122 ExternalGroupId).
	externalGroupIDRe = regexp.MustCompile(`^[^@]+@[^@]+$`)
	// gpsiRe is an MSISDN or an External Identifier (TS 29.571 Gpsi).
	gpsiRe = regexp.MustCompile(`^(msisdn-[0-9]{5,15}|extid-[^@]+@[^@]+|.+)$`)
	// macRe is a MAC address in RFC 7042 notation (TS 29.571 MacAddr48).
	macRe = regexp.MustCompile(`^([0-9a-fA-F]{2})((-[0-9a-fA-F]{2}){5})$`)
)

// Validate checks a traffic influence subscription against the TS 29.522 rules the OpenAPI
// models cannot express (clauses 5.4.2.1.2, 5.4.3.3, 4.4.7) and returns every violation,
// each naming its member by JSON pointer. An empty result accepts the subscription.
func Validate(sub *models.NefTrafficInfluSub) []models.InvalidParam {
	var bad []models.InvalidParam
	add := func(param, format string, args ...any) {
		bad = append(bad, models.InvalidParam{Param: param, Reason: fmt.Sprintf(format, args...)})
	}

	// 1. The application's traffic: exactly one of afAppId, trafficFilters and
	// ethTrafficFilters.
	n := 0
	for _, set := range []bool{sub.AfAppId != "", len(sub.TrafficFilters) > 0, len(sub.EthTrafficFilters) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		add("/afAppId", "exactly one of afAppId, trafficFilters and ethTrafficFilters must be present, got %d", n)
	}
	flowIDs := map[int32]bool{}
	for i, f := range sub.TrafficFilters {
		p := fmt.Sprintf("/trafficFilters/%d", i)
		if flowIDs[f.FlowId] {
			add(p+"/flowId", "flowId %d is not unique", f.FlowId)
		}
		flowIDs[f.FlowId] = true
		if len(f.FlowDescriptions) == 0 {
			add(p+"/flowDescriptions", "at least one flow description is required")
		}
		for j, d := range f.FlowDescriptions {
			if _, err := ParseFlowDescription(d); err != nil {
				add(fmt.Sprintf("%s/flowDescriptions/%d", p, j), "%v", err)
			}
		}
	}

	// 2. The target UEs: exactly one of any UE, a group, one UE by GPSI, by IP address or by
	// MAC address.
	targets := 0
	for _, set := range []bool{sub.AnyUeInd, sub.ExternalGroupId != "", sub.Gpsi != "",
		sub.Ipv4Addr != "" || sub.Ipv6Addr != "", sub.MacAddr != ""} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		add("/anyUeInd", "exactly one UE target of anyUeInd, externalGroupId, gpsi, ipv4Addr/ipv6Addr and macAddr must be present, got %d", targets)
	}
	if sub.ExternalGroupId != "" && !externalGroupIDRe.MatchString(sub.ExternalGroupId) {
		add("/externalGroupId", "%q: want <local id>@<domain>", sub.ExternalGroupId)
	}
	if sub.Gpsi != "" && (!gpsiRe.MatchString(sub.Gpsi) || strings.ContainsAny(sub.Gpsi, " \t")) {
		add("/gpsi", "%q is not a GPSI", sub.Gpsi)
	}
	if sub.Ipv4Addr != "" {
		if a, err := netip.ParseAddr(sub.Ipv4Addr); err != nil || !a.Is4() {
			add("/ipv4Addr", "%q is not an IPv4 address in dotted decimal", sub.Ipv4Addr)
		}
	}
	if sub.Ipv6Addr != "" {
		if a, err := netip.ParseAddr(sub.Ipv6Addr); err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			add("/ipv6Addr", "%q is not an IPv6 address", sub.Ipv6Addr)
		}
	}
	if sub.IpDomain != "" && sub.Ipv4Addr == "" {
		add("/ipDomain", "only meaningful with ipv4Addr")
	}
	if sub.MacAddr != "" && !macRe.MatchString(sub.MacAddr) {
		add("/macAddr", "%q: want six hex octets separated by '-'", sub.MacAddr)
	}

	// 3. dnn and snssai: required for any UE, where no UE subscription tells the SMF which
	// PDU sessions the request applies to (TS 23.502 clause 4.3.6.2).
	if sub.AnyUeInd {
		if sub.Dnn == "" {
			add("/dnn", "required with anyUeInd")
		}
		if sub.Snssai == nil {
			add("/snssai", "required with anyUeInd")
		}
	}
	if sub.Snssai != nil {
		if sub.Snssai.Sst < 0 || sub.Snssai.Sst > 255 {
			add("/snssai/sst", "%d: want 0-255", sub.Snssai.Sst)
		}
		if sub.Snssai.Sd != "" && !sdRe.MatchString(sub.Snssai.Sd) {
			add("/snssai/sd", "%q: want 6 hex digits", sub.Snssai.Sd)
		}
	}

	// 4. Events: notificationDestination with subscribedEvents, and known events only.
	for i, e := range sub.SubscribedEvents {
		if e != models.SubscribedEvent_UP_PATH_CHANGE {
			add(fmt.Sprintf("/subscribedEvents/%d", i), "%q is not a SubscribedEvent", e)
		}
	}
	if len(sub.SubscribedEvents) > 0 && sub.NotificationDestination == "" {
		add("/notificationDestination", "required with subscribedEvents")
	}
	if sub.NotificationDestination != "" {
		if u, err := url.Parse(sub.NotificationDestination); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("/notificationDestination", "%q is not an absolute http(s) URI", sub.NotificationDestination)
		}
	}
	switch sub.DnaiChgType {
	case "", models.DnaiChangeType_EARLY, models.DnaiChangeType_LATE, models.DnaiChangeType_EARLY_LATE:
	default:
		add("/dnaiChgType", "%q is not a DnaiChangeType", sub.DnaiChgType)
	}

	// 5. Routes: at least one, each with a DNAI and a route (RouteToLocation: routeInfo or
	// routeProfId).
	if len(sub.TrafficRoutes) == 0 {
		add("/trafficRoutes", "at least one route to a DNAI is required")
	}
	for i, rt := range sub.TrafficRoutes {
		p := fmt.Sprintf("/trafficRoutes/%d", i)
		if rt == nil {
			add(p, "null route")
			continue
		}
		if rt.Dnai == "" {
			add(p+"/dnai", "required")
		}
		if rt.RouteInfo == nil && rt.RouteProfId == "" {
			add(p, "routeInfo or routeProfId is required")
		}
		if ri := rt.RouteInfo; ri != nil {
			if ri.Ipv4Addr == "" && ri.Ipv6Addr == "" {
				add(p+"/routeInfo", "ipv4Addr or ipv6Addr is required")
			}
			if a, err := netip.ParseAddr(ri.Ipv4Addr); ri.Ipv4Addr != "" && (err != nil || !a.Is4()) {
				add(p+"/routeInfo/ipv4Addr", "%q is not an IPv4 address", ri.Ipv4Addr)
			}
			if a, err := netip.ParseAddr(ri.Ipv6Addr); ri.Ipv6Addr != "" && (err != nil || !a.Is6()) {
				add(p+"/routeInfo/ipv6Addr", "%q is not an IPv6 address", ri.Ipv6Addr)
			}
			if ri.PortNumber < 0 || ri.PortNumber > 65535 {
				add(p+"/routeInfo/portNumber", "%d: want 0-65535", ri.PortNumber)
			}
		}
	}
	return bad
}

// FlowDescription is a parsed IPFilterRule (RFC 6733 clause 4.3.1) as TS 29.214 clause
// 5.3.8 restricts it for flow descriptions: action permit, no options, no negation, no
// "assigned".
type FlowDescription struct {
	// Direction is "in" or "out".
	Direction string
	// Proto is the IP protocol number; -1 for "ip" (any).
	Proto int
	// Src and Dst are the addresses; invalid (zero) prefixes mean "any".
	Src, Dst netip.Prefix
	// SrcPorts and DstPorts are the port ranges, empty for any.
	SrcPorts, DstPorts [][2]uint16
}

// ParseFlowDescription parses "permit out 17 from 192.0.2.10 5000 to 10.60.0.0/16".
func ParseFlowDescription(s string) (FlowDescription, error) {
	var fd FlowDescription
	f := strings.Fields(s)
	next := func() string {
		if len(f) == 0 {
			return ""
		}
		t := f[0]
		f = f[1:]
		return t
	}
	if next() != "permit" {
		return fd, fmt.Errorf("%q: the action must be permit", s)
	}
	fd.Direction = next()
	if fd.Direction != "in" && fd.Direction != "out" {
		return fd, fmt.Errorf("%q: the direction must be in or out", s)
	}
	proto := next()
	if proto == "ip" {
		fd.Proto = -1
	} else {
		n, err := strconv.ParseUint(proto, 10, 8)
		if err != nil {
			return fd, fmt.Errorf("%q: protocol %q: want ip or a number 0-255", s, proto)
		}
		fd.Proto = int(n)
	}
	endpoint := func(kw string) (netip.Prefix, [][2]uint16, error) {
		if next() != kw {
			return netip.Prefix{}, nil, fmt.Errorf("%q: want %q", s, kw)
		}
		var p netip.Prefix
		switch a := next(); {
		case a == "any":
		case a == "" || a == "assigned" || strings.HasPrefix(a, "!"):
			return p, nil, fmt.Errorf("%q: address %q not allowed", s, a)
		case strings.Contains(a, "/"):
			var err error
			if p, err = netip.ParsePrefix(a); err != nil {
				return p, nil, fmt.Errorf("%q: %w", s, err)
			}
		default:
			ip, err := netip.ParseAddr(a)
			if err != nil {
				return p, nil, fmt.Errorf("%q: %w", s, err)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		if len(f) == 0 || f[0] == "to" {
			return p, nil, nil
		}
		var ports [][2]uint16
		for _, pr := range strings.Split(next(), ",") {
			lo, hi, isRange := strings.Cut(pr, "-")
			l, err := strconv.ParseUint(lo, 10, 16)
			if err != nil {
				return p, nil, fmt.Errorf("%q: port %q", s, pr)
			}
			h := l
			if isRange {
				if h, err = strconv.ParseUint(hi, 10, 16); err != nil || h < l {
					return p, nil, fmt.Errorf("%q: port range %q", s, pr)
				}
			}
			ports = append(ports, [2]uint16{uint16(l), uint16(h)})
		}
		return p, ports, nil
	}
	var err error
	if fd.Src, fd.SrcPorts, err = endpoint("from"); err != nil {
		return fd, err
	}
	if fd.Dst, fd.DstPorts, err = endpoint("to"); err != nil {
		return fd, err
	}
	if len(f) > 0 {
		return fd, fmt.Errorf("%q: options are not allowed (%q)", s, strings.Join(f, " "))
	}
	if (fd.SrcPorts != nil || fd.DstPorts != nil) && fd.Proto != 6 && fd.Proto != 17 && fd.Proto != 132 {
		return fd, fmt.Errorf("%q: ports need protocol 6, 17 or 132", s)
	}
	return fd, nil
}
