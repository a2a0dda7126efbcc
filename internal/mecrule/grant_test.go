package mecrule_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/mecrule"
)

func grantRule() mecrule.TrafficRule {
	ip := "10.0.0.1"
	return mecrule.TrafficRule{TrafficRuleId: "r", FilterType: mecrule.FLOW, Priority: 10, Action: mecrule.FORWARDDECAPSULATED,
		State: mecrule.RuleStateACTIVE,
		TrafficFilter: []mecrule.TrafficFilter{
			{DstAddress: strs("10.0.0.0/24"), DstPort: strs("80", "8000-8100"), Protocol: strs("TCP")},
			{DstAddress: strs("192.0.2.0/24"), Protocol: strs("UDP"), Tag: strs("7")},
		},
		DstInterface: &[]mecrule.DestinationInterface{{InterfaceType: mecrule.IP, DstIpAddress: &ip}}}
}

// TestWithinTrafficGrant: ptr is the JSON pointer the GrantError must name ("" = inside).
func TestWithinTrafficGrant(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*mecrule.TrafficRule)
		ptr  string
	}{
		{"unchanged", func(*mecrule.TrafficRule) {}, ""},
		{"state only", func(r *mecrule.TrafficRule) { r.State = mecrule.RuleStateINACTIVE }, ""},
		{"narrower address, port and priority", func(r *mecrule.TrafficRule) {
			r.Priority = 20
			r.TrafficFilter[0].DstAddress, r.TrafficFilter[0].DstPort = strs("10.0.0.128/25"), strs("8080")
		}, ""},
		{"filters swapped", func(r *mecrule.TrafficRule) {
			r.TrafficFilter[0], r.TrafficFilter[1] = r.TrafficFilter[1], r.TrafficFilter[0]
		}, ""},
		{"one filter dropped", func(r *mecrule.TrafficRule) { r.TrafficFilter = r.TrafficFilter[1:] }, ""},
		{"drop own traffic", func(r *mecrule.TrafficRule) { r.Action, r.DstInterface = mecrule.DROP, nil }, ""},
		{"everything everywhere", func(r *mecrule.TrafficRule) {
			r.TrafficFilter[0].DstAddress = strs("0.0.0.0/0", "::/0")
		}, "/trafficFilter/0/dstAddress/0"},
		{"stronger priority", func(r *mecrule.TrafficRule) { r.Priority = 0 }, "/priority"},
		{"address left out", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].DstAddress = nil }, "/trafficFilter/0/dstAddress"},
		{"overlapping destinations", func(r *mecrule.TrafficRule) {
			r.TrafficFilter[0].DstAddress = strs("10.0.0.0/25", "10.0.0.0/26")
		}, "/trafficFilter/0/dstAddress/1"},
		{"wider port", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].DstPort = strs("1-1000") }, "/trafficFilter/0/dstPort/0"},
		{"more ports than granted", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].DstPort = strs("80", "8000", "8001") }, "/trafficFilter/0/dstPort"},
		{"open source narrowed to two", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("10.1.0.1", "10.1.0.2") }, "/trafficFilter/0/srcAddress/1"},
		{"other protocol", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].Protocol = strs("UDP") }, "/trafficFilter/0/protocol/0"},
		{"other TEID", func(r *mecrule.TrafficRule) { r.TrafficFilter[1].Tag = strs("8") }, "/trafficFilter/1/tag"},
		{"extra filter", func(r *mecrule.TrafficRule) {
			r.TrafficFilter = append(r.TrafficFilter, r.TrafficFilter[0])
		}, "/trafficFilter"},
		{"two filters in one granted filter", func(r *mecrule.TrafficRule) {
			r.TrafficFilter[1] = r.TrafficFilter[0]
		}, "/trafficFilter/1/dstAddress/0"},
		{"other destination interface", func(r *mecrule.TrafficRule) {
			ip := "10.9.9.9"
			r.DstInterface = &[]mecrule.DestinationInterface{{InterfaceType: mecrule.IP, DstIpAddress: &ip}}
		}, "/dstInterface/0"},
		{"qCI left out", func(r *mecrule.TrafficRule) {}, ""},
		{"filterType", func(r *mecrule.TrafficRule) { r.FilterType = mecrule.PACKET }, "/filterType"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, r := grantRule(), grantRule()
			tc.mut(&r)
			require.NoError(t, mecrule.ValidateTrafficRule(&r), "the case must be a valid rule")
			err := mecrule.WithinTrafficGrant(&g, &r)
			if tc.ptr == "" {
				require.NoError(t, err)
				return
			}
			var ge *mecrule.GrantError
			require.ErrorAs(t, err, &ge)
			require.ErrorIs(t, err, mecrule.ErrBeyondGrant)
			require.Equal(t, tc.ptr, ge.Pointer, "got %v", err)
		})
	}
}

