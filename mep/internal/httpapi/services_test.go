package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/internal/httpapi"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mp1api"
)

const svcBase = "/mec_service_mgmt/v1/applications/"

func TestServiceLifecycle(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")

	body := servicePost("svc-a")
	body["serInstanceId"] = "client-chosen" // ignored: the MEP assigns ids
	rec := e.do(http.MethodPost, svcBase+"app1/services", tok, body)
	expect(t, rec, http.StatusCreated)
	svc := decodeJSON[mp1api.ServiceInfo](t, rec)
	require.NotNil(t, svc.SerInstanceId)
	id := *svc.SerInstanceId
	require.NotEqual(t, "client-chosen", id)
	self := apiRoot + svcBase + "app1/services/" + id
	require.Equal(t, self, rec.Header().Get("Location"), "got Location %q; want %q", rec.Header().Get("Location"), self)
	require.NotNil(t, svc.UnderscoreLinks)
	require.Equal(t, self, svc.UnderscoreLinks.Self.Href)
	require.Nil(t, svc.UnderscoreLinks.Liveness, "no livenessInterval: got a liveness link")
	require.Equal(t, "rest-http", svc.TransportInfo.Id, "transportId resolves to the offered transport")
	etag := rec.Header().Get("ETag")
	require.NotEmpty(t, etag)

	t.Run("get", func(t *testing.T) {
		for _, p := range []string{"/mec_service_mgmt/v1/services/" + id, svcBase + "app1/services/" + id} {
			rec := e.do(http.MethodGet, p, tok, nil)
			expect(t, rec, http.StatusOK)
			require.Equal(t, etag, rec.Header().Get("ETag"), "GET %s: got ETag %q; want %q", p, rec.Header().Get("ETag"), etag)
			require.Equal(t, id, *decodeJSON[mp1api.ServiceInfo](t, rec).SerInstanceId)
		}
	})

	put := func(ifMatch string, info mp1api.ServiceInfo) *httptest.ResponseRecorder {
		h := map[string]string{}
		if ifMatch != "" {
			h["If-Match"] = ifMatch
		}
		return e.serve(req{method: http.MethodPut, path: svcBase + "app1/services/" + id, token: tok, body: info, header: h})
	}
	info := svc
	info.Version = "2.0"
	other := "some-other-id"
	info.SerInstanceId = &other // the path id is authoritative

	t.Run("put stale If-Match", func(t *testing.T) {
		expect(t, put(`"stale"`, info), http.StatusPreconditionFailed)
	})
	t.Run("put", func(t *testing.T) {
		rec := put(etag, info)
		expect(t, rec, http.StatusOK)
		got := decodeJSON[mp1api.ServiceInfo](t, rec)
		require.Equal(t, id, *got.SerInstanceId, "got serInstanceId %q; want path id %q", *got.SerInstanceId, id)
		require.Equal(t, "2.0", got.Version)
		require.Equal(t, self, got.UnderscoreLinks.Self.Href)
		newTag := rec.Header().Get("ETag")
		require.NotEqual(t, etag, newTag, "ETag did not change on update")
		// The old ETag is now stale.
		expect(t, put(etag, info), http.StatusPreconditionFailed)
		etag = newTag
		rec = e.do(http.MethodGet, "/mec_service_mgmt/v1/services/"+id, tok, nil)
		require.Equal(t, etag, rec.Header().Get("ETag"))
		expect(t, e.do(http.MethodGet, "/mec_service_mgmt/v1/services/some-other-id", opToken, nil), http.StatusNotFound)
	})
	t.Run("put wildcard and unconditional", func(t *testing.T) {
		info.Version = "3.0"
		expect(t, put("*", info), http.StatusOK)
		info.Version = "4.0"
		expect(t, put("", info), http.StatusOK)
	})
	t.Run("put another app's service", func(t *testing.T) {
		tok2 := e.app("app2")
		rec := e.do(http.MethodPut, svcBase+"app2/services/"+id, tok2, info)
		expect(t, rec, http.StatusNotFound)
		expect(t, e.do(http.MethodDelete, svcBase+"app2/services/"+id, tok2, nil), http.StatusNotFound)
		expect(t, e.do(http.MethodGet, svcBase+"app2/services/"+id, tok2, nil), http.StatusNotFound)
	})
	t.Run("delete", func(t *testing.T) {
		expect(t, e.do(http.MethodDelete, svcBase+"app1/services/"+id, tok, nil), http.StatusNoContent)
		expect(t, e.do(http.MethodGet, "/mec_service_mgmt/v1/services/"+id, tok, nil), http.StatusNotFound)
		expect(t, e.do(http.MethodDelete, svcBase+"app1/services/"+id, tok, nil), http.StatusNotFound)
		expect(t, put("", info), http.StatusNotFound)
	})
}

