// Package mecrule is the one acceptance check of ETSI GS MEC 011 traffic and DNS rules on
// the platform. The MEP calls it before it stores a rule (Mm5 and Mp1), the UPGW compiler
// calls it before it compiles one, and the orchestrator calls it on the rules of an app
// package, so a rule one of them accepts is never refused by another: a rule the MEP
// accepts but the UPGW cannot enforce would be stored and reported as applied while it
// silently never matches.
//
// The checks cover one rule in isolation: required fields, enums, ranges, the syntax of
// every filter item (ParseAddress, ParsePort, ParseProtocol, ParseTEID) and what the data
// plane can express (an IPv6 source prefix may not cover the IPv4-mapped block, qCI is
// matched against the 6-bit QFI, ports need a protocol that has ports, forwarding actions
// need a matching dstInterface, tunnels are GTP-U, a rule expands to at most
// MaxMatchesPerRule match tuples). The limits of the data plane that depend on the whole
// rule set of a site (candidates per destination, prefixes, rules) are counted by Footprint,
// which the MEP applies to the sum of all grants; what depends on a site's configuration
// (targets) stays with the UPGW compiler. WithinTrafficGrant and WithinDNSGrant say whether
// an app's change of a rule stays inside what the orchestrator granted; which grant applies
// and duplicate ids stay with the MEP.
//
// The checks work on the platform's rule model (types.go: TrafficRule, DNSRule), which
// carries no API's wire types; each edge converts its wire rules once (mp1rule for the
// generated Mp1 and Mm5 types) and the MEP stores the model as it is.
//
// Errors are *FieldError values that name the offending field by JSON pointer (RFC 6901)
// relative to the checked rule, and match ErrInvalid under errors.Is.
package mecrule

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/edgemec/edgemec/internal/ids"
)

// Limits on one rule. They bound the memory and compile time of one rule; the README's
// documented list cap is 256, filter lists are held to 64.
const (
	// MaxFilters is the most trafficFilter entries of one rule.
	MaxFilters = 64
	// MaxFilterItems is the most entries of one list inside a filter (srcAddress, ...).
	MaxFilterItems = 64
	// MaxDstInterfaces is the most dstInterface entries (MEC 011 V2.2.1: at most two).
	MaxDstInterfaces = 2
	// MaxTTL is the largest DNS rule ttl, one week.
	MaxTTL = 604800
)

// ErrInvalid is matched by every error of ValidateTrafficRule and ValidateDNSRule.
var ErrInvalid = errors.New("invalid rule")

// FieldError is a refused rule field.
type FieldError struct {
	// Pointer is the JSON pointer of the field within the checked object, e.g.
	// "/trafficFilter/0/srcAddress/1"; "" is the object itself.
	Pointer string
	// Reason says what is wrong, without the field name.
	Reason string
}

// Error returns "<pointer>: <reason>".
func (e *FieldError) Error() string { return e.Pointer + ": " + e.Reason }

// Is makes a FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// At returns err with prefix prepended to its pointer when err is a *FieldError, so that a
// caller checking a rule inside a larger document can report the pointer from its root:
// At("/appTrafficRule/3", err). Other errors come back unchanged.
func At(prefix string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Pointer: prefix + fe.Pointer, Reason: fe.Reason}
	}
	return err
}

func fail(ptr, format string, args ...any) error {
	return &FieldError{Pointer: ptr, Reason: fmt.Sprintf(format, args...)}
}

// ptr joins JSON pointer tokens, escaping '~' and '/' as RFC 6901 requires.
func ptr(tokens ...any) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		switch v := t.(type) {
		case int:
			b.WriteString(strconv.Itoa(v))
		case string:
			b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(v))
		}
	}
	return b.String()
}

// forwarding maps the actions that send traffic somewhere to whether they encapsulate.
var forwarding = map[Action]bool{
	FORWARDDECAPSULATED:   false,
	DUPLICATEDECAPSULATED: false,
	FORWARDENCAPSULATED:   true,
	DUPLICATEENCAPSULATED: true,
}

