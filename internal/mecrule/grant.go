package mecrule

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
)

// ErrBeyondGrant is matched by every error of WithinTrafficGrant and WithinDNSGrant.
var ErrBeyondGrant = errors.New("beyond the grant")

// GrantError is a rule field that exceeds what the grant allows.
type GrantError struct {
	// Pointer is the JSON pointer of the field within the changed rule.
	Pointer string
	// Reason says how the field exceeds the grant.
	Reason string
}

// Error returns "<pointer>: <reason>".
func (e *GrantError) Error() string { return e.Pointer + ": " + e.Reason }

// Is makes a GrantError match ErrBeyondGrant.
func (e *GrantError) Is(target error) bool { return target == ErrBeyondGrant }

func beyond(ptr, format string, args ...any) error {
	return &GrantError{Pointer: ptr, Reason: fmt.Sprintf(format, args...)}
}

// WithinTrafficGrant reports whether r, a change of the traffic rule granted as g, stays
// inside g. Both must have passed ValidateTrafficRule. The state may change freely; the rest
// only so:
//
//  1. filterType is the granted one;
//  2. priority is never stronger (numerically lower) than granted;
//  3. every dstInterface entry is one of the granted entries, so a forwarding action sends
//     the granted traffic nowhere the grant does not, whatever the action;
//  4. every filter lies within its own granted filter (no two filters share one): each
//     address, port, protocol and TEID item lies within a granted item of the same list,
//     the tunnel scope (tunnel addresses and ports, tag and token) is the granted one, and
//     qCI, dSCP and tC keep the granted value when the grant sets one.
//
// The narrowed rule also never needs more of the data plane than its grant: a list holds
// at most as many items as the granted list (one when the grant leaves the list open), and
// destination prefixes do not overlap one another. Every destination prefix of the data
// plane then has at most as many candidate filters as with the grant, so an app cannot make
// the UPGW refuse other apps' rules by narrowing its own (see Footprint).
//
// The error is a *GrantError naming the field of r that exceeds the grant.
func WithinTrafficGrant(g, r *TrafficRule) error {
	if r.FilterType != g.FilterType {
		return beyond("/filterType", "%s: the grant is %s", r.FilterType, g.FilterType)
	}
	if r.Priority < g.Priority {
		return beyond("/priority", "%d is stronger than the granted %d", r.Priority, g.Priority)
	}
	if r.DstInterface != nil {
		var granted []DestinationInterface
		if g.DstInterface != nil {
			granted = *g.DstInterface
		}
		for i, d := range *r.DstInterface {
			if !slices.ContainsFunc(granted, func(x DestinationInterface) bool { return reflect.DeepEqual(x, d) }) {
				return beyond(ptr("dstInterface", i), "not a granted destination interface")
			}
		}
	}
	return filtersWithin(g.TrafficFilter, r.TrafficFilter)
}

// filtersWithin matches each filter of rs to a distinct filter of gs that contains it
// (bipartite matching, augmenting paths). The usual case, filter i within granted filter
// i, needs no search.
func filtersWithin(gs, rs []TrafficFilter) error {
	if len(rs) > len(gs) {
		return beyond("/trafficFilter", "%d filters: the grant has %d", len(rs), len(gs))
	}
	positional := true
	for i := range rs {
		if filterWithin(&gs[i], &rs[i]) != nil {
			positional = false
			break
		}
	}
	if positional {
		return nil
	}
	memo := map[[2]int]bool{}
	fits := func(r, g int) bool {
		k := [2]int{r, g}
		if v, ok := memo[k]; ok {
			return v
		}
		v := filterWithin(&gs[g], &rs[r]) == nil
		memo[k] = v
		return v
	}
	owner := make([]int, len(gs)) // granted filter → filter of r + 1 (0: free)
	var try func(r int, seen []bool) bool
	try = func(r int, seen []bool) bool {
		for g := range gs {
			if seen[g] || !fits(r, g) {
				continue
			}
			seen[g] = true
			if owner[g] == 0 || try(owner[g]-1, seen) {
				owner[g] = r + 1
				return true
			}
		}
		return false
	}
	for r := range rs {
		if !try(r, make([]bool, len(gs))) {
			// Name the field against the granted filter at the same position (or the last).
			g := min(r, len(gs)-1)
			if err := filterWithin(&gs[g], &rs[r]); err != nil {
				return atGrant(ptr("trafficFilter", r), err)
			}
			return beyond(ptr("trafficFilter", r), "shares its granted filter with another filter")
		}
	}
	return nil
}

