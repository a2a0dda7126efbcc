package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/internal/httpapi"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

const supBase = "/mec_app_support/v1/applications/"

// TestUnknownAppInstance: every per-app route answers 404 for an unknown appInstanceId.
func TestUnknownAppInstance(t *testing.T) {
	e := newEnv(t)
	e.app("app1")
	tests := []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, svcBase + "ghost/services", nil},
		{http.MethodPost, svcBase + "ghost/services", servicePost("x")},
		{http.MethodGet, svcBase + "ghost/services/s1", nil},
		{http.MethodPut, svcBase + "ghost/services/s1", map[string]any{"serName": "x", "version": "1", "state": "ACTIVE", "serializer": "JSON", "transportInfo": transportInfo()}},
		{http.MethodDelete, svcBase + "ghost/services/s1", nil},
		{http.MethodGet, svcBase + "ghost/services/s1/liveness", nil},
		{http.MethodPatch, svcBase + "ghost/services/s1/liveness", map[string]any{"state": "ACTIVE"}},
		{http.MethodGet, svcBase + "ghost/subscriptions", nil},
		{http.MethodPost, svcBase + "ghost/subscriptions", map[string]any{"subscriptionType": "SerAvailabilityNotificationSubscription", "callbackReference": "http://cb.test/x"}},
		{http.MethodGet, svcBase + "ghost/subscriptions/x", nil},
		{http.MethodDelete, svcBase + "ghost/subscriptions/x", nil},
		{http.MethodGet, supBase + "ghost/traffic_rules", nil},
		{http.MethodGet, supBase + "ghost/traffic_rules/tr1", nil},
		{http.MethodPut, supBase + "ghost/traffic_rules/tr1", trafficRule("tr1")},
		{http.MethodGet, supBase + "ghost/dns_rules", nil},
		{http.MethodGet, supBase + "ghost/dns_rules/dns1", nil},
		{http.MethodPut, supBase + "ghost/dns_rules/dns1", dnsRule("dns1")},
		{http.MethodGet, supBase + "ghost/subscriptions", nil},
		{http.MethodPost, supBase + "ghost/subscriptions", map[string]any{"subscriptionType": "AppTerminationNotificationSubscription", "callbackReference": "http://cb.test/x", "appInstanceId": "ghost"}},
		{http.MethodGet, supBase + "ghost/subscriptions/x", nil},
		{http.MethodDelete, supBase + "ghost/subscriptions/x", nil},
		{http.MethodPost, supBase + "ghost/confirm_ready", map[string]any{"indication": "READY"}},
		{http.MethodPost, supBase + "ghost/confirm_termination", map[string]any{"operationAction": "TERMINATING"}},
		{http.MethodPost, "/mec_app_support/v1/registrations", map[string]any{"appName": "g", "appInstanceId": "ghost"}},
		{http.MethodGet, "/mec_app_support/v1/registrations/ghost", nil},
		{http.MethodPut, "/mec_app_support/v1/registrations/ghost", map[string]any{"appName": "g"}},
		{http.MethodDelete, "/mec_app_support/v1/registrations/ghost", nil},
		{http.MethodGet, "/mepm/v1/app_instances/ghost", nil},
		{http.MethodDelete, "/mepm/v1/app_instances/ghost", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			expect(t, e.do(tt.method, tt.path, opToken, tt.body), http.StatusNotFound)
		})
	}
}

// trafficRule is a change of appSpec's tr1 within its grant (a DROP of part of its traffic).
func trafficRule(id string) map[string]any {
	return map[string]any{
		"trafficRuleId": id, "filterType": "FLOW", "priority": 5, "action": "DROP", "state": "ACTIVE",
		"trafficFilter": []any{map[string]any{"dstAddress": []string{"10.0.0.0/25"}, "protocol": []string{"TCP"}, "dstPort": []string{"80"}}},
	}
}

// dnsRule is a change of app1's dns1 within its grant (an address in the app ranges).
func dnsRule(id string) map[string]any {
	return map[string]any{"dnsRuleId": id, "domainName": "app1.example", "ipAddressType": "IP_V4", "ipAddress": "10.9.9.9", "state": "ACTIVE", "ttl": 60}
}

