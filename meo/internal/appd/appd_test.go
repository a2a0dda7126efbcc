package appd_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/edgemec/edgemec/meo/internal/appd"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

func sample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/mecapp.yaml")
	require.NoError(t, err)
	return b
}

// sampleMap is the sample AppD as generic JSON values, for cases to mutate.
func sampleMap(t *testing.T) map[string]any {
	t.Helper()
	js, err := yaml.YAMLToJSON(sample(t))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(js, &m))
	return m
}

func rule(m map[string]any, list string) map[string]any {
	return m[list].([]any)[0].(map[string]any)
}

func TestParseSample(t *testing.T) {
	a, err := appd.Parse(sample(t))
	require.NoError(t, err)
	assert.Equal(t, "mecapp", a.AppDID)
	assert.Equal(t, []string{"2.2.1"}, a.MECVersion)
	require.Len(t, a.SwImageDescriptor, 1)
	assert.Equal(t, "local/mecapp:dev", a.SwImageDescriptor[0].SwImage)
	require.Len(t, a.AppTrafficRule, 1)
	assert.Equal(t, mp1api.FORWARDDECAPSULATED, a.AppTrafficRule[0].Action)
	assert.Equal(t, 1, a.AppTrafficRule[0].Priority)
	assert.Equal(t, mp1api.RuleState(""), a.AppTrafficRule[0].State, "the AppD keeps what it says")
	require.Len(t, a.AppDNSRule, 1)
	assert.Equal(t, 30, *a.AppDNSRule[0].Ttl)

	// The same AppD as JSON parses to the same model, and the model survives a round trip.
	js, err := json.Marshal(sampleMap(t))
	require.NoError(t, err)
	b, err := appd.Parse(js)
	require.NoError(t, err)
	assert.Equal(t, a, b, "JSON and YAML forms differ")
	out, err := json.Marshal(a)
	require.NoError(t, err)
	c, err := appd.Parse(out)
	require.NoError(t, err)
	assert.Equal(t, a, c, "round trip differs")
}

func TestParseAcceptsVersionForms(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(m map[string]any)
		check func(t *testing.T, a *appd.AppD)
	}{
		{"swImageDescriptor list", func(m map[string]any) { m["swImageDescriptor"] = []any{m["swImageDescriptor"]} },
			func(t *testing.T, a *appd.AppD) { assert.Len(t, a.SwImageDescriptor, 1) }},
		{"mecVersion string", func(m map[string]any) { m["mecVersion"] = "3.1.1" },
			func(t *testing.T, a *appd.AppD) { assert.Equal(t, []string{"3.1.1"}, a.MECVersion) }},
		{"dstInterface object (V2.1.1)", func(m map[string]any) {
			rule(m, "appTrafficRule")["dstInterface"] = map[string]any{"interfaceType": "IP", "dstIpAddress": "10.0.0.1"}
		}, func(t *testing.T, a *appd.AppD) {
			require.NotNil(t, a.AppTrafficRule[0].DstInterface)
			assert.Len(t, *a.AppTrafficRule[0].DstInterface, 1)
		}},
		{"macRecommended typo", func(m map[string]any) {
			m["terminateAppInstanceOpConfig"] = map[string]any{"minGracefulTerminationTimeout": 5, "macRecommendedGracefulTerminationTimeout": 30}
		}, func(t *testing.T, a *appd.AppD) {
			assert.Equal(t, uint32(30), *a.TerminateAppInstanceOpConfig.MaxRecommendedGracefulTerminationTimeout)
		}},
		{"vendor extension", func(m map[string]any) { m["x-vendor"] = map[string]any{"a": 1} },
			func(t *testing.T, a *appd.AppD) { assert.Equal(t, "mecapp", a.AppDID) }},
		{"no optional lists", func(m map[string]any) {
			for _, k := range []string{"appTrafficRule", "appDNSRule", "appServiceProduced", "appExtCpd", "swImageDescriptor", "virtualComputeDescriptor"} {
				delete(m, k)
			}
		}, func(t *testing.T, a *appd.AppD) {
			inst := a.AppInstance("")
			assert.Nil(t, inst.AppTrafficRule)
			assert.Equal(t, appd.KindContainer, a.Workload().Kind)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleMap(t)
			tc.edit(m)
			b, err := json.Marshal(m)
			require.NoError(t, err)
			a, err := appd.Parse(b)
			require.NoError(t, err)
			tc.check(t, a)
		})
	}
}

func TestParseFieldErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		ptr  string // the JSON pointer the error must name
		msg  string // a part of its message
	}{
		{"appDId missing", func(m map[string]any) { delete(m, "appDId") }, "/appDId", "is required"},
		{"appDId not a DNS label", func(m map[string]any) { m["appDId"] = "MecApp_1" }, "/appDId", "DNS label"},
		{"appDId too long", func(m map[string]any) { m["appDId"] = strings.Repeat("a", 64) }, "/appDId", "longer than 63"},
		{"appName missing", func(m map[string]any) { delete(m, "appName") }, "/appName", "is required"},
		{"appProvider empty", func(m map[string]any) { m["appProvider"] = "" }, "/appProvider", "is required"},
		{"appSoftVersion a number", func(m map[string]any) { m["appSoftVersion"] = 1.0 }, "/appSoftVersion", "must be a string"},
		{"appDVersion missing", func(m map[string]any) { delete(m, "appDVersion") }, "/appDVersion", "is required"},
		{"mecVersion missing", func(m map[string]any) { delete(m, "mecVersion") }, "/mecVersion", "is required"},
		{"mecVersion empty list", func(m map[string]any) { m["mecVersion"] = []any{} }, "/mecVersion", "is required"},
		{"mecVersion empty entry", func(m map[string]any) { m["mecVersion"] = []any{"2.2.1", ""} }, "/mecVersion/1", "is required"},
		{"appDescription too long", func(m map[string]any) { m["appDescription"] = strings.Repeat("x", 20000) }, "/appDescription", "longer"},
		{"unknown member", func(m map[string]any) { m["appTraficRule"] = []any{} }, "/appTraficRule", "not a member of AppD"},
		{"unknown nested member", func(m map[string]any) { rule(m, "appTrafficRule")["prio"] = 1 }, "/appTrafficRule/0/prio", "not a member of TrafficRule"},
		{"containerFormat enum", func(m map[string]any) { m["swImageDescriptor"].(map[string]any)["containerFormat"] = "ZIP" }, "/swImageDescriptor/0/containerFormat", "not a valid value"},
		{"diskFormat enum", func(m map[string]any) { m["swImageDescriptor"].(map[string]any)["diskFormat"] = "floppy" }, "/swImageDescriptor/0/diskFormat", "not a valid value"},
		{"swImageDescriptor a string", func(m map[string]any) { m["swImageDescriptor"] = "img" }, "/swImageDescriptor", "must be a list"},
		{"numVirtualCpu negative", func(m map[string]any) {
			m["virtualComputeDescriptor"].(map[string]any)["virtualCpu"].(map[string]any)["numVirtualCpu"] = -1
		}, "/virtualComputeDescriptor/virtualCpu/numVirtualCpu", "non-negative"},
		{"virtualMemSize missing", func(m map[string]any) {
			m["virtualComputeDescriptor"].(map[string]any)["virtualMemory"] = map[string]any{}
		}, "/virtualComputeDescriptor/virtualMemory/virtualMemSize", "is required"},
		{"traffic rule action enum", func(m map[string]any) { rule(m, "appTrafficRule")["action"] = "STEAL" }, "/appTrafficRule/0/action", "not a valid value"},
		{"traffic rule filterType enum", func(m map[string]any) { rule(m, "appTrafficRule")["filterType"] = "flow" }, "/appTrafficRule/0/filterType", "not a valid value"},
		{"traffic rule null", func(m map[string]any) { m["appTrafficRule"] = []any{nil} }, "/appTrafficRule/0", "must not be null"},
		{"traffic rule action empty", func(m map[string]any) { rule(m, "appTrafficRule")["action"] = "" }, "/appTrafficRule/0/action", "is required"},
		{"traffic rule priority missing", func(m map[string]any) { delete(rule(m, "appTrafficRule"), "priority") }, "/appTrafficRule/0/priority", "is required"},
		{"traffic rule priority a string", func(m map[string]any) { rule(m, "appTrafficRule")["priority"] = "1" }, "/appTrafficRule/0/priority", "must be an integer"},
		{"traffic rule priority fractional", func(m map[string]any) { rule(m, "appTrafficRule")["priority"] = 1.5 }, "/appTrafficRule/0/priority", "not an integer"},
		{"traffic filter a map", func(m map[string]any) { rule(m, "appTrafficRule")["trafficFilter"] = map[string]any{} }, "/appTrafficRule/0/trafficFilter", "must be a list"},
		{"traffic filter port a number", func(m map[string]any) {
			rule(m, "appTrafficRule")["trafficFilter"] = []any{map[string]any{"dstPort": []any{8080}}}
		}, "/appTrafficRule/0/trafficFilter/0/dstPort/0", "must be a string"},
		{"dstInterface type enum", func(m map[string]any) {
			rule(m, "appTrafficRule")["dstInterface"] = []any{map[string]any{"interfaceType": "WIFI"}}
		}, "/appTrafficRule/0/dstInterface/0/interfaceType", "not a valid value"},
		{"traffic rule state enum", func(m map[string]any) { rule(m, "appTrafficRule")["state"] = "ON" }, "/appTrafficRule/0/state", "not a valid value"},
		{"dns rule ipAddressType enum", func(m map[string]any) { rule(m, "appDNSRule")["ipAddressType"] = "IPV4" }, "/appDNSRule/0/ipAddressType", "not a valid value"},
		{"dns rule domainName missing", func(m map[string]any) { delete(rule(m, "appDNSRule"), "domainName") }, "/appDNSRule/0/domainName", "is required"},
		{"dns rule ttl a string", func(m map[string]any) { rule(m, "appDNSRule")["ttl"] = "30" }, "/appDNSRule/0/ttl", "must be an integer"},
		{"produced service serName missing", func(m map[string]any) { delete(rule(m, "appServiceProduced"), "serName") }, "/appServiceProduced/0/serName", "is required"},
		{"required service version missing", func(m map[string]any) {
			m["appServiceRequired"] = []any{map[string]any{"serName": "rnis"}}
		}, "/appServiceRequired/0/version", "is required"},
		{"feature version missing", func(m map[string]any) {
			m["appFeatureRequired"] = []any{map[string]any{"featureName": "UserApps"}}
		}, "/appFeatureRequired/0/version", "is required"},
		{"transport serializer enum", func(m map[string]any) {
			m["transportDependencies"] = []any{map[string]any{
				"transport":   map[string]any{"type": "REST_HTTP", "protocol": "HTTP", "version": "1.1"},
				"serializers": []any{"YAML"}, "labels": []any{"a"}}}
		}, "/transportDependencies/0/serializers/0", "not a valid value"},
		{"transport type enum", func(m map[string]any) {
			m["transportDependencies"] = []any{map[string]any{
				"transport":   map[string]any{"type": "PIGEON", "protocol": "HTTP", "version": "1.1"},
				"serializers": []any{"JSON"}, "labels": []any{"a"}}}
		}, "/transportDependencies/0/transport/type", "not a valid value"},
		{"appLatency negative", func(m map[string]any) { m["appLatency"] = map[string]any{"maxLatency": -5} }, "/appLatency/maxLatency", "non-negative integer"},
		{"appLatency missing maxLatency", func(m map[string]any) { m["appLatency"] = map[string]any{} }, "/appLatency/maxLatency", "is required"},
		{"terminate timeouts inverted", func(m map[string]any) {
			m["terminateAppInstanceOpConfig"] = map[string]any{"minGracefulTerminationTimeout": 60, "maxRecommendedGracefulTerminationTimeout": 5}
		}, "/terminateAppInstanceOpConfig/maxRecommendedGracefulTerminationTimeout", "below"},
		{"terminate both spellings", func(m map[string]any) {
			m["terminateAppInstanceOpConfig"] = map[string]any{"minGracefulTerminationTimeout": 1,
				"maxRecommendedGracefulTerminationTimeout": 5, "macRecommendedGracefulTerminationTimeout": 5}
		}, "/terminateAppInstanceOpConfig/macRecommendedGracefulTerminationTimeout", "only"},
		{"stop timeouts inverted", func(m map[string]any) {
			m["changeAppInstanceStateOpConfig"] = map[string]any{"minGracefulStopTimeout": 60, "maxRecommendedGracefulStopTimeout": 5}
		}, "/changeAppInstanceStateOpConfig/maxRecommendedGracefulStopTimeout", "below"},
		{"port out of range", func(m map[string]any) {
			rule(m, "appExtCpd")["ports"] = []any{map[string]any{"port": 70000}}
		}, "/appExtCpd/0/ports/0/port", "out of range"},
		{"port zero", func(m map[string]any) { rule(m, "appExtCpd")["ports"] = []any{map[string]any{"port": 0}} }, "/appExtCpd/0/ports/0/port", "out of range"},
		{"port protocol enum", func(m map[string]any) {
			rule(m, "appExtCpd")["ports"] = []any{map[string]any{"port": 80, "protocol": "tcp"}}
		}, "/appExtCpd/0/ports/0/protocol", "not a valid value"},
		{"port name", func(m map[string]any) {
			rule(m, "appExtCpd")["ports"] = []any{map[string]any{"port": 80, "name": "Web_UI"}}
		}, "/appExtCpd/0/ports/0/name", "DNS label"},
		{"duplicate port", func(m map[string]any) {
			rule(m, "appExtCpd")["ports"] = []any{map[string]any{"port": 80}, map[string]any{"port": 80, "protocol": "TCP"}}
		}, "/appExtCpd/0/ports/1", "duplicate"},
		{"too many rules", func(m map[string]any) {
			rs := make([]any, 257)
			for i := range rs {
				rs[i] = rule(m, "appDNSRule")
			}
			m["appDNSRule"] = rs
		}, "/appDNSRule", "more than 256"},
		// The platform's rule check (internal/mecrule), reported from the AppD's root.
		{"traffic rule id", func(m map[string]any) { rule(m, "appTrafficRule")["trafficRuleId"] = "a/b" }, "/appTrafficRule/0/trafficRuleId", "invalid id"},
		{"traffic rule priority range", func(m map[string]any) { rule(m, "appTrafficRule")["priority"] = 300 }, "/appTrafficRule/0/priority", "0-255"},
		{"traffic filter empty", func(m map[string]any) { rule(m, "appTrafficRule")["trafficFilter"] = []any{} }, "/appTrafficRule/0/trafficFilter", "want 1 to"},
		{"traffic filter address", func(m map[string]any) {
			rule(m, "appTrafficRule")["trafficFilter"] = []any{map[string]any{"dstAddress": []any{"10.0.0.300"}}}
		}, "/appTrafficRule/0/trafficFilter/0/dstAddress/0", ""},
		{"traffic filter port", func(m map[string]any) {
			rule(m, "appTrafficRule")["trafficFilter"] = []any{map[string]any{"dstPort": []any{"99999"}, "protocol": []any{"TCP"}}}
		}, "/appTrafficRule/0/trafficFilter/0/dstPort/0", ""},
		{"traffic filter port without a port protocol", func(m map[string]any) {
			rule(m, "appTrafficRule")["trafficFilter"] = []any{map[string]any{"dstPort": []any{"80"}, "protocol": []any{"ICMP"}}}
		}, "/appTrafficRule/0/trafficFilter/0/protocol/0", "has no ports"},
		{"forwarding without dstInterface", func(m map[string]any) { delete(rule(m, "appTrafficRule"), "dstInterface") }, "/appTrafficRule/0/dstInterface", "needs a dstInterface"},
		{"duplicate traffic rule id", func(m map[string]any) {
			m["appTrafficRule"] = []any{rule(m, "appTrafficRule"), rule(m, "appTrafficRule")}
		}, "/appTrafficRule/1/trafficRuleId", "earlier rule"},
		{"dns rule domain", func(m map[string]any) { rule(m, "appDNSRule")["domainName"] = "bad..name" }, "/appDNSRule/0/domainName", "not a valid DNS name"},
		{"dns rule address type", func(m map[string]any) { rule(m, "appDNSRule")["ipAddress"] = "2001:db8::1" }, "/appDNSRule/0/ipAddress", "does not match"},
		{"dns rule ttl range", func(m map[string]any) { rule(m, "appDNSRule")["ttl"] = 10000000 }, "/appDNSRule/0/ttl", "want 0-"},
		{"duplicate dns rule id", func(m map[string]any) {
			m["appDNSRule"] = []any{rule(m, "appDNSRule"), rule(m, "appDNSRule")}
		}, "/appDNSRule/1/dnsRuleId", "earlier rule"},
		{"pointer escaping", func(m map[string]any) { m["a/b~c"] = 1 }, "/a~1b~0c", "not a member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleMap(t)
			tc.edit(m)
			b, err := json.Marshal(m)
			require.NoError(t, err)
			_, err = appd.Parse(b)
			requireFieldErr(t, err, tc.ptr, tc.msg)
		})
	}
}