func atGrant(prefix string, err error) error {
	var ge *GrantError
	if errors.As(err, &ge) {
		return &GrantError{Pointer: prefix + ge.Pointer, Reason: ge.Reason}
	}
	return err
}

func filterWithin(g, r *TrafficFilter) error {
	if err := addressesWithin("dstAddress", g.DstAddress, r.DstAddress, true); err != nil {
		return err
	}
	if err := addressesWithin("srcAddress", g.SrcAddress, r.SrcAddress, false); err != nil {
		return err
	}
	for _, l := range []struct {
		name string
		g, r *[]string
	}{{"srcPort", g.SrcPort, r.SrcPort}, {"dstPort", g.DstPort, r.DstPort}} {
		if err := itemsWithin(l.name, l.g, l.r, ParsePort, func(g, r PortRange) bool { return g.Lo <= r.Lo && r.Hi <= g.Hi }); err != nil {
			return err
		}
	}
	if err := protocolsWithin(g.Protocol, r.Protocol); err != nil {
		return err
	}
	// The tunnel scope says which subscribers' traffic the rule sees: it stays the granted one.
	for _, l := range []struct {
		name string
		g, r *[]string
	}{
		{"srcTunnelAddress", g.SrcTunnelAddress, r.SrcTunnelAddress}, {"tgtTunnelAddress", g.TgtTunnelAddress, r.TgtTunnelAddress},
		{"srcTunnelPort", g.SrcTunnelPort, r.SrcTunnelPort}, {"dstTunnelPort", g.DstTunnelPort, r.DstTunnelPort},
	} {
		if canonical(l.g) != canonical(l.r) {
			return beyond(ptr(l.name), "the tunnel scope must stay the granted one")
		}
	}
	if canonical(g.Tag, g.Token) != canonical(r.Tag, r.Token) {
		name := "tag"
		if canonical(g.Tag) == canonical(r.Tag) {
			name = "token"
		}
		return beyond(ptr(name), "the tunnel scope (TEIDs) must stay the granted one")
	}
	for _, v := range []struct {
		name string
		g, r *int
	}{{"qCI", g.QCI, r.QCI}, {"dSCP", g.DSCP, r.DSCP}, {"tC", g.TC, r.TC}} {
		if v.g != nil && (v.r == nil || *v.r != *v.g) {
			return beyond(ptr(v.name), "must stay %d as granted", *v.g)
		}
	}
	return nil
}

// canonical is a comparable form of filter lists: their trimmed items, sorted.
func canonical(lists ...*[]string) string {
	var all []string
	for _, l := range lists {
		if l != nil {
			for _, s := range *l {
				all = append(all, strings.ToUpper(strings.TrimSpace(s)))
			}
		}
	}
	slices.Sort(all)
	return strings.Join(all, "\x00")
}

// addressesWithin checks an address list against its grant. Items are counted as the
// prefixes they expand to (a range may be several), as the data plane counts them; for
// the destination, prefixes must also be pairwise disjoint.
func addressesWithin(name string, g, r *[]string, disjoint bool) error {
	gp := parsedPrefixes(g)
	if r == nil || len(*r) == 0 {
		if len(gp) > 0 {
			return beyond(ptr(name), "the grant limits %s; leaving it out would match any address", name)
		}
		return nil
	}
	var rp []netip.Prefix
	for i, s := range *r {
		ps, _ := ParseAddress(s) // validated
		for _, p := range ps {
			if len(gp) > 0 && !slices.ContainsFunc(gp, func(q netip.Prefix) bool { return prefixWithin(q, p) }) {
				return beyond(ptr(name, i), "%s is outside the granted addresses", p)
			}
			if disjoint && slices.ContainsFunc(rp, p.Overlaps) {
				return beyond(ptr(name, i), "%s overlaps another destination of the filter", p)
			}
			rp = append(rp, p)
		}
		if limit := max(len(gp), 1); len(rp) > limit {
			return beyond(ptr(name, i), "more than %d prefixes: the grant allows %d", limit, limit)
		}
	}
	return nil
}

