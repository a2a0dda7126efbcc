package rules

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/edgemec/edgemec/upgw/internal/dataplane"
)

// fakeTargets resolves app 192.0.2.10 (MAC 02:00:00:00:00:a1) to slot 2 and GTP-U endpoint
// 10.99.0.1 to slot 3.
type fakeTargets struct{}

func (fakeTargets) App(d DestinationInterface) (uint8, error) {
	if d.DstIPAddress == "192.0.2.10" || strings.EqualFold(d.DstMacAddress, "02:00:00:00:00:a1") {
		return 2, nil
	}
	return 0, fmt.Errorf("%w for %s%s", ErrNoTarget, d.DstIPAddress, d.DstMacAddress)
}

func (fakeTargets) Endpoint(d DestinationInterface) (uint8, error) {
	if d.TunnelInfo.TunnelDstAddress == "10.99.0.1" {
		return 3, nil
	}
	return 0, fmt.Errorf("%w for tunnel %s", ErrNoTarget, d.TunnelInfo.TunnelDstAddress)
}

func rule(id string, prio int, action string, fs ...TrafficFilter) AppRule {
	r := AppRule{AppInstanceID: "app1", TrafficRule: TrafficRule{TrafficRuleID: id, FilterType: "FLOW", Priority: prio,
		Action: action, State: "ACTIVE", TrafficFilter: fs}}
	if action == "FORWARD_DECAPSULATED" || action == "DUPLICATE_DECAPSULATED" {
		r.TrafficRule.DstInterface = DstInterfaces{{InterfaceType: "IP", DstIPAddress: "192.0.2.10"}}
	}
	if action == "FORWARD_ENCAPSULATED" || action == "DUPLICATE_ENCAPSULATED" {
		r.TrafficRule.DstInterface = DstInterfaces{{InterfaceType: "TUNNEL", TunnelInfo: &TunnelInfo{TunnelType: "GTP_U", TunnelDstAddress: "10.99.0.1"}}}
	}
	return r
}

func intp(i int) *int { return &i }