func TestTrafficRules(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	base := supBase + "app1/traffic_rules"

	rec := e.do(http.MethodGet, base, tok, nil)
	expect(t, rec, http.StatusOK)
	rules := decodeJSON[[]mp1api.TrafficRule](t, rec)
	require.Len(t, rules, 1)
	require.Equal(t, "tr1", rules[0].TrafficRuleId)
	require.Equal(t, mp1api.RuleStateACTIVE, rules[0].State, "state defaults to ACTIVE")

	rec = e.do(http.MethodGet, base+"/tr1", tok, nil)
	expect(t, rec, http.StatusOK)
	etag := rec.Header().Get("ETag")
	require.NotEmpty(t, etag)
	expect(t, e.do(http.MethodGet, base+"/nope", tok, nil), http.StatusNotFound)

	feed := func() int64 {
		rec := e.do(http.MethodGet, "/mepm/v1/feeds/traffic_rules?timeout=0", opToken, nil)
		expect(t, rec, http.StatusOK)
		return decodeJSON[mm5api.TrafficRuleSnapshot](t, rec).Version
	}
	v0 := feed()

	body := trafficRule("other-id") // the path id is authoritative
	body["state"] = "INACTIVE"
	put := func(ifMatch string, b any) *httptest.ResponseRecorder {
		h := map[string]string{}
		if ifMatch != "" {
			h["If-Match"] = ifMatch
		}
		return e.serve(req{method: http.MethodPut, path: base + "/tr1", token: tok, body: b, header: h})
	}
	expect(t, put(`"stale"`, body), http.StatusPreconditionFailed)
	require.Equal(t, v0, feed(), "a failed PUT changed the feed")
	rec = put(etag, body)
	expect(t, rec, http.StatusOK)
	got := decodeJSON[mp1api.TrafficRule](t, rec)
	require.Equal(t, "tr1", got.TrafficRuleId)
	require.Equal(t, mp1api.RuleStateINACTIVE, got.State)
	require.Equal(t, mp1api.DROP, got.Action)
	newTag := rec.Header().Get("ETag")
	require.NotEqual(t, etag, newTag)
	require.Equal(t, newTag, e.do(http.MethodGet, base+"/tr1", tok, nil).Header().Get("ETag"))
	require.Equal(t, v0+1, feed(), "got feed version %d; want %d", feed(), v0+1)
	expect(t, put(etag, body), http.StatusPreconditionFailed)
	expect(t, e.do(http.MethodGet, base+"/other-id", tok, nil), http.StatusNotFound)

	t.Run("V2.1.1 dstInterface object", func(t *testing.T) {
		b := trafficRule("tr1")
		b["action"] = "FORWARD_ENCAPSULATED"
		b["dstInterface"] = map[string]any{"interfaceType": "TUNNEL", "tunnelInfo": map[string]any{"tunnelType": "GTP_U", "tunnelDstAddress": "198.51.100.1"}}
		rec := put("", b)
		expect(t, rec, http.StatusOK)
		got := decodeJSON[mp1api.TrafficRule](t, rec)
		require.NotNil(t, got.DstInterface)
		require.Len(t, *got.DstInterface, 1)
		require.Equal(t, mp1api.TUNNEL, (*got.DstInterface)[0].InterfaceType)
		// The response uses the V2.2.1 array form.
		require.Contains(t, rec.Body.String(), `"dstInterface":[`)
	})
	t.Run("V2.2.1 dstInterface array", func(t *testing.T) {
		b := trafficRule("tr1")
		b["dstInterface"] = []any{map[string]any{"interfaceType": "IP", "dstIpAddress": "10.0.0.1"},
			map[string]any{"interfaceType": "TUNNEL", "tunnelInfo": map[string]any{"tunnelType": "GTP_U", "tunnelDstAddress": "198.51.100.1"}}}
		expect(t, put("*", b), http.StatusOK)
	})

	del := func(k string) map[string]any { b := trafficRule("tr1"); delete(b, k); return b }
	set := func(k string, v any) map[string]any { b := trafficRule("tr1"); b[k] = v; return b }
	filter := func(k string, v any) map[string]any {
		return set("trafficFilter", []any{map[string]any{k: v}})
	}
	bad := []struct {
		name string
		body any
	}{
		{"not json", `{`},
		{"missing priority", del("priority")},
		{"null priority", set("priority", nil)},
		{"missing trafficRuleId", del("trafficRuleId")},
		{"missing filterType", del("filterType")},
		{"missing trafficFilter", del("trafficFilter")},
		{"missing action", del("action")},
		{"missing state", del("state")},
		{"bad filterType", set("filterType", "BYTE")},
		{"bad action", set("action", "TELEPORT")},
		{"bad state", set("state", "MAYBE")},
		{"priority out of range", set("priority", 256)},
		{"priority negative", set("priority", -1)},
		{"priority wrong type", set("priority", "1")},
		{"empty trafficFilter", set("trafficFilter", []any{})},
		{"bad address", filter("srcAddress", []string{"10.0.0.300"})},
		{"bad port", filter("dstPort", []string{"70000"})},
		{"bad port range", filter("dstPort", []string{"20-10"})},
		{"bad protocol number", filter("protocol", []string{"300"})},
		{"malformed protocol", filter("protocol", []string{"no such protocol"})},
		{"bad tag", filter("tag", []string{"0x1ffffffff"})},
		{"bad dscp", filter("dSCP", 64)},
		{"three dstInterfaces", set("dstInterface", []any{map[string]any{"interfaceType": "IP"}, map[string]any{"interfaceType": "IP"}, map[string]any{"interfaceType": "IP"}})},
		{"bad interfaceType", set("dstInterface", map[string]any{"interfaceType": "WORMHOLE"})},
		{"bad tunnelType", set("dstInterface", map[string]any{"interfaceType": "TUNNEL", "tunnelInfo": map[string]any{"tunnelType": "VXLAN"}})},
		{"bad dstIpAddress", set("dstInterface", map[string]any{"interfaceType": "IP", "dstIpAddress": "nope"})},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, put("", tt.body), http.StatusBadRequest)
		})
	}
	expect(t, e.do(http.MethodPut, base+"/nope", tok, trafficRule("nope")), http.StatusNotFound)
}

