package mp1rule_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/internal/mecrule/mp1rule"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// TestRoundTripKeepsJSON converts wire rules to the platform model and back: both forms
// encode to the same bytes, so stored rules and entity tags do not change with the model.
func TestRoundTripKeepsJSON(t *testing.T) {
	for _, tc := range []struct{ name, traffic string }{
		{"forward", `{"trafficRuleId":"r","filterType":"FLOW","priority":3,"action":"FORWARD_DECAPSULATED","state":"ACTIVE",
			"trafficFilter":[{"srcAddress":["10.60.0.0/16"],"dstPort":["80"],"protocol":["TCP"],"qCI":5,"dSCP":1,"tC":2,
			"srcPort":["1"],"dstAddress":["10.0.0.1"],"srcTunnelAddress":["1.1.1.1"],"tgtTunnelAddress":["2.2.2.2"],
			"srcTunnelPort":["2152"],"dstTunnelPort":["2152"],"tag":["7"],"token":["8"]}],
			"dstInterface":[{"interfaceType":"IP","dstIpAddress":"10.0.0.9","dstMacAddress":"02:00:00:00:00:01","srcMacAddress":"02:00:00:00:00:02"}]}`},
		{"tunnel", `{"trafficRuleId":"r","filterType":"PACKET","priority":0,"action":"FORWARD_ENCAPSULATED","state":"INACTIVE",
			"trafficFilter":[{}],"dstInterface":[{"interfaceType":"TUNNEL","tunnelInfo":{"tunnelType":"GTP_U","tunnelDstAddress":"1.2.3.4","tunnelSrcAddress":"5.6.7.8"}}]}`},
		{"V2.1.1 single interface", `{"trafficRuleId":"r","filterType":"FLOW","priority":1,"action":"DROP","state":"ACTIVE",
			"trafficFilter":[{}],"dstInterface":{"interfaceType":"IP"}}`},
		{"no interface", `{"trafficRuleId":"r","filterType":"FLOW","priority":1,"action":"DROP","state":"ACTIVE","trafficFilter":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w mp1api.TrafficRule
			require.NoError(t, json.Unmarshal([]byte(tc.traffic), &w))
			want, err := json.Marshal(&w)
			require.NoError(t, err)
			d := mp1rule.TrafficRule(&w)
			got, err := json.Marshal(&d)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "byte for byte: the MEP's entity tags hash this encoding")
			var fromStore mecrule.TrafficRule
			require.NoError(t, json.Unmarshal(want, &fromStore))
			require.Equal(t, d, fromStore, "the platform form reads the stored wire JSON")
			back := mp1rule.WireTrafficRule(&d)
			require.Equal(t, w, back)
		})
	}
	ttl := 60
	w := mp1api.DnsRule{DnsRuleId: "d", DomainName: "x.example", IpAddress: "10.0.0.1", IpAddressType: mp1api.IPV4, State: mp1api.RuleStateACTIVE, Ttl: &ttl}
	d := mp1rule.DNSRule(&w)
	wb, _ := json.Marshal(&w)
	db, _ := json.Marshal(&d)
	require.Equal(t, string(wb), string(db))
	require.Equal(t, w, mp1rule.WireDNSRule(&d))
	require.Nil(t, mp1rule.WireTrafficRules(nil))
	require.Len(t, mp1rule.DNSRules([]mp1api.DnsRule{w}), 1)
}

// TestValidateIsMecrule checks that the wire check is mecrule's: the same pointer, the
// same verdict.
func TestValidateIsMecrule(t *testing.T) {
	w := mp1api.TrafficRule{TrafficRuleId: "r", FilterType: mp1api.FLOW, Action: mp1api.FORWARDDECAPSULATED, State: mp1api.RuleStateACTIVE,
		TrafficFilter: []mp1api.TrafficFilter{{}}}
	err := mp1rule.ValidateTrafficRule(&w)
	require.ErrorIs(t, err, mecrule.ErrInvalid)
	var fe *mecrule.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "/dstInterface", fe.Pointer)
	require.ErrorIs(t, mp1rule.ValidateDNSRule(&mp1api.DnsRule{DnsRuleId: "d"}), mecrule.ErrInvalid)
}
