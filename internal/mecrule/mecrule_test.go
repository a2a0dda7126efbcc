package mecrule_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/mep/mp1api"
)

func strs(s ...string) *[]string { return &s }
func num(n int) *int             { return &n }

// TestValidateTrafficRule: ptr is the JSON pointer the error must name ("" = accepted). The
// cases marked "UPGW refused" were accepted by the MEP before this check was shared, and then
// never applied because the UPGW compiler refused them.
func TestValidateTrafficRule(t *testing.T) {
	valid := func() mp1api.TrafficRule {
		return mp1api.TrafficRule{TrafficRuleId: "r", FilterType: mp1api.FLOW, Priority: 1, Action: mp1api.DROP,
			State: mp1api.RuleStateACTIVE, TrafficFilter: []mp1api.TrafficFilter{{}}}
	}
	ip := func(a string) *mp1api.DestinationInterfaces {
		return &mp1api.DestinationInterfaces{{InterfaceType: mp1api.IP, DstIpAddress: &a}}
	}
	tunnel := func(tt mp1api.TunnelInfoTunnelType) *mp1api.DestinationInterfaces {
		return &mp1api.DestinationInterfaces{{InterfaceType: mp1api.TUNNEL, TunnelInfo: &mp1api.TunnelInfo{TunnelType: tt}}}
	}
	tests := []struct {
		name string
		mut  func(*mp1api.TrafficRule)
		ptr  string
	}{
		{"minimal", func(*mp1api.TrafficRule) {}, ""},
		{"full filter", func(r *mp1api.TrafficRule) {
			r.TrafficFilter[0] = mp1api.TrafficFilter{SrcAddress: strs("10.0.0.1", "10.0.0.0/8", "2001:db8::/32"),
				DstAddress: strs("192.0.2.0 255.255.255.0", "192.0.2.1-192.0.2.6"),
				DstPort:    strs("1", "65535", "10-20", " 30 - 40 "), Protocol: strs("tcp", "UDP", "132"),
				Tag: strs("0xffffffff"), QCI: num(63), DSCP: num(63), TC: num(255)}
		}, ""},
		{"tag and token", func(r *mp1api.TrafficRule) {
			r.TrafficFilter[0].Tag, r.TrafficFilter[0].Token = strs("0xffffffff", "12"), strs("7")
		}, ""},
		{"540 match tuples, UPGW refused", func(r *mp1api.TrafficRule) {
			r.TrafficFilter[0] = mp1api.TrafficFilter{SrcAddress: strs("10.0.0.1", "10.0.0.0/8", "2001:db8::/32"),
				DstAddress: strs("192.0.2.0 255.255.255.0", "192.0.2.1-192.0.2.6"),
				DstPort:    strs("1", "65535", "10-20", " 30 - 40 "), Protocol: strs("tcp", "UDP", "132"),
				Tag: strs("0xffffffff", "12"), Token: strs("7")}
		}, "/trafficFilter"},
		{"MEC 011 example id", func(r *mp1api.TrafficRule) { r.TrafficRuleId = "TrafficRule123" }, ""},
		{"srcAddress ::ffff:0:0/96 is every IPv4 source", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("::ffff:0:0/96") }, ""},
		{"srcAddress ::/0, UPGW refused", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("10.0.0.1", "::/0") }, "/trafficFilter/0/srcAddress/1"},
		{"srcAddress ::/80, UPGW refused", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("::/80") }, "/trafficFilter/0/srcAddress/0"},
		{"srcAddress ::ffff:0:0/95 mixes families", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("::ffff:0:0/95") }, "/trafficFilter/0/srcAddress/0"},
		{"dstAddress ::/0 is fine", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].DstAddress = strs("::/0") }, ""},
		{"qCI 64, UPGW refused", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].QCI = num(64) }, "/trafficFilter/0/qCI"},
		{"protocol ANY, a name the data plane reads as any protocol", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].Protocol = strs("ANY") }, ""},
		{"application protocol with ports", func(r *mp1api.TrafficRule) {
			r.TrafficFilter[0].Protocol, r.TrafficFilter[0].DstPort = strs("HTTP", "QUIC"), strs("443")
		}, ""},
		{"protocol 300, refused", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].Protocol = strs("300") }, "/trafficFilter/0/protocol/0"},
		{"protocol with a space, refused", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].Protocol = strs("not a name") }, "/trafficFilter/0/protocol/0"},
		{"protocol GRE", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].Protocol = strs("GRE") }, ""},
		{"ports with ICMP, UPGW refused", func(r *mp1api.TrafficRule) {
			r.TrafficFilter[0].Protocol, r.TrafficFilter[0].DstPort = strs("TCP", "ICMP"), strs("80")
		}, "/trafficFilter/0/protocol/1"},
		{"token not a TEID, UPGW refused", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].Token = strs("abc") }, "/trafficFilter/0/token/0"},
		{"forward without dstInterface, UPGW refused", func(r *mp1api.TrafficRule) { r.Action = mp1api.FORWARDDECAPSULATED }, "/dstInterface"},
		{"forward decapsulated to IP", func(r *mp1api.TrafficRule) {
			r.Action, r.DstInterface = mp1api.FORWARDDECAPSULATED, ip("10.0.0.9")
		}, ""},
		{"forward decapsulated to a tunnel, UPGW refused", func(r *mp1api.TrafficRule) {
			r.Action, r.DstInterface = mp1api.FORWARDDECAPSULATED, tunnel(mp1api.GTPU)
		}, "/dstInterface/0/interfaceType"},
		{"forward encapsulated to GTP-U", func(r *mp1api.TrafficRule) {
			r.Action, r.DstInterface = mp1api.FORWARDENCAPSULATED, tunnel(mp1api.GTPU)
		}, ""},
		{"forward encapsulated to GRE, UPGW refused", func(r *mp1api.TrafficRule) {
			r.Action, r.DstInterface = mp1api.DUPLICATEENCAPSULATED, tunnel(mp1api.GRE)
		}, "/dstInterface/0/tunnelInfo/tunnelType"},
		{"forward encapsulated to IP, UPGW refused", func(r *mp1api.TrafficRule) {
			r.Action, r.DstInterface = mp1api.FORWARDENCAPSULATED, ip("10.0.0.9")
		}, "/dstInterface/0"},
		{"empty id", func(r *mp1api.TrafficRule) { r.TrafficRuleId = "" }, "/trafficRuleId"},
		{"id dot dot", func(r *mp1api.TrafficRule) { r.TrafficRuleId = ".." }, "/trafficRuleId"},
		{"bad filterType", func(r *mp1api.TrafficRule) { r.FilterType = "X" }, "/filterType"},
		{"missing action", func(r *mp1api.TrafficRule) { r.Action = "" }, "/action"},
		{"missing state", func(r *mp1api.TrafficRule) { r.State = "" }, "/state"},
		{"priority 256", func(r *mp1api.TrafficRule) { r.Priority = 256 }, "/priority"},
		{"no filter", func(r *mp1api.TrafficRule) { r.TrafficFilter = nil }, "/trafficFilter"},
		{"65 filters", func(r *mp1api.TrafficRule) { r.TrafficFilter = make([]mp1api.TrafficFilter, 65) }, "/trafficFilter"},
		{"bad prefix", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].DstAddress = strs("10.0.0.0/33") }, "/trafficFilter/0/dstAddress/0"},
		{"zoned address", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("fe80::1%eth0") }, "/trafficFilter/0/srcAddress/0"},
		{"port 0x10", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].SrcPort = strs("0x10") }, "/trafficFilter/0/srcPort/0"},
		{"port range reversed", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].SrcPort = strs("9-1") }, "/trafficFilter/0/srcPort/0"},
		{"protocol 256", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].Protocol = strs("256") }, "/trafficFilter/0/protocol/0"},
		{"tag too big", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].Tag = strs("4294967296") }, "/trafficFilter/0/tag/0"},
		{"qci negative", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].QCI = num(-1) }, "/trafficFilter/0/qCI"},
		{"dscp 64", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].DSCP = num(64) }, "/trafficFilter/0/dSCP"},
		{"65 addresses", func(r *mp1api.TrafficRule) {
			a := make([]string, 65)
			for i := range a {
				a[i] = "10.0.0.1"
			}
			r.TrafficFilter[0].SrcAddress = &a
		}, "/trafficFilter/0/srcAddress"},
		{"second filter", func(r *mp1api.TrafficRule) {
			r.TrafficFilter = append(r.TrafficFilter, mp1api.TrafficFilter{DstPort: strs("x")})
		}, "/trafficFilter/1/dstPort/0"},
		{"tunnel without type", func(r *mp1api.TrafficRule) { r.DstInterface = tunnel("") }, "/dstInterface/0/tunnelInfo/tunnelType"},
		{"interface without type", func(r *mp1api.TrafficRule) { r.DstInterface = &mp1api.DestinationInterfaces{{}} }, "/dstInterface/0/interfaceType"},
		{"bad dstIpAddress", func(r *mp1api.TrafficRule) { r.DstInterface = ip("10.0.0.300") }, "/dstInterface/0/dstIpAddress"},
		{"three interfaces", func(r *mp1api.TrafficRule) {
			r.DstInterface = &mp1api.DestinationInterfaces{{InterfaceType: mp1api.IP}, {InterfaceType: mp1api.IP}, {InterfaceType: mp1api.IP}}
		}, "/dstInterface"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.mut(&r)
			err := mecrule.ValidateTrafficRule(&r)
			if tt.ptr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, mecrule.ErrInvalid)
			var fe *mecrule.FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.ptr, fe.Pointer, "pointer of %v", err)
		})
	}
}