func TestDNSRules(t *testing.T) {
	var seen [][]platform.ActiveDNSRule
	e := newEnv(t)
	e.site.OnDNSChange(func(rs []platform.ActiveDNSRule) { seen = append(seen, rs) })
	tok := e.app("app1")
	base := supBase + "app1/dns_rules"
	require.Len(t, seen[len(seen)-1], 1, "the DNS hook got the provisioned rule")

	rec := e.do(http.MethodGet, base, tok, nil)
	expect(t, rec, http.StatusOK)
	rules := decodeJSON[[]mp1api.DnsRule](t, rec)
	require.Len(t, rules, 1)
	require.Equal(t, "app1.example", rules[0].DomainName)

	rec = e.do(http.MethodGet, base+"/dns1", tok, nil)
	expect(t, rec, http.StatusOK)
	etag := rec.Header().Get("ETag")
	require.NotEmpty(t, etag)
	expect(t, e.do(http.MethodGet, base+"/nope", tok, nil), http.StatusNotFound)

	put := func(ifMatch string, b any) *httptest.ResponseRecorder {
		h := map[string]string{}
		if ifMatch != "" {
			h["If-Match"] = ifMatch
		}
		return e.serve(req{method: http.MethodPut, path: base + "/dns1", token: tok, body: b, header: h})
	}
	body := dnsRule("elsewhere")
	body["state"] = "INACTIVE"
	expect(t, put(`"stale"`, body), http.StatusPreconditionFailed)
	rec = put(etag, body)
	expect(t, rec, http.StatusOK)
	got := decodeJSON[mp1api.DnsRule](t, rec)
	require.Equal(t, "dns1", got.DnsRuleId, "the path id is authoritative")
	require.Equal(t, mp1api.RuleStateINACTIVE, got.State)
	require.NotEqual(t, etag, rec.Header().Get("ETag"))
	require.Empty(t, seen[len(seen)-1], "the DNS hook still has the INACTIVE rule")
	expect(t, put(etag, body), http.StatusPreconditionFailed)

	v6 := dnsRule("dns1")
	v6["ipAddressType"], v6["ipAddress"] = "IP_V6", "2001:db8::1"
	expect(t, put("*", v6), http.StatusOK)
	require.Len(t, seen[len(seen)-1], 1)
	require.Equal(t, "2001:db8::1", seen[len(seen)-1][0].Addr.String())

	del := func(k string) map[string]any { b := dnsRule("dns1"); delete(b, k); return b }
	set := func(k string, v any) map[string]any { b := dnsRule("dns1"); b[k] = v; return b }
	bad := []struct {
		name string
		body any
	}{
		{"not json", `[`},
		{"missing dnsRuleId", del("dnsRuleId")},
		{"missing domainName", del("domainName")},
		{"missing ipAddressType", del("ipAddressType")},
		{"missing ipAddress", del("ipAddress")},
		{"missing state", del("state")},
		{"bad ipAddressType", set("ipAddressType", "IP_V5")},
		{"bad state", set("state", "ON")},
		{"bad ipAddress", set("ipAddress", "10.0.0")},
		{"type mismatch", set("ipAddress", "2001:db8::1")},
		{"bad domain", set("domainName", "bad..name")},
		{"domain label too long", set("domainName", strings.Repeat("a", 64)+".example")},
		{"ttl negative", set("ttl", -1)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, put("", tt.body), http.StatusBadRequest)
		})
	}
	expect(t, e.do(http.MethodPut, base+"/nope", tok, dnsRule("nope")), http.StatusNotFound)
}

