package wire_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/internal/httpapi/wire"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// jsonOf marshals v for comparisons.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestAppInstanceKeepsJSON converts an Mm5 app instance with every member set to the domain
// and back: the domain form encodes as the wire form (stored documents keep their shape)
// and nothing is lost on the way out.
func TestAppInstanceKeepsJSON(t *testing.T) {
	const in = `{"appDId":"d","appName":"a","appProvider":"p","appInstanceName":"n","mecVersion":["3.1.1"],
		"appServiceRequired":[{"serName":"s","version":"1","requestedPermissions":["x"],"serCategory":{"href":"h","id":"c","name":"n","version":"1"}}],
		"appServiceOptional":[],
		"appServiceProduced":[{"serName":"p","version":"2","serCategory":{"href":"h","id":"c","name":"n","version":"1"},"transportsSupported":[{"k":"v"}]}],
		"appTrafficRule":[{"trafficRuleId":"r","filterType":"FLOW","priority":1,"action":"DROP","state":"ACTIVE","trafficFilter":[{"dstPort":["80"]}]}],
		"appDNSRule":[{"dnsRuleId":"d1","domainName":"x.example","ipAddressType":"IP_V4","ipAddress":"10.0.0.1","state":"ACTIVE","ttl":5}],
		"dnsRuleClientSubnets":{"d1":["10.0.0.0/8"]}}`
	var w mm5api.AppInstance
	require.NoError(t, json.Unmarshal([]byte(in), &w))
	d := wire.AppInstance(&w)
	require.JSONEq(t, jsonOf(t, w), jsonOf(t, d))

	now := time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC)
	rec := platform.AppRecord{AppInstance: d, AppInstanceId: "app1", CreatedAt: now, Mp1Root: "http://mep", State: platform.AppReady, TerminationDeadline: &now}
	got := wire.AppInstanceRecord(&rec)
	want := mm5api.AppInstanceRecord{AppDId: w.AppDId, AppDNSRule: w.AppDNSRule, AppInstanceId: "app1", AppInstanceName: w.AppInstanceName,
		AppName: w.AppName, AppProvider: w.AppProvider, AppServiceOptional: w.AppServiceOptional, AppServiceProduced: w.AppServiceProduced,
		AppServiceRequired: w.AppServiceRequired, AppTrafficRule: w.AppTrafficRule, CreatedAt: now, DnsRuleClientSubnets: w.DnsRuleClientSubnets,
		MecVersion: w.MecVersion, Mp1Root: "http://mep", State: mm5api.READY, TerminationDeadline: &now}
	require.JSONEq(t, jsonOf(t, want), jsonOf(t, got))
}

// TestAppInfoKeepsJSON does the same for an Mp1 registration, both ways.
func TestAppInfoKeepsJSON(t *testing.T) {
	const in = `{"appName":"a","appInstanceId":"app1","appDId":"d","appProvider":"p","isInsByMec":true,"appProfile":{"x":1},
		"appCategory":{"href":"h","id":"c","name":"n","version":"1"},
		"appFeatureRequired":[{"featureName":"f","version":"1"}],"appFeatureOptional":[],
		"appServiceRequired":[{"serName":"s","version":"1"}],
		"endpoint":{"addresses":[{"host":"h","port":80}]}}`
	var w mp1api.AppInfo
	require.NoError(t, json.Unmarshal([]byte(in), &w))
	d := wire.AppInfo(&w)
	require.JSONEq(t, jsonOf(t, w), jsonOf(t, d))
	require.JSONEq(t, jsonOf(t, w), jsonOf(t, wire.WireAppInfo(&d)))
	require.Nil(t, wire.EndPointInfo(nil))
	require.Nil(t, wire.WireCategoryRef(nil))
}