func TestValidateDNSRule(t *testing.T) {
	valid := func() mp1api.DnsRule {
		return mp1api.DnsRule{DnsRuleId: "d", DomainName: "a.example", IpAddressType: mp1api.IPV4, IpAddress: "10.0.0.1", State: mp1api.RuleStateACTIVE}
	}
	tests := []struct {
		name string
		mut  func(*mp1api.DnsRule)
		ptr  string
	}{
		{"v4", func(*mp1api.DnsRule) {}, ""},
		{"v6", func(r *mp1api.DnsRule) { r.IpAddressType, r.IpAddress = mp1api.IPV6, "2001:db8::1" }, ""},
		{"v4-mapped as v4", func(r *mp1api.DnsRule) { r.IpAddress = "::ffff:10.0.0.1" }, ""},
		{"MEC 011 example id", func(r *mp1api.DnsRule) { r.DnsRuleId = "DnsRule1" }, ""},
		{"max ttl", func(r *mp1api.DnsRule) { r.Ttl = num(604800) }, ""},
		{"ttl too big", func(r *mp1api.DnsRule) { r.Ttl = num(604801) }, "/ttl"},
		{"v6 address typed v4", func(r *mp1api.DnsRule) { r.IpAddress = "2001:db8::1" }, "/ipAddress"},
		{"v4 address typed v6", func(r *mp1api.DnsRule) { r.IpAddressType = mp1api.IPV6 }, "/ipAddress"},
		{"zone in address", func(r *mp1api.DnsRule) { r.IpAddressType, r.IpAddress = mp1api.IPV6, "fe80::1%eth0" }, "/ipAddress"},
		{"no id", func(r *mp1api.DnsRule) { r.DnsRuleId = "" }, "/dnsRuleId"},
		{"id dot", func(r *mp1api.DnsRule) { r.DnsRuleId = "." }, "/dnsRuleId"},
		{"bad domain", func(r *mp1api.DnsRule) { r.DomainName = "a b" }, "/domainName"},
		{"bad type", func(r *mp1api.DnsRule) { r.IpAddressType = "IP_V5" }, "/ipAddressType"},
		{"bad state", func(r *mp1api.DnsRule) { r.State = "ON" }, "/state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.mut(&r)
			err := mecrule.ValidateDNSRule(&r)
			if tt.ptr == "" {
				require.NoError(t, err)
				return
			}
			var fe *mecrule.FieldError
			require.ErrorAs(t, err, &fe)
			require.ErrorIs(t, err, mecrule.ErrInvalid)
			require.Equal(t, tt.ptr, fe.Pointer, "pointer of %v", err)
		})
	}
}