func requireFieldErr(t *testing.T, err error, ptr, msg string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, appd.ErrInvalid)
	var fe *appd.FieldError
	require.ErrorAs(t, err, &fe)
	if p, ok := strings.CutSuffix(ptr, "*"); ok {
		assert.True(t, strings.HasPrefix(fe.Pointer, p), "error %q; want pointer under %s", err, p)
	} else {
		assert.Equal(t, ptr, fe.Pointer, "error %q", err)
	}
	assert.Contains(t, fe.Msg, msg)
}

func TestParseDocumentErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, ptr, msg string
	}{
		{"empty", "", "", "must be an object"},
		{"a list", "[1, 2]", "", "must be an object, not a list"},
		{"a string", "hello", "", "must be an object, not a string"},
		{"bad JSON", `{"appDId": `, "", "not JSON or YAML"},
		{"bad YAML", "appDId: [a\n", "", "not JSON or YAML"},
		{"not UTF-8", "appDId: \xff\xfe", "", "not UTF-8"},
		{"too large", "appDescription: " + strings.Repeat("x", appd.MaxSize), "", "larger than"},
		{"deep nesting", "appExtCpd: [{inherited_attributes: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}]", "/appExtCpd/0/inherited_attributes/*", "nested deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := appd.Parse([]byte(tc.doc))
			requireFieldErr(t, err, tc.ptr, tc.msg)
		})
	}
}

