package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/edgemec/edgemec/api/openapi"
	"github.com/edgemec/edgemec/internal/apispec"
	"github.com/edgemec/edgemec/mep/internal/httpapi"
	"github.com/edgemec/edgemec/mep/internal/platform"
)

// etsiTrafficRule returns the TrafficRule schema of the official MEC 011 V2.1.1 OpenAPI
// file (../shared/etsi relative to the repository), or skips when it is not there.
func etsiTrafficRule(t *testing.T) *openapi3.Schema {
	t.Helper()
	b, err := os.ReadFile("../../../../shared/etsi/MecAppSupportApi.yaml")
	if err != nil {
		t.Skipf("ETSI MEC 011 V2.1.1 OpenAPI file not found: %v", err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]any `yaml:"schemas"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal(b, &doc))
	// Keep the schemas, as a 3.0 document: the 3.1 extras (examples, contentMediaType) do not
	// change what a TrafficRule is.
	wrapped, err := json.Marshal(map[string]any{"openapi": "3.0.3", "info": map[string]any{"title": "etsi", "version": "2.1.1"},
		"paths": map[string]any{}, "components": map[string]any{"schemas": doc.Components.Schemas}})
	require.NoError(t, err)
	l := openapi3.NewLoader()
	d, err := l.LoadFromData(wrapped)
	require.NoError(t, err)
	s := d.Components.Schemas["TrafficRule"]
	require.NotNil(t, s)
	return s.Value
}

// dstInterface is answered in the representation of the newest MEC 011 version the app
// declares (V2.1.1: one object), the operator in the site default; both shapes are accepted
// on input. V2.1.1 answers are valid against the ETSI V2.1.1 schema, V2.2.1 ones against
// the MEP's spec.
func TestDstInterfacePerMECVersion(t *testing.T) {
	v211 := etsiTrafficRule(t)
	spec, err := apispec.New(apispec.Config{Docs: []apispec.Doc{{Name: "mp1.yaml", Data: openapi.MP1}}})
	require.NoError(t, err)
	for _, tc := range []struct {
		name       string
		versions   []string
		siteDef    string
		operator   bool
		wantObject bool
	}{
		{name: "app declaring V2.1.1", versions: []string{"2.1.1"}, wantObject: true},
		{name: "app declaring V2.1.1 and V2.2.1", versions: []string{"2.1.1", "2.2.1"}, wantObject: false},
		{name: "app declaring V3.1.1", versions: []string{"3.1.1"}, wantObject: false},
		{name: "app declaring none, site default V2.1.1", siteDef: "2.1.1", wantObject: true},
		{name: "app declaring only other specs' versions, site default V2.2.1", versions: []string{"x"}, wantObject: false},
		{name: "operator, site default V2.1.1", versions: []string{"3.1.1"}, siteDef: "2.1.1", operator: true, wantObject: true},
		{name: "operator, site default V2.2.1", versions: []string{"2.1.1"}, operator: true, wantObject: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(_ *platform.Config, h *httpapi.Config) { h.MEC011Version = tc.siteDef })
			spec1 := appSpec("app1")
			if tc.versions != nil {
				spec1["mecVersion"] = tc.versions
			}
			rec := e.putApp("app1", spec1)
			if tc.versions != nil {
				require.Equal(t, tc.versions, *rec.MecVersion, "the Mm5 record shows mecVersion")
			}
			tok := e.token("app1")
			if tc.operator {
				tok = opToken
			}
			base := "/mec_app_support/v1/applications/app1/traffic_rules"
			one := e.do(http.MethodGet, base+"/tr1", tok, nil)
			expect(t, one, http.StatusOK)
			var m map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(one.Body.Bytes(), &m))
			if tc.wantObject {
				require.Equal(t, byte('{'), m["dstInterface"][0], "got %s; want one object", m["dstInterface"])
				var x any
				require.NoError(t, json.Unmarshal(one.Body.Bytes(), &x))
				require.NoError(t, v211.VisitJSON(x), "valid against the ETSI V2.1.1 TrafficRule")
			} else {
				require.Equal(t, byte('['), m["dstInterface"][0], "got %s; want an array", m["dstInterface"])
				require.NoError(t, spec.CheckSchema("TrafficRule", one.Body.Bytes()))
			}
			list := e.do(http.MethodGet, base, tok, nil)
			expect(t, list, http.StatusOK)
			var l []map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(list.Body.Bytes(), &l))
			require.Equal(t, m["dstInterface"], l[0]["dstInterface"], "the list answers like the rule")

			// Both shapes are accepted on input, and the answer has the caller's shape.
			for _, in := range []string{`{"interfaceType":"IP","dstIpAddress":"10.0.0.1"}`, `[{"interfaceType":"IP","dstIpAddress":"10.0.0.1"}]`} {
				var body map[string]any
				require.NoError(t, json.Unmarshal(one.Body.Bytes(), &body))
				var di any
				require.NoError(t, json.Unmarshal([]byte(in), &di))
				body["dstInterface"] = di
				body["state"] = "INACTIVE"
				put := e.do(http.MethodPut, base+"/tr1", tok, body)
				expect(t, put, http.StatusOK)
				var pm map[string]json.RawMessage
				require.NoError(t, json.Unmarshal(put.Body.Bytes(), &pm))
				require.Equal(t, tc.wantObject, pm["dstInterface"][0] == '{', "PUT answer %s", pm["dstInterface"])
			}
		})
	}
}

// The path id of a termination subscription is authoritative: a body naming another
// instance is ignored, not a 400.
func TestTerminationSubscriptionPathIDWins(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	rec := e.do(http.MethodPost, "/mec_app_support/v1/applications/app1/subscriptions", tok, map[string]any{
		"subscriptionType": "AppTerminationNotificationSubscription", "callbackReference": "http://10.0.0.5/cb", "appInstanceId": "someone-else"})
	expect(t, rec, http.StatusCreated)
	require.Equal(t, "app1", decodeJSON[map[string]any](t, rec)["appInstanceId"])
}

// The discovery scope is a site policy: "declared" shows an app only what it declared,
// "all" every service.
func TestDiscoveryScope(t *testing.T) {
	for _, tc := range []struct {
		scope platform.DiscoveryScope
		want  []string
	}{{platform.ScopeDeclared, []string{}}, {platform.ScopeAll, []string{"a"}}} {
		t.Run(string(tc.scope), func(t *testing.T) {
			e := newEnv(t, func(c *platform.Config, _ *httpapi.Config) { c.DiscoveryScope = tc.scope })
			producer := e.app("prod")
			e.register("prod", producer, servicePost("a"))
			consumer := e.app("cons")
			got := decodeJSON[[]map[string]any](t, e.do(http.MethodGet, "/mec_service_mgmt/v1/services", consumer, nil))
			names := []string{}
			for _, s := range got {
				names = append(names, s["serName"].(string))
			}
			require.Equal(t, tc.want, names)
		})
	}
}

// The feed token reads the rule feeds and nothing else; authentication failures and
// refusals are logged at warn with the request id.
func TestFeedTokenAndRefusalLogs(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, func(_ *platform.Config, h *httpapi.Config) {
		h.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	const feed = "feed-token-for-tests"
	e.auth.SetFeedTokens(feed)
	e.app("app1")
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/mepm/v1/feeds/traffic_rules", http.StatusOK},
		{http.MethodGet, "/mepm/v1/feeds/dns_rules", http.StatusOK},
		{http.MethodGet, "/mepm/v1/app_instances", http.StatusForbidden},
		{http.MethodDelete, "/mepm/v1/app_instances/app1", http.StatusForbidden},
		{http.MethodGet, "/mec_app_support/v1/applications/app1/traffic_rules", http.StatusForbidden},
		{http.MethodGet, "/mec_service_mgmt/v1/services", http.StatusForbidden},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			expect(t, e.do(tc.method, tc.path, feed, nil), tc.want)
		})
	}
	rec := e.do(http.MethodGet, "/mepm/v1/app_instances", "wrong-token", nil)
	expect(t, rec, http.StatusUnauthorized)
	id := rec.Header().Get("X-Request-Id")
	require.NotEmpty(t, id)
	require.Contains(t, logs.String(), "request_id="+id)
	require.Contains(t, logs.String(), "level=WARN msg=\"request refused\"")
	require.Contains(t, logs.String(), "status=403")
	require.NotContains(t, logs.String(), "wrong-token", "tokens are never logged")
}

// TrafficFilter.protocol takes IANA names and numbers and application protocol names: a
// schema-valid value is never a 400, and the rule keeps what was sent.
func TestTrafficFilterProtocols(t *testing.T) {
	e := newEnv(t)
	for _, protos := range [][]string{{"TCP"}, {"6"}, {"IPv6-ICMP"}, {"HTTP"}, {"QUIC", "UDP"}} {
		spec := appSpec("app1")
		rule := spec["appTrafficRule"].([]any)[0].(map[string]any)
		rule["trafficFilter"].([]any)[0].(map[string]any)["protocol"] = protos
		if protos[0] == "IPv6-ICMP" {
			delete(rule["trafficFilter"].([]any)[0].(map[string]any), "dstPort")
		}
		rec := e.putApp("app1", spec)
		require.Equal(t, protos, *(*rec.AppTrafficRule)[0].TrafficFilter[0].Protocol)
	}
}
