package rules

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/edgemec/edgemec/internal/mecrule"
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
	App(DestinationInterface) (uint8, error)
	// Endpoint resolves a TUNNEL (GTP-U) destination interface to an endpoint slot.
	Endpoint(DestinationInterface) (uint8, error)
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

var actions = map[string]uint8{
	"DROP":                   dataplane.ActDrop,
	"FORWARD_DECAPSULATED":   dataplane.ActFwdDecap,
	"FORWARD_ENCAPSULATED":   dataplane.ActFwdEncap,
	"PASSTHROUGH":            dataplane.ActPassthrough,
	"DUPLICATE_DECAPSULATED": dataplane.ActDupDecap,
	"DUPLICATE_ENCAPSULATED": dataplane.ActDupEncap,
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
// compilation, so that a rule keeps its counters across rule-set versions.
func Compile(in []AppRule, t Targets, prev map[string]uint32) Result {
	var res Result
	active := make([]AppRule, 0, len(in))
	seen := map[string]bool{}
	for _, r := range in {
		if r.TrafficRule.State != "ACTIVE" {
			if r.TrafficRule.State != "INACTIVE" {
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
			cmp.Compare(a.TrafficRule.TrafficRuleID, b.TrafficRule.TrafficRuleID))
	})

	slots := newSlotAlloc(prev, active)
	var accepted []match
	cands := map[netip.Prefix]int{} // every LPM key, with its number of candidates
	for _, r := range active {
		ms, err := expand(r.TrafficRule, t)
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
		res.Rules = append(res.Rules, Compiled{AppInstanceID: r.AppInstanceID, TrafficRuleID: r.TrafficRule.TrafficRuleID,
			Priority: r.TrafficRule.Priority, Action: r.TrafficRule.Action, Slot: slot, Matches: len(ms)})
	}
	res.Slots = slots.used
	res.Entries = build(accepted, cands)
	return res
}

func reject(r AppRule, reason string) Rejected {
	return Rejected{AppInstanceID: r.AppInstanceID, TrafficRuleID: r.TrafficRule.TrafficRuleID, Reason: reason}
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
func expand(r TrafficRule, t Targets) ([]match, error) {
	w := r.wire()
	if err := mecrule.ValidateTrafficRule(&w); err != nil {
		return nil, err
	}
	act := actions[r.Action]
	var target uint8
	switch act {
	case dataplane.ActFwdDecap, dataplane.ActDupDecap, dataplane.ActFwdEncap, dataplane.ActDupEncap:
		di := r.DstInterface[0]
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
	for i, f := range r.TrafficFilter {
		ms, err := expandFilter(f, act, target)
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

// list parses a filter list; an empty list is one wildcard (zero value, ok=false).
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

// orAny returns xs, or a single wildcard element when xs is empty.
func orAny[T any](xs []T) []*T {
	if len(xs) == 0 {
		return []*T{nil}
	}
	out := make([]*T, len(xs))
	for i := range xs {
		out[i] = &xs[i]
	}
	return out
}

func expandFilter(f TrafficFilter, act, target uint8) ([]match, error) {
	dsts, err := prefixes(f.DstAddress)
	if err != nil {
		return nil, fmt.Errorf("dstAddress: %w", err)
	}
	srcs, err := prefixes(f.SrcAddress)
	if err != nil {
		return nil, fmt.Errorf("srcAddress: %w", err)
	}
	tsrcs, err := prefixes(f.SrcTunnelAddress)
	if err != nil {
		return nil, fmt.Errorf("srcTunnelAddress: %w", err)
	}
	tdsts, err := prefixes(f.TgtTunnelAddress)
	if err != nil {
		return nil, fmt.Errorf("tgtTunnelAddress: %w", err)
	}
	sports, err := list(f.SrcPort, mecrule.ParsePort)
	if err != nil {
		return nil, fmt.Errorf("srcPort: %w", err)
	}
	dports, err := list(f.DstPort, mecrule.ParsePort)
	if err != nil {
		return nil, fmt.Errorf("dstPort: %w", err)
	}
	tsports, err := list(f.SrcTunnelPort, mecrule.ParsePort)
	if err != nil {
		return nil, fmt.Errorf("srcTunnelPort: %w", err)
	}
	tdports, err := list(f.DstTunnelPort, mecrule.ParsePort)
	if err != nil {
		return nil, fmt.Errorf("dstTunnelPort: %w", err)
	}
	protos, err := list(f.Protocol, mecrule.ParseProtocol)
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	teids, err := list(append(append([]string(nil), f.Tag...), f.Token...), mecrule.ParseTEID)
	if err != nil {
		return nil, err
	}

	var base dataplane.Match
	base.Action = act
	base.Target = target
	if f.QCI != nil { // matched against the QFI
		base.Fields |= dataplane.FieldQFI
		base.Qfi = uint8(*f.QCI)
	}
	if f.DSCP != nil {
		base.Fields |= dataplane.FieldDSCP
		base.Dscp = uint8(*f.DSCP)
	}
	if f.TC != nil {
		base.Fields |= dataplane.FieldTC
		base.Tc = uint8(*f.TC)
	}

	n := max(len(dsts), 1) * max(len(srcs), 1) * max(len(tsrcs), 1) * max(len(tdsts), 1) *
		max(len(sports), 1) * max(len(dports), 1) * max(len(tsports), 1) * max(len(tdports), 1) *
		max(len(protos), 1) * max(len(teids), 1)
	if n > MaxMatchesPerRule {
		return nil, fmt.Errorf("filter expands to %d match tuples; limit is %d", n, MaxMatchesPerRule)
	}
	out := make([]match, 0, n)
	for _, dst := range orAny(dsts) {
		for _, src := range orAny(srcs) {
			for _, ts := range orAny(tsrcs) {
				for _, td := range orAny(tdsts) {
					for _, sp := range orAny(sports) {
						for _, dp := range orAny(dports) {
							for _, tsp := range orAny(tsports) {
								for _, tdp := range orAny(tdports) {
									for _, pr := range orAny(protos) {
										for _, te := range orAny(teids) {
											m := base
											var d netip.Prefix
											if dst != nil {
												d = *dst
											}
											if src != nil {
												m.Fields |= dataplane.FieldSrc
												m.Src = dataplane.PrefixFrom(*src)
											}
											if ts != nil {
												m.Fields |= dataplane.FieldTunSrc
												m.TunSrc = dataplane.PrefixFrom(*ts)
											}
											if td != nil {
												m.Fields |= dataplane.FieldTunDst
												m.TunDst = dataplane.PrefixFrom(*td)
											}
											if sp != nil {
												m.Fields |= dataplane.FieldSport
												m.SportLo, m.SportHi = sp.Lo, sp.Hi
											}
											if dp != nil {
												m.Fields |= dataplane.FieldDport
												m.DportLo, m.DportHi = dp.Lo, dp.Hi
											}
											if tsp != nil {
												m.Fields |= dataplane.FieldTunSport
												m.TsportLo, m.TsportHi = tsp.Lo, tsp.Hi
											}
											if tdp != nil {
												m.Fields |= dataplane.FieldTunDport
												m.TdportLo, m.TdportHi = tdp.Lo, tdp.Hi
											}
											if pr != nil {
												m.Fields |= dataplane.FieldProto
												m.Proto = *pr
											}
											if te != nil {
												m.Fields |= dataplane.FieldTEID
												m.Teid = *te
											}
											out = append(out, match{dst: d, m: m})
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return out, nil
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
	for s := uint32(dataplane.MaxRules) - 1; ; s-- {
		if !taken[s] {
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