func TestConversions(t *testing.T) {
	a, err := appd.Parse(sample(t))
	require.NoError(t, err)

	got := a.DeployRequest("inst-1", vim.Artifacts{Manifests: []byte("kind: X")})
	want := vim.DeployRequest{
		AppInstanceID: "inst-1", AppDID: "mecapp", AppName: "mecapp", AppProvider: "edgemec", AppSoftVersion: "1.0",
		Compute:   vim.VirtualCompute{VirtualCPUs: 0.5, MemoryMiB: 128, CPUArchitecture: "amd64"},
		Image:     vim.SwImage{Name: "mecapp", Ref: "local/mecapp:dev", ContainerFormat: "docker"},
		Artifacts: vim.Artifacts{Manifests: []byte("kind: X"), Ports: []vim.Port{{Name: "http", Port: 8080, Protocol: "TCP"}}},
	}
	assert.Equal(t, want, got)
	require.NoError(t, got.Validate())

	inst := a.AppInstance("one")
	require.NotNil(t, inst.AppTrafficRule)
	require.NotNil(t, inst.AppDNSRule)
	assert.Equal(t, mp1api.RuleStateACTIVE, (*inst.AppTrafficRule)[0].State)
	assert.Equal(t, mp1api.RuleStateACTIVE, (*inst.AppDNSRule)[0].State)
	assert.Equal(t, mp1api.RuleState(""), a.AppTrafficRule[0].State, "AppInstance must not change the AppD")
	assert.Equal(t, "one", *inst.AppInstanceName)
	assert.Equal(t, []mm5api.ServiceDescriptor{{SerName: "mec-sample", Version: "1.0"}}, *inst.AppServiceProduced)
	assert.Nil(t, inst.AppServiceRequired)
	require.NotNil(t, inst.MecVersion, "the MEP answers the app in the MEC 011 version it declares")
	assert.Equal(t, a.MECVersion, *inst.MecVersion)

	assert.Equal(t, appd.Workload{Kind: appd.KindContainer, CPUArchitecture: "amd64", VirtualCPUs: 0.5, MemoryMiB: 128}, a.Workload())
}