func TestWithinDNSGrant(t *testing.T) {
	g := mecrule.DNSRule{DnsRuleId: "d", DomainName: "app.example", IpAddressType: mecrule.IPV4, IpAddress: "10.0.0.1", State: mecrule.RuleStateACTIVE}
	ranges := []netip.Prefix{netip.MustParsePrefix("10.10.0.0/16")}
	tests := []struct {
		name, domain, addr, ptr string
	}{
		{"granted", "app.example", "10.0.0.1", ""},
		{"case and dot", "APP.example.", "10.0.0.1", ""},
		{"in the app ranges", "app.example", "10.10.3.4", ""},
		{"other domain", "bank.example", "10.0.0.1", "/domainName"},
		{"outside the ranges", "app.example", "8.8.8.8", "/ipAddress"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := g
			r.DomainName, r.IpAddress = tc.domain, tc.addr
			err := mecrule.WithinDNSGrant(&g, &r, ranges)
			if tc.ptr == "" {
				require.NoError(t, err)
				return
			}
			var ge *mecrule.GrantError
			require.ErrorAs(t, err, &ge)
			require.Equal(t, tc.ptr, ge.Pointer)
		})
	}
}

func TestMatchesLimit(t *testing.T) {
	ports := make([]string, 20)
	for i := range ports {
		ports[i] = fmt.Sprint(1000 + i)
	}
	r := grantRule()
	r.TrafficFilter[0].DstPort, r.TrafficFilter[0].SrcPort = &ports, &ports // 400 tuples
	err := mecrule.ValidateTrafficRule(&r)
	var fe *mecrule.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "/trafficFilter", fe.Pointer)
	require.Equal(t, 2+1, mecrule.Matches(func() *mecrule.TrafficRule { g := grantRule(); return &g }()))
}

// TestFootprint: the sum of rules fits the data plane, or the first limit it exceeds is named.
func TestFootprint(t *testing.T) {
	rule := func(dst ...string) *mecrule.TrafficRule {
		r := mecrule.TrafficRule{TrafficRuleId: "r", FilterType: mecrule.FLOW, Action: mecrule.DROP, State: mecrule.RuleStateACTIVE,
			TrafficFilter: []mecrule.TrafficFilter{{}}}
		if len(dst) > 0 {
			r.TrafficFilter[0].DstAddress = &dst
		}
		return &r
	}
	tests := []struct {
		name  string
		rules []*mecrule.TrafficRule
		err   string
	}{
		{"16 wildcards", repeat(16, func(int) *mecrule.TrafficRule { return rule() }), ""},
		{"17 wildcards", repeat(17, func(int) *mecrule.TrafficRule { return rule() }), "candidate filters"},
		{"16 nested in one /8", repeat(16, func(i int) *mecrule.TrafficRule { return rule(fmt.Sprintf("10.%d.0.0/16", i%2)) }), ""},
		{"17 covering 10.0/16", repeat(17, func(i int) *mecrule.TrafficRule { return rule("10.0.0.0/8") }), "10.0.0.0/8"},
		{"wildcard counts on IPv4 keys", append(repeat(16, func(i int) *mecrule.TrafficRule { return rule("10.0.0.0/8") }), rule()), "candidate filters"},
		{"disjoint destinations", repeat(100, func(i int) *mecrule.TrafficRule { return rule(fmt.Sprintf("10.%d.0.0/16", i)) }), ""},
		{"too many rules", repeat(mecrule.MaxRules+1, func(i int) *mecrule.TrafficRule { return rule(fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)) }), "traffic rules"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f mecrule.Footprint
			for _, r := range tc.rules {
				f.Add(r)
			}
			err := f.Check()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
	require.False(t, errors.Is(nil, mecrule.ErrBeyondGrant))
}

func repeat(n int, f func(int) *mecrule.TrafficRule) []*mecrule.TrafficRule {
	out := make([]*mecrule.TrafficRule, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// An application protocol name does not restrict the IP protocol: an app may name one only
// where its grant does not restrict the protocol either.
func TestProtocolGrant(t *testing.T) {
	rule := func(protos ...string) *mecrule.TrafficRule {
		r := &mecrule.TrafficRule{TrafficRuleId: "r", FilterType: mecrule.FLOW, Priority: 1, Action: mecrule.DROP, State: mecrule.RuleStateACTIVE,
			TrafficFilter: []mecrule.TrafficFilter{{DstAddress: &[]string{"10.0.0.0/24"}}}}
		if protos != nil {
			r.TrafficFilter[0].Protocol = &protos
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		g, r   *mecrule.TrafficRule
		beyond bool
	}{
		{"application protocol within an unrestricted grant", rule(), rule("HTTP"), false},
		{"IP protocol within a grant of an application protocol", rule("HTTP"), rule("TCP"), false},
		{"application protocol beyond a TCP grant", rule("TCP"), rule("HTTP"), true},
		{"TCP within TCP", rule("TCP", "UDP"), rule("6"), false},
		{"UDP beyond TCP", rule("TCP"), rule("UDP"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mecrule.WithinTrafficGrant(tc.g, tc.r)
			if tc.beyond {
				var ge *mecrule.GrantError
				require.ErrorAs(t, err, &ge)
				return
			}
			require.NoError(t, err)
		})
	}
}