// ValidateTrafficRule reports whether the platform accepts r: the MEP stores it, the UPGW
// can enforce it. It does not modify r. State must be set (callers that default it to ACTIVE
// do so first). The error is a *FieldError.
func ValidateTrafficRule(r *TrafficRule) error {
	if err := ids.ValidateRuleID(r.TrafficRuleId); err != nil {
		return fail("/trafficRuleId", "%v", err)
	}
	if !r.FilterType.Valid() {
		return fail("/filterType", "%q: want FLOW or PACKET", r.FilterType)
	}
	if !r.Action.Valid() {
		return fail("/action", "%q is not a MEC 011 traffic rule action", r.Action)
	}
	if !r.State.Valid() {
		return fail("/state", "%q: want ACTIVE or INACTIVE", r.State)
	}
	if r.Priority < 0 || r.Priority > 255 {
		return fail("/priority", "%d: want 0-255", r.Priority)
	}
	if len(r.TrafficFilter) == 0 || len(r.TrafficFilter) > MaxFilters {
		return fail("/trafficFilter", "want 1 to %d filters, got %d", MaxFilters, len(r.TrafficFilter))
	}
	for i := range r.TrafficFilter {
		if err := validateFilter(&r.TrafficFilter[i]); err != nil {
			return At(ptr("trafficFilter", i), err)
		}
	}
	if n := Matches(r); n > MaxMatchesPerRule {
		return fail("/trafficFilter", "the filters expand to %d match tuples; the data plane takes at most %d per rule", n, MaxMatchesPerRule)
	}
	return validateDstInterface(r)
}

func validateDstInterface(r *TrafficRule) error {
	var dis []DestinationInterface
	if r.DstInterface != nil {
		dis = *r.DstInterface
	}
	if len(dis) > MaxDstInterfaces {
		return fail("/dstInterface", "%d entries: at most %d are allowed", len(dis), MaxDstInterfaces)
	}
	for i, d := range dis {
		if !d.InterfaceType.Valid() {
			return fail(ptr("dstInterface", i, "interfaceType"), "%q: want IP, MAC or TUNNEL", d.InterfaceType)
		}
		if d.TunnelInfo != nil && !d.TunnelInfo.TunnelType.Valid() {
			return fail(ptr("dstInterface", i, "tunnelInfo", "tunnelType"), "%q is not a MEC 011 tunnel type", d.TunnelInfo.TunnelType)
		}
		if d.DstIpAddress != nil {
			if a, err := netip.ParseAddr(*d.DstIpAddress); err != nil || a.Zone() != "" {
				return fail(ptr("dstInterface", i, "dstIpAddress"), "%q is not an IP address", *d.DstIpAddress)
			}
		}
	}
	encap, fwd := forwarding[r.Action]
	if !fwd {
		return nil // DROP and PASSTHROUGH send nothing anywhere; dstInterface is ignored
	}
	// The data plane forwards to the first interface; the second (V2.2.1) is informative.
	if len(dis) == 0 {
		return fail("/dstInterface", "action %s needs a dstInterface", r.Action)
	}
	d := dis[0]
	if encap {
		if d.InterfaceType != TUNNEL || d.TunnelInfo == nil {
			return fail("/dstInterface/0", "action %s needs a TUNNEL interface with tunnelInfo", r.Action)
		}
		if d.TunnelInfo.TunnelType != GTPU {
			return fail("/dstInterface/0/tunnelInfo/tunnelType", "%q is not supported (only GTP_U)", d.TunnelInfo.TunnelType)
		}
		return nil
	}
	if d.InterfaceType != IP && d.InterfaceType != MAC {
		return fail("/dstInterface/0/interfaceType", "action %s needs an IP or MAC interface, got %q", r.Action, d.InterfaceType)
	}
	return nil
}

// mappedV4 is the IPv4-mapped IPv6 block. The data plane keeps IPv4 addresses as
// ::ffff:a.b.c.d and matches sources by mask, so an IPv6 source prefix that contains this
// block would also match every IPv4 source.
var mappedV4 = netip.MustParsePrefix("::ffff:0:0/96")

// portProtocols are the protocols whose headers carry the ports srcPort and dstPort match.
var portProtocols = map[uint8]bool{6: true, 17: true, 132: true}