func TestSubscriptions(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	e.app("app2")
	kinds := []struct {
		name, base, typ string
		body            func() map[string]any
	}{
		{"service availability", svcBase + "app1/subscriptions", platform.SerAvailSubscriptionType, func() map[string]any {
			return map[string]any{"subscriptionType": platform.SerAvailSubscriptionType, "callbackReference": "http://cb.test/s",
				"filteringCriteria": map[string]any{"serNames": []string{"a"}, "states": []string{"ACTIVE"}, "isLocal": true}}
		}},
		{"app termination", supBase + "app1/subscriptions", platform.AppTermSubscriptionType, func() map[string]any {
			return map[string]any{"subscriptionType": platform.AppTermSubscriptionType, "callbackReference": "https://cb.test/t", "appInstanceId": "app1"}
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			rec := e.do(http.MethodPost, k.base, tok, k.body())
			expect(t, rec, http.StatusCreated)
			loc := rec.Header().Get("Location")
			require.True(t, strings.HasPrefix(loc, apiRoot+k.base+"/"), "got Location %q", loc)
			var created map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &created))
			require.Equal(t, loc, created["_links"].(map[string]any)["self"].(map[string]any)["href"])
			require.Equal(t, k.typ, created["subscriptionType"])
			id := loc[strings.LastIndexByte(loc, '/')+1:]
			loc2 := e.do(http.MethodPost, k.base, tok, k.body()).Header().Get("Location")

			rec = e.do(http.MethodGet, k.base, tok, nil)
			expect(t, rec, http.StatusOK)
			var raw struct {
				Links struct {
					Self          mp1api.LinkType  `json:"self"`
					Subscriptions []map[string]any `json:"subscriptions"`
				} `json:"_links"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
			require.Equal(t, apiRoot+k.base, raw.Links.Self.Href)
			require.Len(t, raw.Links.Subscriptions, 2)
			var hrefs []string
			for _, s := range raw.Links.Subscriptions {
				require.Equal(t, k.typ, s["subscriptionType"], "got subscriptionType %v; want %s", s["subscriptionType"], k.typ)
				require.Equal(t, k.typ, s["rel"], "got rel %v; want %s", s["rel"], k.typ)
				hrefs = append(hrefs, s["href"].(string))
			}
			require.ElementsMatch(t, []string{loc, loc2}, hrefs)

			rec = e.do(http.MethodGet, k.base+"/"+id, tok, nil)
			expect(t, rec, http.StatusOK)
			require.JSONEq(t, string(mustJSON(t, created)), rec.Body.String())
			// The other collection does not know this id, nor does another app.
			other := kinds[0].base
			if other == k.base {
				other = kinds[1].base
			}
			expect(t, e.do(http.MethodGet, other+"/"+id, tok, nil), http.StatusNotFound)
			expect(t, e.do(http.MethodGet, strings.Replace(k.base, "app1", "app2", 1)+"/"+id, opToken, nil), http.StatusNotFound)

			expect(t, e.do(http.MethodDelete, k.base+"/"+id, tok, nil), http.StatusNoContent)
			expect(t, e.do(http.MethodGet, k.base+"/"+id, tok, nil), http.StatusNotFound)
			expect(t, e.do(http.MethodDelete, k.base+"/"+id, tok, nil), http.StatusNotFound)
			rec = e.do(http.MethodGet, k.base, tok, nil)
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
			require.Len(t, raw.Links.Subscriptions, 1)

			for name, mut := range map[string]func(map[string]any){
				"missing subscriptionType":  func(b map[string]any) { delete(b, "subscriptionType") },
				"wrong subscriptionType":    func(b map[string]any) { b["subscriptionType"] = "Nope" },
				"missing callbackReference": func(b map[string]any) { delete(b, "callbackReference") },
				"relative callback":         func(b map[string]any) { b["callbackReference"] = "/cb" },
				"ftp callback":              func(b map[string]any) { b["callbackReference"] = "ftp://cb.test/x" },
				"callback wrong type":       func(b map[string]any) { b["callbackReference"] = 5 },
			} {
				t.Run(name, func(t *testing.T) {
					b := k.body()
					mut(b)
					expect(t, e.do(http.MethodPost, k.base, tok, b), http.StatusBadRequest)
				})
			}
		})
	}
	t.Run("two criteria", func(t *testing.T) {
		b := kinds[0].body()
		b["filteringCriteria"] = map[string]any{"serNames": []string{"a"}, "serInstanceIds": []string{"b"}}
		expect(t, e.do(http.MethodPost, kinds[0].base, tok, b), http.StatusBadRequest)
		b["filteringCriteria"] = map[string]any{"states": []string{"ASLEEP"}}
		expect(t, e.do(http.MethodPost, kinds[0].base, tok, b), http.StatusBadRequest)
	})
	t.Run("appInstanceId of the body is not the path's", func(t *testing.T) {
		b := kinds[1].body()
		b["appInstanceId"] = "app2"
		rec := e.do(http.MethodPost, kinds[1].base, tok, b)
		expect(t, rec, http.StatusCreated)
		require.Equal(t, "app1", decodeJSON[mp1api.AppTerminationNotificationSubscription](t, rec).AppInstanceId, "the path id is authoritative")
		delete(b, "appInstanceId")
		expect(t, e.do(http.MethodPost, kinds[1].base, tok, b), http.StatusBadRequest)
	})
	t.Run("limit", func(t *testing.T) {
		e := newEnv(t, func(c *platform.Config, _ *httpapi.Config) { c.MaxSubscriptionsPerApp = 1 })
		tok := e.app("app1")
		e.subscribe("app1", tok, "http://cb.test/1", nil)
		expect(t, e.do(http.MethodPost, svcBase+"app1/subscriptions", tok, kinds[0].body()), http.StatusTooManyRequests)
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestConfirmReady(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	p := supBase + "app1/confirm_ready"
	expect(t, e.do(http.MethodPost, p, tok, map[string]any{"indication": "STEADY"}), http.StatusBadRequest)
	expect(t, e.do(http.MethodPost, p, tok, map[string]any{}), http.StatusBadRequest)
	expect(t, e.do(http.MethodPost, p, tok, `READY`), http.StatusBadRequest)
	expect(t, e.do(http.MethodPost, p, tok, map[string]any{"indication": "READY"}), http.StatusNoContent)
	rec := e.do(http.MethodGet, "/mepm/v1/app_instances/app1", opToken, nil)
	require.Equal(t, mm5api.READY, decodeJSON[mm5api.AppInstanceRecord](t, rec).State)
	expect(t, e.do(http.MethodPost, p, tok, map[string]any{"indication": "READY"}), http.StatusConflict)
	// A replace over Mm5 keeps the readiness.
	e.putApp("app1", appSpec("app1"))
	rec = e.do(http.MethodGet, "/mepm/v1/app_instances/app1", opToken, nil)
	require.Equal(t, mm5api.READY, decodeJSON[mm5api.AppInstanceRecord](t, rec).State)
}

func TestRegistrations(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	tok2 := e.app("app2")
	const base = "/mec_app_support/v1/registrations"
	info := map[string]any{"appName": "app1", "appInstanceId": "app1", "appProvider": "acme",
		"endpoint": map[string]any{"uris": []string{"http://10.0.0.7/"}}, "isInsByMec": true}

	expect(t, e.do(http.MethodGet, base+"/app1", tok, nil), http.StatusNotFound)
	expect(t, e.do(http.MethodPut, base+"/app1", tok, info), http.StatusNotFound)
	expect(t, e.do(http.MethodDelete, base+"/app1", tok, nil), http.StatusNotFound)

	t.Run("register another app", func(t *testing.T) {
		expect(t, e.do(http.MethodPost, base, tok2, info), http.StatusNotFound)
		noID := map[string]any{"appName": "app2"}
		expect(t, e.do(http.MethodPost, base, tok2, noID), http.StatusForbidden)
	})
	t.Run("bad bodies", func(t *testing.T) {
		expect(t, e.do(http.MethodPost, base, tok, map[string]any{"appInstanceId": "app1"}), http.StatusBadRequest)
		expect(t, e.do(http.MethodPost, base, tok, map[string]any{"appName": "", "appInstanceId": "app1"}), http.StatusBadRequest)
		expect(t, e.do(http.MethodPost, base, tok, map[string]any{"appName": "a", "appInstanceId": "app1",
			"endpoint": map[string]any{"uris": []string{"x"}, "alternative": map[string]any{}}}), http.StatusBadRequest)
		expect(t, e.do(http.MethodPost, base, opToken, map[string]any{"appName": "a"}), http.StatusBadRequest)
	})

	rec := e.do(http.MethodPost, base, tok, info)
	expect(t, rec, http.StatusCreated)
	require.Equal(t, apiRoot+base+"/app1", rec.Header().Get("Location"))
	require.JSONEq(t, string(mustJSON(t, info)), rec.Body.String())
	expect(t, e.do(http.MethodPost, base, tok, info), http.StatusConflict)

	rec = e.do(http.MethodGet, base+"/app1", tok, nil)
	expect(t, rec, http.StatusOK)
	require.JSONEq(t, string(mustJSON(t, info)), rec.Body.String())

	upd := map[string]any{"appName": "renamed", "appInstanceId": "app2"}
	rec = e.do(http.MethodPut, base+"/app1", tok, upd)
	expect(t, rec, http.StatusOK)
	got := decodeJSON[mp1api.AppInfo](t, rec)
	require.Equal(t, "app1", *got.AppInstanceId, "the path id is authoritative")
	require.Equal(t, "renamed", got.AppName)
	expect(t, e.do(http.MethodGet, base+"/app2", opToken, nil), http.StatusNotFound)

	expect(t, e.do(http.MethodDelete, base+"/app1", tok, nil), http.StatusNoContent)
	expect(t, e.do(http.MethodGet, base+"/app1", tok, nil), http.StatusNotFound)
	// The operator may register any app.
	expect(t, e.do(http.MethodPost, base, opToken, map[string]any{"appName": "app2", "appInstanceId": "app2"}), http.StatusCreated)
}

func TestTiming(t *testing.T) {
	ntp := []mp1api.NtpServer{{NtpServerAddrType: mp1api.DNSNAME, NtpServerAddr: "ntp.example", MinPollingInterval: 4,
		MaxPollingInterval: 10, LocalPriority: 1, AuthenticationOption: mp1api.NONE}}
	e := newEnv(t, func(_ *platform.Config, h *httpapi.Config) { h.NTPServers, h.TimeSourceTraceable = ntp, true })
	tok := e.app("app1")

	rec := e.do(http.MethodGet, "/mec_app_support/v1/timing/timing_caps", tok, nil)
	expect(t, rec, http.StatusOK)
	caps := decodeJSON[mp1api.TimingCaps](t, rec)
	require.NotNil(t, caps.TimeStamp)
	require.Positive(t, caps.TimeStamp.Seconds)
	require.NotNil(t, caps.NtpServers)
	require.Equal(t, ntp, *caps.NtpServers)
	require.Nil(t, caps.PtpMasters)

	rec = e.do(http.MethodGet, "/mec_app_support/v1/timing/current_time", tok, nil)
	expect(t, rec, http.StatusOK)
	ct := decodeJSON[mp1api.CurrentTime](t, rec)
	require.Positive(t, ct.Seconds)
	require.Equal(t, mp1api.TRACEABLE, ct.TimeSourceStatus)
	require.GreaterOrEqual(t, ct.NanoSeconds, int32(0))
	require.Less(t, ct.NanoSeconds, int32(1e9))

	e2 := newEnv(t)
	rec = e2.do(http.MethodGet, "/mec_app_support/v1/timing/current_time", opToken, nil)
	require.Equal(t, mp1api.NONTRACEABLE, decodeJSON[mp1api.CurrentTime](t, rec).TimeSourceStatus)
	expect(t, e2.do(http.MethodGet, "/mec_app_support/v1/timing/current_time?precise=1", opToken, nil), http.StatusBadRequest)
}
