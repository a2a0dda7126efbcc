package mecrule_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/mecrule"
)

func strs(s ...string) *[]string { return &s }
func num(n int) *int             { return &n }

// TestValidateTrafficRule: ptr is the JSON pointer the error must name ("" = accepted). The
// cases marked "UPGW refused" were accepted by the MEP before this check was shared, and then
// never applied because the UPGW compiler refused them.
func TestValidateTrafficRule(t *testing.T) {
	valid := func() mecrule.TrafficRule {
		return mecrule.TrafficRule{TrafficRuleId: "r", FilterType: mecrule.FLOW, Priority: 1, Action: mecrule.DROP,
			State: mecrule.RuleStateACTIVE, TrafficFilter: []mecrule.TrafficFilter{{}}}
	}
	ip := func(a string) *[]mecrule.DestinationInterface {
		return &[]mecrule.DestinationInterface{{InterfaceType: mecrule.IP, DstIpAddress: &a}}
	}
	tunnel := func(tt mecrule.TunnelType) *[]mecrule.DestinationInterface {
		return &[]mecrule.DestinationInterface{{InterfaceType: mecrule.TUNNEL, TunnelInfo: &mecrule.TunnelInfo{TunnelType: tt}}}
	}
	tests := []struct {
		name string
		mut  func(*mecrule.TrafficRule)
		ptr  string
	}{
		{"minimal", func(*mecrule.TrafficRule) {}, ""},
		{"full filter", func(r *mecrule.TrafficRule) {
			r.TrafficFilter[0] = mecrule.TrafficFilter{SrcAddress: strs("10.0.0.1", "10.0.0.0/8", "2001:db8::/32"),
				DstAddress: strs("192.0.2.0 255.255.255.0", "192.0.2.1-192.0.2.6"),
				DstPort:    strs("1", "65535", "10-20", " 30 - 40 "), Protocol: strs("tcp", "UDP", "132"),
				Tag: strs("0xffffffff"), QCI: num(63), DSCP: num(63), TC: num(255)}
		}, ""},
		{"tag and token", func(r *mecrule.TrafficRule) {
			r.TrafficFilter[0].Tag, r.TrafficFilter[0].Token = strs("0xffffffff", "12"), strs("7")
		}, ""},
		{"540 match tuples, UPGW refused", func(r *mecrule.TrafficRule) {
			r.TrafficFilter[0] = mecrule.TrafficFilter{SrcAddress: strs("10.0.0.1", "10.0.0.0/8", "2001:db8::/32"),
				DstAddress: strs("192.0.2.0 255.255.255.0", "192.0.2.1-192.0.2.6"),
				DstPort:    strs("1", "65535", "10-20", " 30 - 40 "), Protocol: strs("tcp", "UDP", "132"),
				Tag: strs("0xffffffff", "12"), Token: strs("7")}
		}, "/trafficFilter"},
		{"MEC 011 example id", func(r *mecrule.TrafficRule) { r.TrafficRuleId = "TrafficRule123" }, ""},
		{"srcAddress ::ffff:0:0/96 is every IPv4 source", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("::ffff:0:0/96") }, ""},
		{"srcAddress ::/0, UPGW refused", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("10.0.0.1", "::/0") }, "/trafficFilter/0/srcAddress/1"},
		{"srcAddress ::/80, UPGW refused", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("::/80") }, "/trafficFilter/0/srcAddress/0"},
		{"srcAddress ::ffff:0:0/95 mixes families", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("::ffff:0:0/95") }, "/trafficFilter/0/srcAddress/0"},
		{"dstAddress ::/0 is fine", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].DstAddress = strs("::/0") }, ""},
		{"qCI 64, UPGW refused", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].QCI = num(64) }, "/trafficFilter/0/qCI"},
		{"protocol ANY, a name the data plane reads as any protocol", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].Protocol = strs("ANY") }, ""},
		{"application protocol with ports", func(r *mecrule.TrafficRule) {
			r.TrafficFilter[0].Protocol, r.TrafficFilter[0].DstPort = strs("HTTP", "QUIC"), strs("443")
		}, ""},
		{"protocol 300, refused", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].Protocol = strs("300") }, "/trafficFilter/0/protocol/0"},
		{"protocol with a space, refused", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].Protocol = strs("not a name") }, "/trafficFilter/0/protocol/0"},
		{"protocol GRE", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].Protocol = strs("GRE") }, ""},
		{"ports with ICMP, UPGW refused", func(r *mecrule.TrafficRule) {
			r.TrafficFilter[0].Protocol, r.TrafficFilter[0].DstPort = strs("TCP", "ICMP"), strs("80")
		}, "/trafficFilter/0/protocol/1"},
		{"token not a TEID, UPGW refused", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].Token = strs("abc") }, "/trafficFilter/0/token/0"},
		{"forward without dstInterface, UPGW refused", func(r *mecrule.TrafficRule) { r.Action = mecrule.FORWARDDECAPSULATED }, "/dstInterface"},
		{"forward decapsulated to IP", func(r *mecrule.TrafficRule) {
			r.Action, r.DstInterface = mecrule.FORWARDDECAPSULATED, ip("10.0.0.9")
		}, ""},
		{"forward decapsulated to a tunnel, UPGW refused", func(r *mecrule.TrafficRule) {
			r.Action, r.DstInterface = mecrule.FORWARDDECAPSULATED, tunnel(mecrule.GTPU)
		}, "/dstInterface/0/interfaceType"},
		{"forward encapsulated to GTP-U", func(r *mecrule.TrafficRule) {
			r.Action, r.DstInterface = mecrule.FORWARDENCAPSULATED, tunnel(mecrule.GTPU)
		}, ""},
		{"forward encapsulated to GRE, UPGW refused", func(r *mecrule.TrafficRule) {
			r.Action, r.DstInterface = mecrule.DUPLICATEENCAPSULATED, tunnel(mecrule.GRE)
		}, "/dstInterface/0/tunnelInfo/tunnelType"},
		{"forward encapsulated to IP, UPGW refused", func(r *mecrule.TrafficRule) {
			r.Action, r.DstInterface = mecrule.FORWARDENCAPSULATED, ip("10.0.0.9")
		}, "/dstInterface/0"},
		{"empty id", func(r *mecrule.TrafficRule) { r.TrafficRuleId = "" }, "/trafficRuleId"},
		{"id dot dot", func(r *mecrule.TrafficRule) { r.TrafficRuleId = ".." }, "/trafficRuleId"},
		{"bad filterType", func(r *mecrule.TrafficRule) { r.FilterType = "X" }, "/filterType"},
		{"missing action", func(r *mecrule.TrafficRule) { r.Action = "" }, "/action"},
		{"missing state", func(r *mecrule.TrafficRule) { r.State = "" }, "/state"},
		{"priority 256", func(r *mecrule.TrafficRule) { r.Priority = 256 }, "/priority"},
		{"no filter", func(r *mecrule.TrafficRule) { r.TrafficFilter = nil }, "/trafficFilter"},
		{"65 filters", func(r *mecrule.TrafficRule) { r.TrafficFilter = make([]mecrule.TrafficFilter, 65) }, "/trafficFilter"},
		{"bad prefix", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].DstAddress = strs("10.0.0.0/33") }, "/trafficFilter/0/dstAddress/0"},
		{"zoned address", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("fe80::1%eth0") }, "/trafficFilter/0/srcAddress/0"},
		{"port 0x10", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].SrcPort = strs("0x10") }, "/trafficFilter/0/srcPort/0"},
		{"port range reversed", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].SrcPort = strs("9-1") }, "/trafficFilter/0/srcPort/0"},
		{"protocol 256", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].Protocol = strs("256") }, "/trafficFilter/0/protocol/0"},
		{"tag too big", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].Tag = strs("4294967296") }, "/trafficFilter/0/tag/0"},
		{"qci negative", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].QCI = num(-1) }, "/trafficFilter/0/qCI"},
		{"dscp 64", func(r *mecrule.TrafficRule) { r.TrafficFilter[0].DSCP = num(64) }, "/trafficFilter/0/dSCP"},
		{"65 addresses", func(r *mecrule.TrafficRule) {
			a := make([]string, 65)
			for i := range a {
				a[i] = "10.0.0.1"
			}
			r.TrafficFilter[0].SrcAddress = &a
		}, "/trafficFilter/0/srcAddress"},
		{"second filter", func(r *mecrule.TrafficRule) {
			r.TrafficFilter = append(r.TrafficFilter, mecrule.TrafficFilter{DstPort: strs("x")})
		}, "/trafficFilter/1/dstPort/0"},
		{"tunnel without type", func(r *mecrule.TrafficRule) { r.DstInterface = tunnel("") }, "/dstInterface/0/tunnelInfo/tunnelType"},
		{"interface without type", func(r *mecrule.TrafficRule) { r.DstInterface = &[]mecrule.DestinationInterface{{}} }, "/dstInterface/0/interfaceType"},
		{"bad dstIpAddress", func(r *mecrule.TrafficRule) { r.DstInterface = ip("10.0.0.300") }, "/dstInterface/0/dstIpAddress"},
		{"three interfaces", func(r *mecrule.TrafficRule) {
			r.DstInterface = &[]mecrule.DestinationInterface{{InterfaceType: mecrule.IP}, {InterfaceType: mecrule.IP}, {InterfaceType: mecrule.IP}}
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
	valid := func() mecrule.DNSRule {
		return mecrule.DNSRule{DnsRuleId: "d", DomainName: "a.example", IpAddressType: mecrule.IPV4, IpAddress: "10.0.0.1", State: mecrule.RuleStateACTIVE}
	}
	tests := []struct {
		name string
		mut  func(*mecrule.DNSRule)
		ptr  string
	}{
		{"v4", func(*mecrule.DNSRule) {}, ""},
		{"v6", func(r *mecrule.DNSRule) { r.IpAddressType, r.IpAddress = mecrule.IPV6, "2001:db8::1" }, ""},
		{"v4-mapped as v4", func(r *mecrule.DNSRule) { r.IpAddress = "::ffff:10.0.0.1" }, ""},
		{"MEC 011 example id", func(r *mecrule.DNSRule) { r.DnsRuleId = "DnsRule1" }, ""},
		{"max ttl", func(r *mecrule.DNSRule) { r.Ttl = num(604800) }, ""},
		{"ttl too big", func(r *mecrule.DNSRule) { r.Ttl = num(604801) }, "/ttl"},
		{"v6 address typed v4", func(r *mecrule.DNSRule) { r.IpAddress = "2001:db8::1" }, "/ipAddress"},
		{"v4 address typed v6", func(r *mecrule.DNSRule) { r.IpAddressType = mecrule.IPV6 }, "/ipAddress"},
		{"zone in address", func(r *mecrule.DNSRule) { r.IpAddressType, r.IpAddress = mecrule.IPV6, "fe80::1%eth0" }, "/ipAddress"},
		{"no id", func(r *mecrule.DNSRule) { r.DnsRuleId = "" }, "/dnsRuleId"},
		{"id dot", func(r *mecrule.DNSRule) { r.DnsRuleId = "." }, "/dnsRuleId"},
		{"bad domain", func(r *mecrule.DNSRule) { r.DomainName = "a b" }, "/domainName"},
		{"bad type", func(r *mecrule.DNSRule) { r.IpAddressType = "IP_V5" }, "/ipAddressType"},
		{"bad state", func(r *mecrule.DNSRule) { r.State = "ON" }, "/state"},
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
	r := mecrule.TrafficRule{TrafficRuleId: "r", FilterType: mecrule.FLOW, Action: mecrule.DROP, State: mecrule.RuleStateACTIVE,
		TrafficFilter: []mecrule.TrafficFilter{{QCI: num(99)}}}
	err := mecrule.At("/appTrafficRule/2", mecrule.ValidateTrafficRule(&r))
	require.ErrorIs(t, err, mecrule.ErrInvalid)
	require.EqualError(t, err, "/appTrafficRule/2/trafficFilter/0/qCI: 99: want 0-63 (matched against the 6-bit QFI)")
}