func validateFilter(f *TrafficFilter) error {
	lists := []struct {
		name  string
		items *[]string
		parse func(string) error
	}{
		{"srcAddress", f.SrcAddress, func(s string) error {
			ps, err := ParseAddress(s)
			if err != nil {
				return err
			}
			for _, p := range ps {
				if p.Addr().Is6() && p.Bits() <= mappedV4.Bits() && p.Contains(mappedV4.Addr()) {
					return fmt.Errorf("%s: an IPv6 prefix that contains ::ffff:0:0/96 would also match IPv4 sources; leave srcAddress out to match any source", p)
				}
			}
			return nil
		}},
		{"dstAddress", f.DstAddress, discard(ParseAddress)},
		{"srcTunnelAddress", f.SrcTunnelAddress, discard(ParseAddress)},
		{"tgtTunnelAddress", f.TgtTunnelAddress, discard(ParseAddress)},
		{"srcPort", f.SrcPort, discard(ParsePort)},
		{"dstPort", f.DstPort, discard(ParsePort)},
		{"srcTunnelPort", f.SrcTunnelPort, discard(ParsePort)},
		{"dstTunnelPort", f.DstTunnelPort, discard(ParsePort)},
		{"protocol", f.Protocol, validProtocol},
		{"tag", f.Tag, discard(ParseTEID)},
		{"token", f.Token, discard(ParseTEID)}, // V2 name of tag: both carry a TEID
	}
	for _, l := range lists {
		if l.items == nil {
			continue
		}
		if len(*l.items) > MaxFilterItems {
			return fail(ptr(l.name), "%d entries: at most %d are allowed", len(*l.items), MaxFilterItems)
		}
		for i, s := range *l.items {
			if err := l.parse(s); err != nil {
				return fail(ptr(l.name, i), "%v", err)
			}
		}
	}
	for _, r := range []struct {
		name   string
		v      *int
		hi     int
		reason string
	}{
		{"qCI", f.QCI, 63, "matched against the 6-bit QFI"},
		{"dSCP", f.DSCP, 63, "a 6-bit field"},
		{"tC", f.TC, 255, "an 8-bit field"},
	} {
		if r.v != nil && (*r.v < 0 || *r.v > r.hi) {
			return fail(ptr(r.name), "%d: want 0-%d (%s)", *r.v, r.hi, r.reason)
		}
	}
	if f.Protocol != nil && (f.SrcPort != nil && len(*f.SrcPort) > 0 || f.DstPort != nil && len(*f.DstPort) > 0) {
		for i, s := range *f.Protocol {
			p, err := ParseProtocol(s)
			if errors.Is(err, ErrNotIPProtocol) {
				continue // an application protocol: its ports are its transport's
			}
			if !portProtocols[p] {
				return fail(ptr("protocol", i), "%q has no ports, but srcPort or dstPort is given (want TCP, UDP or SCTP)", s)
			}
		}
	}
	return nil
}

func discard[T any](parse func(string) (T, error)) func(string) error {
	return func(s string) error {
		_, err := parse(s)
		return err
	}
}

// ValidDomainName reports whether s is a DNS name: RFC 1035 lengths, labels of letters,
// digits, '-' and '_' that neither start nor end with '-', an optional trailing dot, and a
// leading "*." wildcard label.
func ValidDomainName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for i, l := range strings.Split(s, ".") {
		if l == "*" && i == 0 {
			continue
		}
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ValidateDNSRule reports whether the platform accepts r: the MEP stores it and its DNS
// server can answer it. It does not modify r. State must be set. The error is a *FieldError.
func ValidateDNSRule(r *DNSRule) error {
	if err := ids.ValidateRuleID(r.DnsRuleId); err != nil {
		return fail("/dnsRuleId", "%v", err)
	}
	if !ValidDomainName(r.DomainName) {
		return fail("/domainName", "%q is not a valid DNS name", r.DomainName)
	}
	if !r.IpAddressType.Valid() {
		return fail("/ipAddressType", "%q: want IP_V4 or IP_V6", r.IpAddressType)
	}
	if !r.State.Valid() {
		return fail("/state", "%q: want ACTIVE or INACTIVE", r.State)
	}
	a, err := netip.ParseAddr(r.IpAddress)
	if err != nil || a.Zone() != "" { // a zone index cannot go into an AAAA answer
		return fail("/ipAddress", "%q is not an IP address", r.IpAddress)
	}
	if (r.IpAddressType == IPV4) != a.Unmap().Is4() {
		return fail("/ipAddress", "%q does not match ipAddressType %s", r.IpAddress, r.IpAddressType)
	}
	if r.Ttl != nil && (*r.Ttl < 0 || *r.Ttl > MaxTTL) {
		return fail("/ttl", "%d: want 0-%d", *r.Ttl, MaxTTL)
	}
	return nil
}
