package rules

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/internal/mecrule/mp1rule"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
)

// Limits of one compilation.
const (
	// MaxMatchesPerRule bounds the cartesian expansion of one rule's filters.
	MaxMatchesPerRule = 256
)

// ErrNoTarget is wrapped by Targets implementations when a destination interface does not
// resolve to a configured port.
var ErrNoTarget = errors.New("no configured target")

// Targets resolves destination interfaces to data plane output slots. The UPGW config maps
// app addresses and MACs to app-facing ports and tunnel addresses to GTP-U endpoints.
type Targets interface {
	// App resolves an IP or MAC destination interface to an app slot.
	App(mp1api.DestinationInterface) (uint8, error)
	// Endpoint resolves a TUNNEL (GTP-U) destination interface to an endpoint slot.
	Endpoint(mp1api.DestinationInterface) (uint8, error)
}

// Compiled is an accepted rule.
type Compiled struct {
	AppInstanceID string
	TrafficRuleID string
	Priority      int
	Action        string
	Slot          uint32 // per-rule counter slot
	Matches       int    // compiled match tuples
}

// Rejected is a rule the data plane cannot enforce, with the reason.
type Rejected struct {
	AppInstanceID string
	TrafficRuleID string
	Reason        string
}

// Result is the outcome of one compilation.
type Result struct {
	Entries  []dataplane.Entry
	Rules    []Compiled
	Rejected []Rejected
	Inactive int
	// Slots is the rule-key → counter-slot assignment to pass to the next Compile.
	Slots map[string]uint32
}

// actions maps the MEC 011 actions to the data plane's.
var actions = map[mp1api.TrafficRuleAction]uint8{
	mp1api.DROP:                  dataplane.ActDrop,
	mp1api.FORWARDDECAPSULATED:   dataplane.ActFwdDecap,
	mp1api.FORWARDENCAPSULATED:   dataplane.ActFwdEncap,
	mp1api.PASSTHROUGH:           dataplane.ActPassthrough,
	mp1api.DUPLICATEDECAPSULATED: dataplane.ActDupDecap,
	mp1api.DUPLICATEENCAPSULATED: dataplane.ActDupEncap,
}

// match is a compiled tuple with its destination prefix (invalid prefix = any destination).
type match struct {
	dst netip.Prefix
	m   dataplane.Match
}

// Compile turns the ACTIVE rules into a rule set. Rules are ordered by priority (lower value
// first), ties broken by app instance id then rule id so the result is deterministic. A rule
// that cannot be enforced (bad field, unknown target, over a data plane limit) is rejected
// whole, with a reason; it never half-applies. prev is the slot assignment of the previous
// compilation, so that a rule keeps its counters across rule-set versions; its entries for
// keys not in the new set (any key: only the slot counts) mark slots handed out last.
func Compile(in []AppRule, t Targets, prev map[string]uint32) Result {
	var res Result
	active := make([]AppRule, 0, len(in))
	seen := map[string]bool{}
	for _, r := range in {
		if r.TrafficRule.State != mp1api.RuleStateACTIVE {
			if r.TrafficRule.State != mp1api.RuleStateINACTIVE {
				res.Rejected = append(res.Rejected, reject(r, fmt.Sprintf("state %q: want ACTIVE or INACTIVE", r.TrafficRule.State)))
				continue
			}
			res.Inactive++
			continue
		}
		if seen[r.Key()] {
			res.Rejected = append(res.Rejected, reject(r, "duplicate trafficRuleId for this app instance"))
			continue
		}
		seen[r.Key()] = true
		active = append(active, r)
	}
	slices.SortStableFunc(active, func(a, b AppRule) int {
		return cmp.Or(cmp.Compare(a.TrafficRule.Priority, b.TrafficRule.Priority),
			cmp.Compare(a.AppInstanceID, b.AppInstanceID),
			cmp.Compare(a.TrafficRule.TrafficRuleId, b.TrafficRule.TrafficRuleId))
	})

	slots := newSlotAlloc(prev, active)
	var accepted []match
	cands := map[netip.Prefix]int{} // every LPM key, with its number of candidates
	for _, r := range active {
		ms, err := expand(&r.TrafficRule, t)
		if err != nil {
			res.Rejected = append(res.Rejected, reject(r, err.Error()))
			continue
		}
		upd, err := fits(accepted, cands, ms)
		if err != nil {
			res.Rejected = append(res.Rejected, reject(r, err.Error()))
			continue
		}
		slot, ok := slots.get(r.Key())
		if !ok {
			res.Rejected = append(res.Rejected, reject(r, fmt.Sprintf("more than %d active rules", dataplane.MaxRules)))
			continue
		}
		for i := range ms {
			ms[i].m.RuleSlot = slot
		}
		maps.Copy(cands, upd)
		accepted = append(accepted, ms...)
		res.Rules = append(res.Rules, Compiled{AppInstanceID: r.AppInstanceID, TrafficRuleID: r.TrafficRule.TrafficRuleId,
			Priority: r.TrafficRule.Priority, Action: string(r.TrafficRule.Action), Slot: slot, Matches: len(ms)})
	}
	res.Slots = slots.used
	res.Entries = build(accepted, cands)
	return res
}