func TestWorkloadKind(t *testing.T) {
	for _, tc := range []struct {
		name, img string
		want      appd.Kind
	}{
		{"docker", `{swImage: a, containerFormat: docker}`, appd.KindContainer},
		{"no formats", `{swImage: a}`, appd.KindContainer},
		{"qcow2", `{swImage: /img/a.qcow2, diskFormat: QCOW2}`, appd.KindVM},
		{"bare raw", `{swImage: a.raw, containerFormat: BARE, diskFormat: raw}`, appd.KindVM},
		{"ova", `{swImage: a.ova, containerFormat: OVA}`, appd.KindVM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "{appDId: a, appName: a, appProvider: p, appSoftVersion: '1', appDVersion: '1', mecVersion: '2.2.1', swImageDescriptor: " + tc.img + "}"
			a, err := appd.Parse([]byte(doc))
			require.NoError(t, err)
			assert.Equal(t, tc.want, a.Workload().Kind)
		})
	}
}

func TestArch(t *testing.T) {
	for in, want := range map[string]string{"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64", "riscv64": "riscv64", "": ""} {
		assert.Equal(t, want, appd.Arch(in), in)
	}
}

func TestErrorIsNotOtherSentinel(t *testing.T) {
	_, err := appd.Parse([]byte("[]"))
	assert.False(t, errors.Is(err, os.ErrNotExist))
}