func parsedPrefixes(l *[]string) []netip.Prefix {
	if l == nil {
		return nil
	}
	var out []netip.Prefix
	for _, s := range *l {
		ps, _ := ParseAddress(s) // validated
		out = append(out, ps...)
	}
	return out
}

// prefixWithin reports whether p lies inside g, same address family.
func prefixWithin(g, p netip.Prefix) bool {
	return g.Addr().Is4() == p.Addr().Is4() && g.Bits() <= p.Bits() && g.Contains(p.Addr())
}

// itemsWithin checks a port or protocol list against its grant.
// protocolsWithin checks the protocol list: an application protocol name (ErrNotIPProtocol)
// does not restrict the IP protocol (IPProtocols), so a change may name one only where the
// grant does not restrict it either.
func protocolsWithin(g, r *[]string) error {
	var gs []string
	if g != nil {
		gs = *g
	}
	if gp, _ := IPProtocols(gs); gp == nil { // validated
		return nil // the grant does not restrict the protocol
	}
	if r != nil {
		for i, s := range *r {
			if _, err := ParseProtocol(s); errors.Is(err, ErrNotIPProtocol) {
				return beyond(ptr("protocol", i), "%q is an application protocol, which does not restrict the granted IP protocols", s)
			}
		}
	}
	return itemsWithin("protocol", g, r, ParseProtocol, func(g, r uint8) bool { return g == r })
}

func itemsWithin[T any](name string, g, r *[]string, parse func(string) (T, error), within func(g, r T) bool) error {
	var gv []T
	if g != nil {
		for _, s := range *g {
			v, _ := parse(s) // validated
			gv = append(gv, v)
		}
	}
	if r == nil || len(*r) == 0 {
		if len(gv) > 0 {
			return beyond(ptr(name), "the grant limits %s; leaving it out would match any", name)
		}
		return nil
	}
	if limit := max(len(gv), 1); len(*r) > limit {
		return beyond(ptr(name), "%d entries: the grant allows %d", len(*r), limit)
	}
	for i, s := range *r {
		v, _ := parse(s) // validated
		if len(gv) > 0 && !slices.ContainsFunc(gv, func(x T) bool { return within(x, v) }) {
			return beyond(ptr(name, i), "%q is outside the granted %s", s, name)
		}
	}
	return nil
}

// WithinDNSGrant reports whether r, a change of the DNS rule granted as g, stays inside g:
// the domainName is the granted one (a name is the site DNS's most valuable asset: another
// app may own the name r would claim), and the address is the granted one or lies in one
// of ranges, the site's app address ranges. State, address type and ttl may change. Both
// rules must have passed ValidateDNSRule. The error is a *GrantError.
func WithinDNSGrant(g, r *DNSRule, ranges []netip.Prefix) error {
	if !strings.EqualFold(strings.TrimSuffix(r.DomainName, "."), strings.TrimSuffix(g.DomainName, ".")) {
		return beyond("/domainName", "%q: the grant is %q", r.DomainName, g.DomainName)
	}
	a, _ := netip.ParseAddr(r.IpAddress) // validated
	ga, _ := netip.ParseAddr(g.IpAddress)
	a, ga = a.Unmap(), ga.Unmap()
	if a == ga || slices.ContainsFunc(ranges, func(p netip.Prefix) bool { return p.Contains(a) }) {
		return nil
	}
	return beyond("/ipAddress", "%s is neither the granted address nor in the site's app address ranges", r.IpAddress)
}