func TestDstInterfaceBothVersions(t *testing.T) {
	for name, js := range map[string]string{
		"v2.1.1 object": `{"interfaceType":"IP","dstIpAddress":"192.0.2.10"}`,
		"v2.2.1 array":  `[{"interfaceType":"IP","dstIpAddress":"192.0.2.10"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			var r TrafficRule
			if err := json.Unmarshal([]byte(`{"dstInterface":`+js+`}`), &r); err != nil {
				t.Fatal(err)
			}
			if len(r.DstInterface) != 1 || r.DstInterface[0].DstIPAddress != "192.0.2.10" {
				t.Errorf("got %+v; want one IP interface 192.0.2.10", r.DstInterface)
			}
		})
	}
}

func TestCompileRejects(t *testing.T) {
	many := make([]string, 17)
	for i := range many {
		many[i] = fmt.Sprint(1000 + i)
	}
	tests := []struct {
		name   string
		r      AppRule
		reason string
	}{
		{"bad action", rule("r", 1, "BOUNCE", TrafficFilter{}), "not a MEC 011 traffic rule action"},
		{"bad filter type", func() AppRule { r := rule("r", 1, "DROP", TrafficFilter{}); r.TrafficRule.FilterType = "X"; return r }(), "filterType"},
		{"no filters", rule("r", 1, "DROP"), "/trafficFilter"},
		{"decap without interface", func() AppRule {
			r := rule("r", 1, "FORWARD_DECAPSULATED", TrafficFilter{})
			r.TrafficRule.DstInterface = nil
			return r
		}(), "needs a dstInterface"},
		{"unknown app", func() AppRule {
			r := rule("r", 1, "FORWARD_DECAPSULATED", TrafficFilter{})
			r.TrafficRule.DstInterface[0].DstIPAddress = "198.51.100.1"
			return r
		}(), "no configured target"},
		{"gre tunnel", func() AppRule {
			r := rule("r", 1, "FORWARD_ENCAPSULATED", TrafficFilter{})
			r.TrafficRule.DstInterface[0].TunnelInfo.TunnelType = "GRE"
			return r
		}(), "only GTP_U"},
		{"bad address", rule("r", 1, "DROP", TrafficFilter{DstAddress: []string{"300.1.1.1"}}), "dstAddress"},
		{"bad port", rule("r", 1, "DROP", TrafficFilter{DstPort: []string{"http"}}), "dstPort"},
		{"ports with icmp", rule("r", 1, "DROP", TrafficFilter{Protocol: []string{"ICMP"}, DstPort: []string{"80"}}), "has no ports"},
		{"qci out of range", rule("r", 1, "DROP", TrafficFilter{QCI: intp(64)}), "qCI: 64"},
		{"dscp out of range", rule("r", 1, "DROP", TrafficFilter{DSCP: intp(64)}), "dSCP: 64"},
		{"bad tag", rule("r", 1, "DROP", TrafficFilter{Tag: []string{"x"}}), "TEID"},
		{"bad priority", rule("r", -1, "DROP", TrafficFilter{}), "priority"},
		{"too many candidates", rule("r", 1, "DROP", TrafficFilter{DstAddress: []string{"192.0.2.10"}, DstPort: many}), "candidate filters"},
		{"expansion too big", rule("r", 1, "DROP", TrafficFilter{DstPort: many, SrcPort: many}), "match tuples"},
		{"bad state", func() AppRule { r := rule("r", 1, "DROP", TrafficFilter{}); r.TrafficRule.State = "ON"; return r }(), "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Compile([]AppRule{tt.r}, fakeTargets{}, nil)
			if len(res.Rejected) != 1 || len(res.Rules) != 0 {
				t.Fatalf("got %d accepted, rejected %+v; want exactly one rejection", len(res.Rules), res.Rejected)
			}
			if !strings.Contains(res.Rejected[0].Reason, tt.reason) {
				t.Errorf("reason %q; want it to mention %q", res.Rejected[0].Reason, tt.reason)
			}
			if len(res.Entries) != 0 {
				t.Errorf("rejected rule left %d entries", len(res.Entries))
			}
		})
	}
}

// TestCompilePriority: the lowest priority value is listed first behind every prefix it
// covers, whatever the prefix lengths and the input order.
func TestCompilePriority(t *testing.T) {
	in := []AppRule{
		rule("decap32", 5, "FORWARD_DECAPSULATED", TrafficFilter{DstAddress: []string{"192.0.2.10"}, Protocol: []string{"UDP"}}),
		rule("drop16", 1, "DROP", TrafficFilter{DstAddress: []string{"192.0.0.0/16"}}),
		rule("pass-any", 3, "PASSTHROUGH", TrafficFilter{Tag: []string{"77"}}),
		rule("inactive", 0, "DROP", TrafficFilter{}),
		rule("v6", 2, "DROP", TrafficFilter{DstAddress: []string{"2001:db8::/32"}}),
	}
	in[3].TrafficRule.State = "INACTIVE"
	res := Compile(in, fakeTargets{}, nil)
	if len(res.Rejected) != 0 || res.Inactive != 1 || len(res.Rules) != 4 {
		t.Fatalf("got %d rules, %d inactive, rejected %v; want 4, 1, none", len(res.Rules), res.Inactive, res.Rejected)
	}
	slot := map[string]uint32{}
	for _, r := range res.Rules {
		slot[r.TrafficRuleID] = r.Slot
	}
	want := map[string][]string{
		"::/0":          {"pass-any"},
		"0.0.0.0/0":     {"pass-any"}, // IPv4 packets land here, not on ::/0
		"192.0.0.0/16":  {"drop16", "pass-any"},
		"192.0.2.10/32": {"drop16", "pass-any", "decap32"},
		"2001:db8::/32": {"v6", "pass-any"},
	}
	if len(res.Entries) != len(want) {
		t.Fatalf("%d entries; want %d", len(res.Entries), len(want))
	}
	for _, e := range res.Entries {
		p := netip.PrefixFrom(dataplane.AddrTo(e.Key.Addr), int(e.Key.Prefixlen))
		if p.Addr().Is4() {
			p = netip.PrefixFrom(p.Addr(), int(e.Key.Prefixlen)-96)
		}
		var got []string
		for i := range e.Cands.N {
			for id, s := range slot {
				if e.Cands.M[i].RuleSlot == s {
					got = append(got, id)
				}
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want[p.String()]) {
			t.Errorf("prefix %s: candidates %v; want %v", p, got, want[p.String()])
		}
	}
}

// TestCompileFamiliesApart: the data plane keeps IPv4 as ::ffff:a.b.c.d, so an IPv6 prefix
// that contains ::ffff:0:0/96 (::/1, or ::/0 written by the user) would catch IPv4 packets
// that no IPv4 key covers. The compiler adds 0.0.0.0/0 with the IPv4 candidates only.
func TestCompileFamiliesApart(t *testing.T) {
	in := []AppRule{
		rule("pass10", 1, "PASSTHROUGH", TrafficFilter{DstAddress: []string{"10.0.0.0/8"}}),
		rule("drop6", 5, "DROP", TrafficFilter{DstAddress: []string{"::/1"}}),
		rule("drop6all", 6, "DROP", TrafficFilter{DstAddress: []string{"::/0"}}),
	}
	res := Compile(in, fakeTargets{}, nil)
	if len(res.Rejected) != 0 || len(res.Rules) != 3 {
		t.Fatalf("got %d rules, rejected %v; want 3, none", len(res.Rules), res.Rejected)
	}
	slot := map[uint32]string{}
	for _, r := range res.Rules {
		slot[r.Slot] = r.TrafficRuleID
	}
	got := map[string][]string{}
	for _, e := range res.Entries {
		p := netip.PrefixFrom(dataplane.AddrTo(e.Key.Addr), int(e.Key.Prefixlen))
		if p.Addr().Is4() {
			p = netip.PrefixFrom(p.Addr(), int(e.Key.Prefixlen)-96)
		}
		ids := []string{}
		for i := range e.Cands.N {
			ids = append(ids, slot[e.Cands.M[i].RuleSlot])
		}
		got[p.String()] = ids
	}
	if res := Compile([]AppRule{rule("src6", 1, "DROP", TrafficFilter{SrcAddress: []string{"::/0"}})}, fakeTargets{}, nil); len(res.Rejected) != 1 ||
		!strings.Contains(res.Rejected[0].Reason, "would also match IPv4 sources") {
		t.Errorf("srcAddress ::/0: rejected %v; want it rejected for matching IPv4 sources", res.Rejected)
	}
	want := map[string][]string{
		"0.0.0.0/0":  {},
		"10.0.0.0/8": {"pass10"},
		"::/1":       {"drop6", "drop6all"},
		"::/0":       {"drop6all"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("entries %v; want %v", got, want)
	}
}

func TestCompileSlotsStable(t *testing.T) {
	a := rule("a", 1, "DROP", TrafficFilter{})
	b := rule("b", 2, "DROP", TrafficFilter{DstPort: []string{"1"}})
	r1 := Compile([]AppRule{a, b}, fakeTargets{}, nil)
	r2 := Compile([]AppRule{b}, fakeTargets{}, r1.Slots)
	r3 := Compile([]AppRule{rule("c", 0, "DROP", TrafficFilter{}), b}, fakeTargets{}, r2.Slots)
	if r1.Slots["app1/b"] != r2.Slots["app1/b"] || r2.Slots["app1/b"] != r3.Slots["app1/b"] {
		t.Errorf("slot of b moved: %d, %d, %d", r1.Slots["app1/b"], r2.Slots["app1/b"], r3.Slots["app1/b"])
	}
	if r3.Slots["app1/c"] == r3.Slots["app1/b"] {
		t.Errorf("c and b share slot %d", r3.Slots["app1/c"])
	}
}

func TestCompileFields(t *testing.T) {
	f := TrafficFilter{
		SrcAddress: []string{"10.60.0.0/16"}, DstAddress: []string{"192.0.2.10"},
		SrcPort: []string{"1000-2000"}, DstPort: []string{"443"}, Protocol: []string{"TCP"},
		SrcTunnelAddress: []string{"10.0.0.1"}, TgtTunnelAddress: []string{"10.0.0.2"},
		SrcTunnelPort: []string{"2152"}, DstTunnelPort: []string{"2152"},
		Token: []string{"0x1234"}, QCI: intp(9), DSCP: intp(46), TC: intp(184),
	}
	res := Compile([]AppRule{rule("all", 1, "DUPLICATE_DECAPSULATED", f)}, fakeTargets{}, nil)
	if len(res.Entries) != 1 || res.Entries[0].Cands.N != 1 {
		t.Fatalf("got %d entries; want 1 with 1 candidate (rejected %v)", len(res.Entries), res.Rejected)
	}
	m := res.Entries[0].Cands.M[0]
	wantFields := dataplane.FieldSrc | dataplane.FieldSport | dataplane.FieldDport | dataplane.FieldProto |
		dataplane.FieldTunSrc | dataplane.FieldTunDst | dataplane.FieldTunSport | dataplane.FieldTunDport |
		dataplane.FieldTEID | dataplane.FieldQFI | dataplane.FieldDSCP | dataplane.FieldTC
	if m.Fields != wantFields {
		t.Errorf("fields %#x; want %#x", m.Fields, wantFields)
	}
	got := fmt.Sprint(m.Action, m.Target, m.SportLo, m.SportHi, m.DportLo, m.DportHi, m.Proto, m.Teid, m.Qfi, m.Dscp, m.Tc,
		dataplane.AddrTo(m.Src.Addr), dataplane.AddrTo(m.TunDst.Addr))
	want := fmt.Sprint(dataplane.ActDupDecap, 2, 1000, 2000, 443, 443, 6, 0x1234, 9, 46, 184, netip.MustParseAddr("10.60.0.0"), netip.MustParseAddr("10.0.0.2"))
	if got != want {
		t.Errorf("match %s; want %s", got, want)
	}
}

// TestCompileKeysUnambiguous: ids that contain the key separator do not collide. Rule ids
// cannot hold it (mecrule refuses them); app instance ids reach the compiler unchecked.
func TestCompileKeysUnambiguous(t *testing.T) {
	a := rule("c", 1, "DROP", TrafficFilter{DstPort: []string{"1"}})
	a.AppInstanceID = "a/b"
	b := rule("b-c", 2, "DROP", TrafficFilter{DstPort: []string{"2"}})
	b.AppInstanceID = "a"
	bad := rule("b/c", 3, "DROP", TrafficFilter{DstPort: []string{"3"}})
	bad.AppInstanceID = "a"
	res := Compile([]AppRule{a, b, bad}, fakeTargets{}, nil)
	if len(res.Rejected) != 1 || res.Rejected[0].TrafficRuleID != "b/c" || len(res.Rules) != 2 {
		t.Fatalf("got %d rules, rejected %v; want a/b c and a b-c accepted, a b/c rejected", len(res.Rules), res.Rejected)
	}
	if res.Rules[0].Slot == res.Rules[1].Slot {
		t.Errorf("both rules got slot %d", res.Rules[0].Slot)
	}
	if RuleKey("a/b", "c") == RuleKey("a", "b/c") {
		t.Errorf("RuleKey(a/b, c) == RuleKey(a, b/c) = %q", RuleKey("a", "b/c"))
	}
}