func TestServicePostTransports(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	rec := e.do(http.MethodGet, "/mec_service_mgmt/v1/transports", tok, nil)
	expect(t, rec, http.StatusOK)
	ts := decodeJSON[[]mp1api.TransportInfo](t, rec)
	require.Len(t, ts, 1)
	require.Equal(t, "rest-http", ts[0].Id)
	require.Equal(t, mp1api.RESTHTTP, ts[0].Type)

	withInfo := servicePost("a")
	delete(withInfo, "transportId")
	withInfo["transportInfo"] = transportInfo()
	got := e.register("app1", tok, withInfo)
	require.Equal(t, "t1", got.TransportInfo.Id)
	require.Equal(t, []string{"http://10.0.0.5/api"}, *got.TransportInfo.Endpoint.Uris)

	both := servicePost("b")
	both["transportInfo"] = transportInfo()
	unknown := servicePost("c")
	unknown["transportId"] = "carrier-pigeon"
	neither := servicePost("d")
	delete(neither, "transportId")
	for name, b := range map[string]map[string]any{"both": both, "unknown transportId": unknown, "neither": neither} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.do(http.MethodPost, svcBase+"app1/services", tok, b), http.StatusBadRequest)
		})
	}
}

func TestServiceBadRequests(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	svc := e.register("app1", tok, servicePost("svc"))
	id := *svc.SerInstanceId
	with := func(k string, v any) map[string]any {
		b := servicePost("x")
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	put := func(k string, v any) map[string]any {
		b := map[string]any{"serName": "svc", "version": "1", "state": "ACTIVE", "serializer": "JSON", "transportInfo": transportInfo()}
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	tests := []struct {
		name   string
		method string
		body   any
	}{
		{"not json", http.MethodPost, `{"serName":`},
		{"empty body", http.MethodPost, ``},
		{"array body", http.MethodPost, `[]`},
		{"missing serName", http.MethodPost, with("serName", nil)},
		{"missing version", http.MethodPost, with("version", nil)},
		{"missing state", http.MethodPost, with("state", nil)},
		{"missing serializer", http.MethodPost, with("serializer", nil)},
		{"null serName", http.MethodPost, `{"serName":null,"version":"1","state":"ACTIVE","serializer":"JSON","transportId":"rest-http"}`},
		{"bad state", http.MethodPost, with("state", "SLEEPY")},
		{"bad serializer", http.MethodPost, with("serializer", "YAML")},
		{"bad scope", http.MethodPost, with("scopeOfLocality", "GALAXY")},
		{"wrong type", http.MethodPost, with("version", 7)},
		{"negative liveness", http.MethodPost, with("livenessInterval", -1)},
		{"incomplete category", http.MethodPost, with("serCategory", map[string]any{"id": "c"})},
		{"put missing transportInfo", http.MethodPut, put("transportInfo", nil)},
		{"put bad transport type", http.MethodPut, put("transportInfo", map[string]any{"id": "t", "name": "n", "type": "SMOKE", "protocol": "p", "version": "1", "endpoint": map[string]any{"uris": []string{"x"}}, "security": map[string]any{}})},
		{"put endpoint with two kinds", http.MethodPut, put("transportInfo", map[string]any{"id": "t", "name": "n", "type": "REST_HTTP", "protocol": "p", "version": "1", "endpoint": map[string]any{"uris": []string{"x"}, "addresses": []any{map[string]any{"host": "h", "port": 1}}}, "security": map[string]any{}})},
		{"put bad state", http.MethodPut, put("state", "x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := svcBase + "app1/services"
			if tt.method == http.MethodPut {
				path += "/" + id
			}
			expect(t, e.do(tt.method, path, tok, tt.body), http.StatusBadRequest)
		})
	}
	t.Run("unsupported media type", func(t *testing.T) {
		rec := e.serve(req{method: http.MethodPost, path: svcBase + "app1/services", token: tok, body: servicePost("x"),
			header: map[string]string{"Content-Type": "text/plain"}})
		expect(t, rec, http.StatusUnsupportedMediaType)
	})
	t.Run("body too large", func(t *testing.T) {
		big := `{"serName":"` + strings.Repeat("a", 1<<20) + `"}`
		expect(t, e.do(http.MethodPost, svcBase+"app1/services", tok, big), http.StatusRequestEntityTooLarge)
		// Without a Content-Length (chunked), the limit applies to the bytes read.
		for _, n := range []int{1 << 20, 3 << 20} {
			big := `{"serName":"x","version":"1","state":"ACTIVE","serializer":"JSON","transportId":"rest-http","x":"` +
				strings.Repeat("a", n) + `"}`
			hr := httptest.NewRequestWithContext(t.Context(), http.MethodPost, svcBase+"app1/services", io.MultiReader(strings.NewReader(big)))
			hr.Header.Set("Content-Type", "application/json")
			hr.Header.Set("Authorization", "Bearer "+tok)
			require.EqualValues(t, -1, hr.ContentLength)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, hr)
			expect(t, rec, http.StatusRequestEntityTooLarge)
		}
	})
	t.Run("too many services", func(t *testing.T) {
		e := newEnv(t, func(c *platform.Config, _ *httpapi.Config) { c.MaxServicesPerApp = 2 })
		tok := e.app("app1")
		a := e.register("app1", tok, servicePost("a"))
		e.register("app1", tok, servicePost("b"))
		expect(t, e.do(http.MethodPost, svcBase+"app1/services", tok, servicePost("c")), http.StatusTooManyRequests)
		// An update keeps the count; a deregistration frees a place; another app has its own.
		a.SerName = "a2"
		expect(t, e.do(http.MethodPut, svcBase+"app1/services/"+*a.SerInstanceId, tok, a), http.StatusOK)
		expect(t, e.do(http.MethodPost, svcBase+"app1/services", tok, servicePost("c")), http.StatusTooManyRequests)
		expect(t, e.do(http.MethodDelete, svcBase+"app1/services/"+*a.SerInstanceId, tok, nil), http.StatusNoContent)
		e.register("app1", tok, servicePost("c"))
		expect(t, e.do(http.MethodPost, svcBase+"app1/services", tok, servicePost("d")), http.StatusTooManyRequests)
		tok2 := e.app("app2")
		e.register("app2", tok2, servicePost("a"))
		e.register("app2", tok2, servicePost("b"))
	})
}

// TestDiscovery covers visibility (own services plus declared dependencies; the operator sees
// all) and every filter of ETSI GS MEC 011 §8.2.3.3.1, AND-ed.
func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	tokP := e.app("producer")
	consumer := appSpec("consumer")
	consumer["appServiceRequired"] = []any{map[string]any{"serName": "loc", "version": "1"}}
	consumer["appServiceOptional"] = []any{map[string]any{"serName": "x", "version": "1",
		"serCategory": map[string]any{"href": "h", "id": "cat-rni", "name": "RNI", "version": "1"}}}
	e.putApp("consumer", consumer)
	tokC := e.token("consumer")
	tokO := e.app("outsider")

	cat := func(id string) map[string]any {
		return map[string]any{"href": "http://cat/" + id, "id": id, "name": id, "version": "1"}
	}
	reg := func(name string, extra map[string]any) string {
		b := servicePost(name)
		for k, v := range extra {
			b[k] = v
		}
		return *e.register("producer", tokP, b).SerInstanceId
	}
	locID := reg("loc", map[string]any{"isLocal": true, "scopeOfLocality": "MEC_HOST", "consumedLocalOnly": true})
	rniID := reg("rni", map[string]any{"serCategory": cat("cat-rni"), "isLocal": false, "scopeOfLocality": "ZONE"})
	reg("wlan", map[string]any{"serCategory": cat("cat-wlan"), "isLocal": true, "scopeOfLocality": "MEC_HOST"})
	ownID := *e.register("consumer", tokC, servicePost("own")).SerInstanceId

	list := func(t *testing.T, token, query string) []string {
		t.Helper()
		rec := e.do(http.MethodGet, "/mec_service_mgmt/v1/services"+query, token, nil)
		expect(t, rec, http.StatusOK)
		got := serNames(decodeJSON[[]mp1api.ServiceInfo](t, rec))
		return got
	}
	byName := map[string]string{"loc": locID, "rni": rniID, "own": ownID}
	tests := []struct {
		name  string
		token string
		query string
		want  []string
	}{
		{"operator sees all", opToken, "", []string{"loc", "rni", "wlan", "own"}},
		{"consumer sees own, required by name, optional by category", tokC, "", []string{"loc", "rni", "own"}},
		{"outsider sees nothing", tokO, "", []string{}},
		{"producer sees its own", tokP, "", []string{"loc", "rni", "wlan"}},
		{"ser_name", opToken, "?ser_name=rni", []string{"rni"}},
		{"ser_name comma list", opToken, "?ser_name=rni,wlan", []string{"rni", "wlan"}},
		{"ser_name repeated", opToken, "?ser_name=rni&ser_name=loc", []string{"loc", "rni"}},
		{"ser_name repeated twice same", opToken, "?ser_name=rni&ser_name=rni", []string{"rni"}},
		{"ser_name unknown", opToken, "?ser_name=nope", []string{}},
		{"ser_name respects visibility", tokC, "?ser_name=wlan,loc", []string{"loc"}},
		{"ser_instance_id", opToken, "?ser_instance_id=" + rniID, []string{"rni"}},
		{"ser_instance_id list", opToken, "?ser_instance_id=" + rniID + "," + locID, []string{"loc", "rni"}},
		{"ser_category_id", opToken, "?ser_category_id=cat-wlan", []string{"wlan"}},
		{"is_local", opToken, "?is_local=true", []string{"loc", "wlan"}},
		{"is_local false includes absent", opToken, "?is_local=false", []string{"rni", "own"}},
		{"consumed_local_only", opToken, "?consumed_local_only=true", []string{"loc"}},
		{"scope_of_locality", opToken, "?scope_of_locality=MEC_HOST", []string{"loc", "wlan"}},
		{"and-ed", opToken, "?is_local=true&scope_of_locality=MEC_HOST&ser_category_id=cat-wlan", []string{"wlan"}},
		{"and-ed empty", opToken, "?ser_name=rni&is_local=true", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ElementsMatch(t, tt.want, list(t, tt.token, tt.query))
		})
	}
	t.Run("get one respects visibility", func(t *testing.T) {
		expect(t, e.do(http.MethodGet, "/mec_service_mgmt/v1/services/"+byName["rni"], tokC, nil), http.StatusOK)
		expect(t, e.do(http.MethodGet, "/mec_service_mgmt/v1/services/"+byName["rni"], tokO, nil), http.StatusNotFound)
		expect(t, e.do(http.MethodGet, "/mec_service_mgmt/v1/services/nope", opToken, nil), http.StatusNotFound)
	})
	t.Run("registration declares dependencies", func(t *testing.T) {
		rec := e.do(http.MethodPost, "/mec_app_support/v1/registrations", tokO, map[string]any{
			"appName": "outsider", "appInstanceId": "outsider",
			"appServiceRequired": []any{map[string]any{"serName": "wlan", "version": "1"}}})
		expect(t, rec, http.StatusCreated)
		require.ElementsMatch(t, []string{"wlan"}, list(t, tokO, ""))
	})
	t.Run("app services lists the producer's only", func(t *testing.T) {
		rec := e.do(http.MethodGet, svcBase+"producer/services?ser_name=loc,rni,own", opToken, nil)
		expect(t, rec, http.StatusOK)
		require.ElementsMatch(t, []string{"loc", "rni"}, serNames(decodeJSON[[]mp1api.ServiceInfo](t, rec)))
		expect(t, e.do(http.MethodGet, svcBase+"ghost/services", opToken, nil), http.StatusNotFound)
	})
	for _, q := range []string{
		"?ser_name=a&ser_instance_id=b",
		"?ser_name=a&ser_category_id=b",
		"?ser_instance_id=a&ser_category_id=b",
		"?scope_of_locality=GALAXY",
		"?is_local=maybe",
		"?consumed_local_only=2x",
		"?sort=name",
		"?ser_name=a&limit=3",
		"?ser_name=",
		"?ser_name=,",
		"?ser_instance_id=",
	} {
		t.Run("bad query "+q, func(t *testing.T) {
			expect(t, e.do(http.MethodGet, "/mec_service_mgmt/v1/services"+q, opToken, nil), http.StatusBadRequest)
			expect(t, e.do(http.MethodGet, svcBase+"producer/services"+q, opToken, nil), http.StatusBadRequest)
		})
	}
}

