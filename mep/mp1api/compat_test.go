package mp1api_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/mp1api"
)

func TestNormalizeTrafficRuleJSON(t *testing.T) {
	tests := []struct {
		name, in, wantDst string
		err               bool
	}{
		{"object becomes array", `{"dstInterface":{"interfaceType":"IP"}}`, `[{"interfaceType":"IP"}]`, false},
		{"array unchanged", `{"dstInterface":[{"interfaceType":"IP"}]}`, `[{"interfaceType":"IP"}]`, false},
		{"absent", `{"a":1}`, ``, false},
		{"null kept", `{"dstInterface":null}`, `null`, false},
		{"not an object", `[]`, ``, true},
		{"not json", `{`, ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := mp1api.NormalizeTrafficRuleJSON([]byte(tt.in))
			if tt.err {
				require.ErrorIs(t, err, mp1api.ErrNotObject)
				return
			}
			require.NoError(t, err)
			var m map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(out, &m))
			if tt.wantDst == "" {
				require.NotContains(t, m, "dstInterface")
				return
			}
			require.JSONEq(t, tt.wantDst, string(m["dstInterface"]))
		})
	}
}

func TestTrafficRuleUnmarshalJSONBothShapes(t *testing.T) {
	ip := func(s string) *string { return &s }
	tests := []struct {
		name string
		in   string
		want *mp1api.DestinationInterfaces
		err  bool
	}{
		{"V2.1.1 single object", `{"trafficRuleId":"r","dstInterface":{"interfaceType":"IP","dstIpAddress":"10.0.0.1"}}`,
			&mp1api.DestinationInterfaces{{InterfaceType: mp1api.IP, DstIpAddress: ip("10.0.0.1")}}, false},
		{"V2.2.1 array", `{"trafficRuleId":"r","dstInterface":[{"interfaceType":"IP"},{"interfaceType":"TUNNEL"}]}`,
			&mp1api.DestinationInterfaces{{InterfaceType: mp1api.IP}, {InterfaceType: mp1api.TUNNEL}}, false},
		{"empty array", `{"trafficRuleId":"r","dstInterface":[]}`, &mp1api.DestinationInterfaces{}, false},
		{"absent", `{"trafficRuleId":"r"}`, nil, false},
		{"null", `{"trafficRuleId":"r","dstInterface":null}`, nil, false},
		{"string", `{"trafficRuleId":"r","dstInterface":"IP"}`, nil, true},
		{"bad object", `{"trafficRuleId":"r","dstInterface":{"interfaceType":7}}`, nil, true},
		{"not an object", `[]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r mp1api.TrafficRule
			err := json.Unmarshal([]byte(tt.in), &r)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "r", r.TrafficRuleId, "the other fields decode as before")
			require.Equal(t, tt.want, r.DstInterface)
		})
	}
}

func TestTrafficRuleUnmarshalJSONRoundTripsV211(t *testing.T) {
	ip := "192.0.2.7"
	in := mp1api.TrafficRule{TrafficRuleId: "r", Action: mp1api.FORWARDDECAPSULATED, Priority: 3,
		DstInterface: &mp1api.DestinationInterfaces{{InterfaceType: mp1api.IP, DstIpAddress: &ip}}}
	b, err := mp1api.V211TrafficRuleJSON(&in)
	require.NoError(t, err)
	var out mp1api.TrafficRule
	require.NoError(t, json.Unmarshal(b, &out))
	require.Equal(t, in, out)
	var rules []mp1api.TrafficRule
	require.NoError(t, json.Unmarshal([]byte("["+string(b)+"]"), &rules), "a V2.1.1 list decodes too")
	require.Equal(t, []mp1api.TrafficRule{in}, rules)
}