func reject(r AppRule, reason string) Rejected {
	return Rejected{AppInstanceID: r.AppInstanceID, TrafficRuleID: r.TrafficRule.TrafficRuleId, Reason: reason}
}

// The data plane keeps IPv4 addresses as ::ffff:a.b.c.d, so an IPv4 packet's longest-prefix
// lookup also sees IPv6 keys that contain ::ffff:0:0/96 (::/0, ::/1, ...). Wherever such a key
// exists, allV4 (0.0.0.0/0, key ::ffff:0:0/96) is added too: IPv4 packets then always land
// on an IPv4 key, whose candidates are IPv4 filters and filters without dstAddress only.
var (
	anyDst   = netip.PrefixFrom(netip.IPv6Unspecified(), 0) // filters without dstAddress
	allV4    = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	mappedV4 = netip.MustParsePrefix("::ffff:0:0/96")
)

// keysOf returns the LPM keys a filter destination needs (invalid: no dstAddress).
func keysOf(dst netip.Prefix) []netip.Prefix {
	if !dst.IsValid() {
		dst = anyDst
	}
	if dst.Addr().Is6() && dst.Bits() <= mappedV4.Bits() && dst.Contains(mappedV4.Addr()) {
		return []netip.Prefix{dst, allV4}
	}
	return []netip.Prefix{dst}
}

// covers reports whether the filter destination dst (invalid: no dstAddress, which covers
// everything) applies to packets that land on key k. Families never mix: an IPv6 prefix
// does not apply to IPv4 packets even where it contains their ::ffff: form.
func covers(dst, k netip.Prefix) bool {
	if !dst.IsValid() {
		return true
	}
	return dst.Addr().Is4() == k.Addr().Is4() && dst.Bits() <= k.Bits() && dst.Contains(k.Addr())
}

// fits checks the data plane limits if ms were added after accepted, whose keys have the
// candidate counts in cands: no destination prefix may end up with more than MaxCands
// candidates, and the prefix count stays bounded. It returns the counts that ms changes (new
// keys included), for the caller to merge into cands once the rule is accepted. Counting
// only what ms adds keeps a rule set of MaxRules rules to seconds, not minutes.
func fits(accepted []match, cands map[netip.Prefix]int, ms []match) (map[netip.Prefix]int, error) {
	upd := map[netip.Prefix]int{}
	for _, m := range ms {
		for _, k := range keysOf(m.dst) {
			if _, ok := cands[k]; ok {
				continue
			}
			if _, ok := upd[k]; ok {
				continue
			}
			n := 0
			for _, a := range accepted {
				if covers(a.dst, k) {
					n++
				}
			}
			upd[k] = n
		}
	}
	if n := len(cands) + len(upd); n > dataplane.MaxPrefixes {
		return nil, fmt.Errorf("rule set would need %d destination prefixes; data plane limit is %d", n, dataplane.MaxPrefixes)
	}
	for k, n := range cands {
		upd[k] = n
	}
	for k, n := range upd {
		for _, m := range ms {
			if covers(m.dst, k) {
				n++
			}
		}
		if n > dataplane.MaxCands {
			return nil, fmt.Errorf("destination %s would have %d candidate filters; data plane limit is %d (split the rule or narrow overlapping filters)", k, n, dataplane.MaxCands)
		}
		upd[k] = n
	}
	return upd, nil
}