func TestLiveness(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	tokC := e.app("consumer")
	e.subscribe("consumer", tokC, "http://cb.test/consumer", nil) // consumer sees app1's services? no: not declared
	e.subscribe("app1", tok, "http://cb.test/app1", nil)

	b := servicePost("hb")
	b["livenessInterval"] = 10
	svc := e.register("app1", tok, b)
	id := *svc.SerInstanceId
	live := svcBase + "app1/services/" + id + "/liveness"
	require.NotNil(t, svc.UnderscoreLinks.Liveness)
	require.Equal(t, apiRoot+live, svc.UnderscoreLinks.Liveness.Href)
	noLive := *e.register("app1", tok, servicePost("plain")).SerInstanceId

	rec := e.do(http.MethodGet, live, tok, nil)
	expect(t, rec, http.StatusOK)
	info := decodeJSON[mp1api.ServiceLivenessInfo](t, rec)
	require.Equal(t, 10, info.Interval)
	require.Equal(t, mp1api.ServiceStateACTIVE, info.State)
	require.Equal(t, e.clock.Now().Unix(), info.TimeStamp.Seconds)

	t.Run("errors", func(t *testing.T) {
		expect(t, e.do(http.MethodGet, svcBase+"app1/services/"+noLive+"/liveness", tok, nil), http.StatusNotFound)
		expect(t, e.do(http.MethodGet, svcBase+"app1/services/nope/liveness", tok, nil), http.StatusNotFound)
		expect(t, e.do(http.MethodPatch, live, tok, map[string]any{}), http.StatusBadRequest)
		expect(t, e.do(http.MethodPatch, live, tok, map[string]any{"state": "DEAD"}), http.StatusBadRequest)
		expect(t, e.do(http.MethodPatch, live, tok, `nope`), http.StatusBadRequest)
	})

	// Heartbeats within the interval keep it ACTIVE.
	e.clock.Advance(9 * time.Second)
	rec = e.do(http.MethodPatch, live, tok, map[string]any{"state": "ACTIVE"})
	expect(t, rec, http.StatusOK)
	require.Equal(t, e.clock.Now().Unix(), decodeJSON[mp1api.ServiceLivenessInfo](t, rec).TimeStamp.Seconds)
	e.clock.Advance(14 * time.Second) // within 1.5 × 10 s of the last heartbeat
	e.site.CheckLiveness(t.Context())
	rec = e.do(http.MethodGet, live, tok, nil)
	require.Equal(t, mp1api.ServiceStateACTIVE, decodeJSON[mp1api.ServiceLivenessInfo](t, rec).State)
	require.NotContains(t, e.serviceNotifications(), "STATE_CHANGED hb INACTIVE http://cb.test/app1")

	// Silence past the grace turns it INACTIVE with a STATE_CHANGED notification.
	e.clock.Advance(2 * time.Second)
	e.site.CheckLiveness(t.Context())
	rec = e.do(http.MethodGet, live, tok, nil)
	require.Equal(t, mp1api.ServiceStateINACTIVE, decodeJSON[mp1api.ServiceLivenessInfo](t, rec).State)
	rec = e.do(http.MethodGet, "/mec_service_mgmt/v1/services/"+id, tok, nil)
	require.Equal(t, mp1api.ServiceStateINACTIVE, decodeJSON[mp1api.ServiceInfo](t, rec).State)
	require.Contains(t, e.serviceNotifications(), "STATE_CHANGED hb INACTIVE http://cb.test/app1")
	require.NotContains(t, e.serviceNotifications(), "STATE_CHANGED hb INACTIVE http://cb.test/consumer",
		"a subscriber that may not see the service got its notification")

	// A heartbeat brings it back.
	rec = e.do(http.MethodPatch, live, tok, map[string]any{"state": "ACTIVE"})
	expect(t, rec, http.StatusOK)
	require.Equal(t, mp1api.ServiceStateACTIVE, decodeJSON[mp1api.ServiceLivenessInfo](t, rec).State)
	require.Contains(t, e.serviceNotifications(), "STATE_CHANGED hb ACTIVE http://cb.test/app1")
	// PATCH INACTIVE takes it down at once.
	rec = e.do(http.MethodPatch, live, tok, map[string]any{"state": "INACTIVE"})
	expect(t, rec, http.StatusOK)
	require.Equal(t, mp1api.ServiceStateINACTIVE, decodeJSON[mp1api.ServiceLivenessInfo](t, rec).State)
}

