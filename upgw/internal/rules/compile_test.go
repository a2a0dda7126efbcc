package rules

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
)

// fakeTargets resolves app 192.0.2.10 (MAC 02:00:00:00:00:a1) to slot 2 and GTP-U endpoint
// 10.99.0.1 to slot 3.
type fakeTargets struct{}

func (fakeTargets) App(d mp1api.DestinationInterface) (uint8, error) {
	if str(d.DstIpAddress) == "192.0.2.10" || strings.EqualFold(str(d.DstMacAddress), "02:00:00:00:00:a1") {
		return 2, nil
	}
	return 0, fmt.Errorf("%w for %s%s", ErrNoTarget, str(d.DstIpAddress), str(d.DstMacAddress))
}

func (fakeTargets) Endpoint(d mp1api.DestinationInterface) (uint8, error) {
	if str(d.TunnelInfo.TunnelDstAddress) == "10.99.0.1" {
		return 3, nil
	}
	return 0, fmt.Errorf("%w for tunnel %s", ErrNoTarget, str(d.TunnelInfo.TunnelDstAddress))
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func rule(id string, prio int, action mp1api.TrafficRuleAction, fs ...mp1api.TrafficFilter) AppRule {
	r := AppRule{AppInstanceID: "app1", TrafficRule: mp1api.TrafficRule{TrafficRuleId: id, FilterType: mp1api.FLOW, Priority: prio,
		Action: action, State: mp1api.RuleStateACTIVE, TrafficFilter: fs}}
	switch action {
	case mp1api.FORWARDDECAPSULATED, mp1api.DUPLICATEDECAPSULATED:
		r.TrafficRule.DstInterface = &mp1api.DestinationInterfaces{{InterfaceType: mp1api.IP, DstIpAddress: ptr("192.0.2.10")}}
	case mp1api.FORWARDENCAPSULATED, mp1api.DUPLICATEENCAPSULATED:
		r.TrafficRule.DstInterface = &mp1api.DestinationInterfaces{{InterfaceType: mp1api.TUNNEL,
			TunnelInfo: &mp1api.TunnelInfo{TunnelType: mp1api.GTPU, TunnelDstAddress: ptr("10.99.0.1")}}}
	}
	return r
}

// l is a shorthand for a filter list.
func l(xs ...string) *[]string { return &xs }

func ptr[T any](v T) *T { return &v }

// TestDecodeDstInterface: dstInterface is read as one object (V2.1.1) or an array (V2.2.1),
// through AppRule (feed, state file) and DecodeTrafficRule (control API) alike; the result
// is always an array, and empty optional strings read as absent.
func TestDecodeDstInterface(t *testing.T) {
	tests := []struct {
		name string
		js   string // the dstInterface member, "" for none
		want *mp1api.DestinationInterfaces
		err  bool
	}{
		{"v2.1.1 object", `"dstInterface":{"interfaceType":"IP","dstIpAddress":"192.0.2.10"}`,
			&mp1api.DestinationInterfaces{{InterfaceType: mp1api.IP, DstIpAddress: ptr("192.0.2.10")}}, false},
		{"v2.2.1 array", `"dstInterface":[{"interfaceType":"IP","dstIpAddress":"192.0.2.10"},{"interfaceType":"MAC","dstMacAddress":"02:00:00:00:00:a1"}]`,
			&mp1api.DestinationInterfaces{{InterfaceType: mp1api.IP, DstIpAddress: ptr("192.0.2.10")},
				{InterfaceType: mp1api.MAC, DstMacAddress: ptr("02:00:00:00:00:a1")}}, false},
		{"empty strings absent", `"dstInterface":{"interfaceType":"MAC","dstIpAddress":"","dstMacAddress":"02:00:00:00:00:a1","tunnelInfo":{"tunnelType":"GTP_U","tunnelDstAddress":""}}`,
			&mp1api.DestinationInterfaces{{InterfaceType: mp1api.MAC, DstMacAddress: ptr("02:00:00:00:00:a1"),
				TunnelInfo: &mp1api.TunnelInfo{TunnelType: mp1api.GTPU}}}, false},
		{"null", `"dstInterface":null`, nil, false},
		{"absent", ``, nil, false},
		{"string", `"dstInterface":"IP"`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := `{"trafficRuleId":"r1","filterType":"FLOW","priority":1,"action":"DROP","state":"ACTIVE","trafficFilter":[{"dstPort":["80"]}]`
			if tt.js != "" {
				tr += "," + tt.js
			}
			tr += "}"
			var ar AppRule
			aerr := json.Unmarshal([]byte(`{"appInstanceId":"app1","trafficRule":`+tr+`}`), &ar)
			r, err := DecodeTrafficRule([]byte(tr))
			if tt.err {
				if err == nil || aerr == nil {
					t.Fatalf("DecodeTrafficRule: %v, AppRule: %v; want errors from both", err, aerr)
				}
				return
			}
			if err != nil || aerr != nil {
				t.Fatalf("DecodeTrafficRule: %v, AppRule: %v; want no errors", err, aerr)
			}
			assert.Equal(t, tt.want, r.DstInterface, "DecodeTrafficRule dstInterface")
			assert.Equal(t, r, ar.TrafficRule, "AppRule decodes the rule as DecodeTrafficRule does")
			if ar.AppInstanceID != "app1" || r.TrafficRuleId != "r1" || deref(r.TrafficFilter[0].DstPort)[0] != "80" {
				t.Errorf("got %+v; want the other members decoded too", ar)
			}
			// What the UPGW writes (state file) it reads back the same.
			b, err := json.Marshal(ar)
			require.NoError(t, err)
			var back AppRule
			require.NoError(t, json.Unmarshal(b, &back))
			assert.Equal(t, ar, back, "marshal round trip")
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
		{"bad action", rule("r", 1, "BOUNCE", mp1api.TrafficFilter{}), "not a MEC 011 traffic rule action"},
		{"bad filter type", func() AppRule {
			r := rule("r", 1, "DROP", mp1api.TrafficFilter{})
			r.TrafficRule.FilterType = "X"
			return r
		}(), "filterType"},
		{"no filters", rule("r", 1, "DROP"), "/trafficFilter"},
		{"decap without interface", func() AppRule {
			r := rule("r", 1, "FORWARD_DECAPSULATED", mp1api.TrafficFilter{})
			r.TrafficRule.DstInterface = nil
			return r
		}(), "needs a dstInterface"},
		{"unknown app", func() AppRule {
			r := rule("r", 1, "FORWARD_DECAPSULATED", mp1api.TrafficFilter{})
			(*r.TrafficRule.DstInterface)[0].DstIpAddress = ptr("198.51.100.1")
			return r
		}(), "no configured target"},
		{"gre tunnel", func() AppRule {
			r := rule("r", 1, "FORWARD_ENCAPSULATED", mp1api.TrafficFilter{})
			(*r.TrafficRule.DstInterface)[0].TunnelInfo.TunnelType = "GRE"
			return r
		}(), "only GTP_U"},
		{"bad address", rule("r", 1, "DROP", mp1api.TrafficFilter{DstAddress: l("300.1.1.1")}), "dstAddress"},
		{"bad port", rule("r", 1, "DROP", mp1api.TrafficFilter{DstPort: l("http")}), "dstPort"},
		{"ports with icmp", rule("r", 1, "DROP", mp1api.TrafficFilter{Protocol: l("ICMP"), DstPort: l("80")}), "has no ports"},
		{"qci out of range", rule("r", 1, "DROP", mp1api.TrafficFilter{QCI: ptr(64)}), "qCI: 64"},
		{"dscp out of range", rule("r", 1, "DROP", mp1api.TrafficFilter{DSCP: ptr(64)}), "dSCP: 64"},
		{"bad tag", rule("r", 1, "DROP", mp1api.TrafficFilter{Tag: l("x")}), "TEID"},
		{"bad priority", rule("r", -1, "DROP", mp1api.TrafficFilter{}), "priority"},
		{"too many candidates", rule("r", 1, "DROP", mp1api.TrafficFilter{DstAddress: l("192.0.2.10"), DstPort: &many}), "candidate filters"},
		{"expansion too big", rule("r", 1, "DROP", mp1api.TrafficFilter{DstPort: &many, SrcPort: &many}), "match tuples"},
		{"bad state", func() AppRule {
			r := rule("r", 1, "DROP", mp1api.TrafficFilter{})
			r.TrafficRule.State = "ON"
			return r
		}(), "state"},
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
		rule("decap32", 5, "FORWARD_DECAPSULATED", mp1api.TrafficFilter{DstAddress: l("192.0.2.10"), Protocol: l("UDP")}),
		rule("drop16", 1, "DROP", mp1api.TrafficFilter{DstAddress: l("192.0.0.0/16")}),
		rule("pass-any", 3, "PASSTHROUGH", mp1api.TrafficFilter{Tag: l("77")}),
		rule("inactive", 0, "DROP", mp1api.TrafficFilter{}),
		rule("v6", 2, "DROP", mp1api.TrafficFilter{DstAddress: l("2001:db8::/32")}),
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
		rule("pass10", 1, "PASSTHROUGH", mp1api.TrafficFilter{DstAddress: l("10.0.0.0/8")}),
		rule("drop6", 5, "DROP", mp1api.TrafficFilter{DstAddress: l("::/1")}),
		rule("drop6all", 6, "DROP", mp1api.TrafficFilter{DstAddress: l("::/0")}),
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
	if res := Compile([]AppRule{rule("src6", 1, "DROP", mp1api.TrafficFilter{SrcAddress: l("::/0")})}, fakeTargets{}, nil); len(res.Rejected) != 1 ||
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
	a := rule("a", 1, "DROP", mp1api.TrafficFilter{})
	b := rule("b", 2, "DROP", mp1api.TrafficFilter{DstPort: l("1")})
	r1 := Compile([]AppRule{a, b}, fakeTargets{}, nil)
	r2 := Compile([]AppRule{b}, fakeTargets{}, r1.Slots)
	r3 := Compile([]AppRule{rule("c", 0, "DROP", mp1api.TrafficFilter{}), b}, fakeTargets{}, r2.Slots)
	if r1.Slots["app1/b"] != r2.Slots["app1/b"] || r2.Slots["app1/b"] != r3.Slots["app1/b"] {
		t.Errorf("slot of b moved: %d, %d, %d", r1.Slots["app1/b"], r2.Slots["app1/b"], r3.Slots["app1/b"])
	}
	if r3.Slots["app1/c"] == r3.Slots["app1/b"] {
		t.Errorf("c and b share slot %d", r3.Slots["app1/c"])
	}
}

func TestCompileFields(t *testing.T) {
	f := mp1api.TrafficFilter{
		SrcAddress: l("10.60.0.0/16"), DstAddress: l("192.0.2.10"),
		SrcPort: l("1000-2000"), DstPort: l("443"), Protocol: l("TCP"),
		SrcTunnelAddress: l("10.0.0.1"), TgtTunnelAddress: l("10.0.0.2"),
		SrcTunnelPort: l("2152"), DstTunnelPort: l("2152"),
		Token: l("0x1234"), QCI: ptr(9), DSCP: ptr(46), TC: ptr(184),
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
	a := rule("c", 1, "DROP", mp1api.TrafficFilter{DstPort: l("1")})
	a.AppInstanceID = "a/b"
	b := rule("b-c", 2, "DROP", mp1api.TrafficFilter{DstPort: l("2")})
	b.AppInstanceID = "a"
	bad := rule("b/c", 3, "DROP", mp1api.TrafficFilter{DstPort: l("3")})
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