func TestValidDomainName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"example.com", true},
		{"example.com.", true},
		{"*.example.com", true},
		{"a_b.example", true},
		{"x", true},
		{strings.Repeat("a", 63) + ".example", true},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 127) + "a", false}, // 255 bytes
		{"", false},
		{".", false},
		{"a..b", false},
		{"-a.example", false},
		{"a-.example", false},
		{"a.*.example", false},
		{"ex ample.com", false},
		{"exämple.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := mecrule.ValidDomainName(tt.in)
			require.Equal(t, tt.want, got, "ValidDomainName(%q) = %v; want %v", tt.in, got, tt.want)
		})
	}
}

func TestAt(t *testing.T) {
	r := mp1api.TrafficRule{TrafficRuleId: "r", FilterType: mp1api.FLOW, Action: mp1api.DROP, State: mp1api.RuleStateACTIVE,
		TrafficFilter: []mp1api.TrafficFilter{{QCI: num(99)}}}
	err := mecrule.At("/appTrafficRule/2", mecrule.ValidateTrafficRule(&r))
	require.ErrorIs(t, err, mecrule.ErrInvalid)
	require.EqualError(t, err, "/appTrafficRule/2/trafficFilter/0/qCI: 99: want 0-63 (matched against the 6-bit QFI)")
}