func TestServiceNotificationsQueued(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	e.subscribe("app1", tok, "http://cb.test/all", nil)
	e.subscribe("app1", tok, "http://cb.test/inactive", map[string]any{"states": []string{"INACTIVE"}})
	e.subscribe("app1", tok, "http://cb.test/named", map[string]any{"serNames": []string{"b"}})

	a := e.register("app1", tok, servicePost("a"))
	require.ElementsMatch(t, []string{"ADDED a ACTIVE http://cb.test/all"}, e.serviceNotifications())

	info := a
	info.State = mp1api.ServiceStateINACTIVE
	rec := e.do(http.MethodPut, svcBase+"app1/services/"+*a.SerInstanceId, tok, info)
	expect(t, rec, http.StatusOK)
	info.Version = "9"
	expect(t, e.do(http.MethodPut, svcBase+"app1/services/"+*a.SerInstanceId, tok, info), http.StatusOK)
	expect(t, e.do(http.MethodDelete, svcBase+"app1/services/"+*a.SerInstanceId, tok, nil), http.StatusNoContent)
	require.ElementsMatch(t, []string{
		"ADDED a ACTIVE http://cb.test/all",
		"STATE_CHANGED a INACTIVE http://cb.test/all", "STATE_CHANGED a INACTIVE http://cb.test/inactive",
		"ATTRIBUTES_CHANGED a INACTIVE http://cb.test/all", "ATTRIBUTES_CHANGED a INACTIVE http://cb.test/inactive",
		"REMOVED a INACTIVE http://cb.test/all", "REMOVED a INACTIVE http://cb.test/inactive",
	}, e.serviceNotifications())
}

// TestRegisterTransportInfoWithoutSecurity: MEC 011 requires transportInfo.security, but
// apps leave it out when the transport needs no credentials (the sample app does); the MEP
// takes it as an empty SecurityInfo, as it did before requests were validated against the
// spec.
func TestRegisterTransportInfoWithoutSecurity(t *testing.T) {
	e := newEnv(t)
	e.putApp("app1", appSpec("app1"))
	tok := e.token("app1")
	body := servicePost("svc")
	delete(body, "transportId")
	ti := transportInfo()
	delete(ti, "security")
	body["transportInfo"] = ti
	rec := e.do(http.MethodPost, "/mec_service_mgmt/v1/applications/app1/services", tok, body)
	expect(t, rec, http.StatusCreated)
}
