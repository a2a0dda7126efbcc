package mecrule

import (
	"fmt"
	"net/netip"
	"slices"
)

// Data plane limits every site shares. The UPGW's eBPF program fixes them
// (upgw/bpf/lib/upgw.h); they are here so that the MEP can refuse, when the orchestrator
// grants rules, a set of grants the UPGW could not compile whole.
const (
	// MaxMatchesPerRule bounds the match tuples one rule expands to: the cartesian product
	// of each filter's lists, summed over its filters.
	MaxMatchesPerRule = 256
	// MaxCandidates is the most match tuples the data plane can hold behind one destination
	// prefix (UPGW_MAX_CANDS): every filter whose destination covers the prefix counts.
	MaxCandidates = 16
	// MaxPrefixes is the most destination prefixes of a site's rule set (UPGW_MAX_PREFIXES).
	MaxPrefixes = 4096
	// MaxRules is the most traffic rules of a site (UPGW_MAX_RULES, one counter slot each).
	MaxRules = 1024
	// MaxTrafficRulesPerApp and MaxDNSRulesPerApp bound the rules one app instance is granted.
	MaxTrafficRulesPerApp = 256
	MaxDNSRulesPerApp     = 256
)

// The data plane keeps IPv4 addresses as ::ffff:a.b.c.d; an IPv6 destination that covers
// that block also needs the IPv4 key 0.0.0.0/0, and a filter without dstAddress lands on
// both ::/0 and 0.0.0.0/0 (see the UPGW compiler).
var (
	anyDst = netip.PrefixFrom(netip.IPv6Unspecified(), 0) // filters without dstAddress
	allV4  = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
)

// Matches returns the number of match tuples r expands to, as the UPGW compiler expands
// it: per filter, the product of its list lengths (address items counted as the prefixes
// they expand to; tag and token together), an absent list counting one. r must have
// passed the per-item checks of ValidateTrafficRule.
func Matches(r *TrafficRule) int {
	n := 0
	for i := range r.TrafficFilter {
		n += filterMatches(&r.TrafficFilter[i])
	}
	return n
}

func filterMatches(f *TrafficFilter) int {
	n := 1
	for _, l := range []*[]string{f.DstAddress, f.SrcAddress, f.SrcTunnelAddress, f.TgtTunnelAddress} {
		n *= max(len(parsedPrefixes(l)), 1)
	}
	for _, l := range []*[]string{f.SrcPort, f.DstPort, f.SrcTunnelPort, f.DstTunnelPort, f.Protocol} {
		if l != nil {
			n *= max(len(*l), 1)
		}
	}
	teids := 0
	for _, l := range []*[]string{f.Tag, f.Token} {
		if l != nil {
			teids += len(*l)
		}
	}
	n *= max(teids, 1)
	return min(n, 1<<20) // clamp: products of many long lists overflow nothing here
}

// Footprint is what a set of traffic rules needs of the data plane, apart from what
// depends on a site's configuration (the targets of dstInterface): rules, destination
// prefixes and candidates behind each prefix. A set whose Footprint checks out compiles
// whole in the UPGW, in any order, so the MEP checks the sum of all grants with it.
type Footprint struct {
	rules int
	dsts  map[netip.Prefix]int // destination (the zero Prefix: none, any destination) → match tuples
}

// Add counts r, of any state (an inactive rule can be activated without asking).
func (f *Footprint) Add(r *TrafficRule) {
	if f.dsts == nil {
		f.dsts = map[netip.Prefix]int{}
	}
	f.rules++
	for i := range r.TrafficFilter {
		flt := &r.TrafficFilter[i]
		dsts := parsedPrefixes(flt.DstAddress)
		n := filterMatches(flt)
		if len(dsts) == 0 {
			f.dsts[netip.Prefix{}] += n
			continue
		}
		per := n / len(dsts)
		for _, d := range dsts {
			f.dsts[d] += per
		}
	}
}

// Check reports the first data plane limit the counted rules exceed.
func (f *Footprint) Check() error {
	if f.rules > MaxRules {
		return fmt.Errorf("%d traffic rules: the data plane holds %d", f.rules, MaxRules)
	}
	keys := map[netip.Prefix]bool{}
	for d := range f.dsts {
		if !d.IsValid() {
			d = anyDst
		}
		keys[d] = true
		if d.Addr().Is6() && d.Bits() <= 96 && d.Contains(mappedV4.Addr()) {
			keys[allV4] = true
		}
	}
	if len(keys) > MaxPrefixes {
		return fmt.Errorf("%d destination prefixes: the data plane holds %d", len(keys), MaxPrefixes)
	}
	ks := make([]netip.Prefix, 0, len(keys))
	for k := range keys {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr())*256 + a.Bits() - b.Bits() })
	for _, k := range ks {
		n := 0
		for d, m := range f.dsts {
			if !d.IsValid() || d.Addr().Is4() == k.Addr().Is4() && d.Bits() <= k.Bits() && d.Contains(k.Addr()) {
				n += m
			}
		}
		if n > MaxCandidates {
			return fmt.Errorf("destination %s would have %d candidate filters: the data plane holds %d", k, n, MaxCandidates)
		}
	}
	return nil
}