// build makes one LPM entry per destination prefix listing every covering match in priority
// order. Longest-prefix lookup then finds a list whose first hit is the highest-priority rule,
// because every shorter covering prefix's matches are repeated in it.
func build(accepted []match, keys map[netip.Prefix]int) []dataplane.Entry {
	ks := make([]netip.Prefix, 0, len(keys))
	for k := range keys {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	out := make([]dataplane.Entry, 0, len(ks))
	for _, k := range ks {
		e := dataplane.Entry{Key: dataplane.KeyFrom(k)}
		for _, m := range accepted {
			if covers(m.dst, k) {
				e.Cands.M[e.Cands.N] = m.m
				e.Cands.N++
			}
		}
		out = append(out, e)
	}
	return out
}

// expand validates a rule and expands its filters into match tuples. Whether a rule is
// acceptable at all is mecrule's decision, the same one the MEP makes before it stores the
// rule; expand adds only what depends on this site: the targets of dstInterface.
func expand(r *mp1api.TrafficRule, t Targets) ([]match, error) {
	if err := mp1rule.ValidateTrafficRule(r); err != nil {
		return nil, err
	}
	act := actions[r.Action]
	var target uint8
	switch act {
	case dataplane.ActFwdDecap, dataplane.ActDupDecap, dataplane.ActFwdEncap, dataplane.ActDupEncap:
		// mecrule has checked that a forwarding rule has a first interface of the right kind.
		di := (*r.DstInterface)[0]
		var err error
		if act == dataplane.ActFwdEncap || act == dataplane.ActDupEncap {
			target, err = t.Endpoint(di)
		} else {
			target, err = t.App(di)
		}
		if err != nil {
			return nil, fmt.Errorf("dstInterface: %w", err)
		}
	}
	var out []match
	for i := range r.TrafficFilter {
		ms, err := expandFilter(&r.TrafficFilter[i], act, target)
		if err != nil {
			return nil, fmt.Errorf("trafficFilter[%d]: %w", i, err)
		}
		out = append(out, ms...)
		if len(out) > MaxMatchesPerRule {
			return nil, fmt.Errorf("filters expand to more than %d match tuples", MaxMatchesPerRule)
		}
	}
	return out, nil
}

// expandFilter expands one filter into match tuples: the cartesian product of its lists,
// an empty list being a wildcard. The steps:
//
//  1. parse the address lists (inner destination and source, outer tunnel source and
//     target), the port and protocol lists, and the TEIDs (tag and token);
//  2. set the fields every tuple of the filter shares: action, target, QFI, DSCP, TC;
//  3. refuse a product above MaxMatchesPerRule before building any of it;
//  4. build the product, the first list outermost.
func expandFilter(f *mp1api.TrafficFilter, act, target uint8) ([]match, error) {
	var p parsedFilter
	if err := p.parseAddresses(f); err != nil {
		return nil, err
	}
	if err := p.parsePorts(f); err != nil {
		return nil, err
	}
	if err := p.parseTEIDs(f); err != nil {
		return nil, err
	}
	dims := p.dimensions()
	n := 1
	for _, d := range dims {
		n *= max(d.n, 1)
	}
	if n > MaxMatchesPerRule {
		return nil, fmt.Errorf("filter expands to %d match tuples; limit is %d", n, MaxMatchesPerRule)
	}
	return product(match{m: baseMatch(f, act, target)}, dims), nil
}

// parsedFilter holds the parsed lists of one filter; an empty list is a wildcard.
type parsedFilter struct {
	dsts, srcs, tunSrcs, tunDsts         []netip.Prefix
	sports, dports, tunSports, tunDports []mecrule.PortRange
	protos                               []uint8
	teids                                []uint32
}

// parseAddresses parses the inner (dstAddress, srcAddress) and outer (srcTunnelAddress,
// tgtTunnelAddress) address lists.
func (p *parsedFilter) parseAddresses(f *mp1api.TrafficFilter) error {
	for _, a := range []struct {
		name string
		in   *[]string
		out  *[]netip.Prefix
	}{
		{"dstAddress", f.DstAddress, &p.dsts},
		{"srcAddress", f.SrcAddress, &p.srcs},
		{"srcTunnelAddress", f.SrcTunnelAddress, &p.tunSrcs},
		{"tgtTunnelAddress", f.TgtTunnelAddress, &p.tunDsts},
	} {
		ps, err := prefixes(deref(a.in))
		if err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
		*a.out = ps
	}
	return nil
}

// parsePorts parses the inner and outer (tunnel) port lists and the protocol list.
func (p *parsedFilter) parsePorts(f *mp1api.TrafficFilter) error {
	for _, a := range []struct {
		name string
		in   *[]string
		out  *[]mecrule.PortRange
	}{
		{"srcPort", f.SrcPort, &p.sports},
		{"dstPort", f.DstPort, &p.dports},
		{"srcTunnelPort", f.SrcTunnelPort, &p.tunSports},
		{"dstTunnelPort", f.DstTunnelPort, &p.tunDports},
	} {
		prs, err := list(deref(a.in), mecrule.ParsePort)
		if err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
		*a.out = prs
	}
	protos, err := mecrule.IPProtocols(deref(f.Protocol))
	if err != nil {
		return fmt.Errorf("protocol: %w", err)
	}
	p.protos = protos
	return nil
}

// parseTEIDs parses the tunnel scope by TEID: tag (V3) and token (V2) both carry one, and a
// filter with both matches any of them.
func (p *parsedFilter) parseTEIDs(f *mp1api.TrafficFilter) error {
	teids, err := list(append(slices.Clone(deref(f.Tag)), deref(f.Token)...), mecrule.ParseTEID)
	if err != nil {
		return err
	}
	p.teids = teids
	return nil
}

// dimension is one list of a filter: its length (0: wildcard) and how its i-th value sets a
// match.
type dimension struct {
	n   int
	set func(m *match, i int)
}

// dimensions returns the lists of p in expansion order, the first outermost.
func (p *parsedFilter) dimensions() []dimension {
	return []dimension{
		{len(p.dsts), func(m *match, i int) { m.dst = p.dsts[i] }},
		{len(p.srcs), func(m *match, i int) {
			m.m.Fields |= dataplane.FieldSrc
			m.m.Src = dataplane.PrefixFrom(p.srcs[i])
		}},
		{len(p.tunSrcs), func(m *match, i int) {
			m.m.Fields |= dataplane.FieldTunSrc
			m.m.TunSrc = dataplane.PrefixFrom(p.tunSrcs[i])
		}},
		{len(p.tunDsts), func(m *match, i int) {
			m.m.Fields |= dataplane.FieldTunDst
			m.m.TunDst = dataplane.PrefixFrom(p.tunDsts[i])
		}},
		{len(p.sports), func(m *match, i int) {
			m.m.Fields |= dataplane.FieldSport
			m.m.SportLo, m.m.SportHi = p.sports[i].Lo, p.sports[i].Hi
		}},
		{len(p.dports), func(m *match, i int) {
			m.m.Fields |= dataplane.FieldDport
			m.m.DportLo, m.m.DportHi = p.dports[i].Lo, p.dports[i].Hi
		}},
		{len(p.tunSports), func(m *match, i int) {
			m.m.Fields |= dataplane.FieldTunSport
			m.m.TsportLo, m.m.TsportHi = p.tunSports[i].Lo, p.tunSports[i].Hi
		}},
		{len(p.tunDports), func(m *match, i int) {
			m.m.Fields |= dataplane.FieldTunDport
			m.m.TdportLo, m.m.TdportHi = p.tunDports[i].Lo, p.tunDports[i].Hi
		}},
		{len(p.protos), func(m *match, i int) {
			m.m.Fields |= dataplane.FieldProto
			m.m.Proto = p.protos[i]
		}},
		{len(p.teids), func(m *match, i int) {
			m.m.Fields |= dataplane.FieldTEID
			m.m.Teid = p.teids[i]
		}},
	}
}

// baseMatch returns the fields every tuple of f shares: the action and its target, and the
// QoS and ToS values (qCI is matched against the QFI).
func baseMatch(f *mp1api.TrafficFilter, act, target uint8) dataplane.Match {
	m := dataplane.Match{Action: act, Target: target}
	if f.QCI != nil {
		m.Fields |= dataplane.FieldQFI
		m.Qfi = uint8(*f.QCI)
	}
	if f.DSCP != nil {
		m.Fields |= dataplane.FieldDSCP
		m.Dscp = uint8(*f.DSCP)
	}
	if f.TC != nil {
		m.Fields |= dataplane.FieldTC
		m.Tc = uint8(*f.TC)
	}
	return m
}

// product expands base over dims: every combination of one value per non-wildcard list,
// ordered with the first list outermost.
func product(base match, dims []dimension) []match {
	out := []match{base}
	for _, d := range dims {
		if d.n == 0 {
			continue
		}
		next := make([]match, 0, len(out)*d.n)
		for _, m := range out {
			for i := range d.n {
				c := m
				d.set(&c, i)
				next = append(next, c)
			}
		}
		out = next
	}
	return out
}

// list parses a filter list.
func list[T any](items []string, parse func(string) (T, error)) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, s := range items {
		v, err := parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// prefixes parses an address list; a range or a mask may expand to several prefixes.
func prefixes(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range items {
		ps, err := mecrule.ParseAddress(s)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// deref returns the list p points to (nil for an absent list).
func deref(p *[]string) []string {
	if p == nil {
		return nil
	}
	return *p
}

// slotAlloc hands out per-rule counter slots, keeping the previous assignment.
type slotAlloc struct {
	used map[string]uint32
	free []uint32
}

func newSlotAlloc(prev map[string]uint32, active []AppRule) *slotAlloc {
	a := &slotAlloc{used: map[string]uint32{}}
	want := map[string]bool{}
	for _, r := range active {
		want[r.Key()] = true
	}
	taken := map[uint32]bool{}
	for k, s := range prev {
		if want[k] && s < dataplane.MaxRules && !taken[s] {
			a.used[k] = s
			taken[s] = true
		}
	}
	// Slots of rules leaving the set are handed out last: until the new set is swapped in,
	// the running one still counts into them (and a swap that fails keeps them).
	leaving := map[uint32]bool{}
	for _, s := range prev {
		if !taken[s] {
			leaving[s] = true
		}
	}
	for s := range uint32(dataplane.MaxRules) {
		if leaving[s] {
			a.free = append(a.free, s)
		}
	}
	for s := uint32(dataplane.MaxRules) - 1; ; s-- {
		if !taken[s] && !leaving[s] {
			a.free = append(a.free, s)
		}
		if s == 0 {
			break
		}
	}
	return a
}

func (a *slotAlloc) get(key string) (uint32, bool) {
	if s, ok := a.used[key]; ok {
		return s, true
	}
	if len(a.free) == 0 {
		return 0, false
	}
	s := a.free[len(a.free)-1]
	a.free = a.free[:len(a.free)-1]
	a.used[key] = s
	return s, true
}
