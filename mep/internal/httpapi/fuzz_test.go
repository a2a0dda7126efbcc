package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgemec/edgemec/internal/problem"
)

// checkResponse: no 5xx, and every error is a ProblemDetails with status and detail.
func checkResponse(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("got status %d: %s", rec.Code, rec.Body.String())
	}
	if rec.Code < 400 {
		return
	}
	if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("got Content-Type %q on %d; want %q", ct, rec.Code, problem.ContentType)
	}
	var p problem.Details
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code || p.Detail == "" {
		t.Fatalf("bad problem body on %d: %s", rec.Code, rec.Body.String())
	}
}

// FuzzMm5AppInstance sends arbitrary bodies to PUT /mepm/v1/app_instances/{id} through the
// whole HTTP layer (media type, body limit, V2.1.1 dstInterface normalisation, required
// fields, validation, the site, the store).
func FuzzMm5AppInstance(f *testing.F) {
	seeds := []string{
		`{"appName":"a","appProvider":"p","appDId":"d"}`,
		string(mustMarshal(appSpec("x"))),
		`{"appName":"a","appProvider":"p","appDId":"d","appTrafficRule":[{"trafficRuleId":"t","filterType":"FLOW","priority":1,"trafficFilter":[{}],"action":"DROP","dstInterface":{"interfaceType":"IP"}}]}`,
		`{"appName":"a","appProvider":"p","appDId":"d","appTrafficRule":[{"trafficRuleId":"t","filterType":"FLOW","trafficFilter":[{}],"action":"DROP"}]}`,
		`{"appName":"a","appProvider":"p","appDId":"d","appTrafficRule":null,"appDNSRule":[{"dnsRuleId":"d","domainName":"a.b","ipAddressType":"IP_V6","ipAddress":"::1","state":"INACTIVE"}]}`,
		`{"appName":"a","appProvider":"p","appDId":"d","appTrafficRule":[1]}`,
		`{"appName":"a","appProvider":"p","appDId":"d","appDNSRule":{}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	e := newEnv(f) // one env (and SQLite store) per fuzzing process
	f.Fuzz(func(t *testing.T, b []byte) {
		e.t = t
		rec := e.serve(req{method: http.MethodPut, path: "/mepm/v1/app_instances/fuzz", token: opToken, body: b})
		checkResponse(t, rec)
		if rec.Code == http.StatusOK || rec.Code == http.StatusCreated {
			// What was accepted can be read back and fed back in unchanged.
			got := e.do(http.MethodGet, "/mepm/v1/app_instances/fuzz", opToken, nil)
			if got.Code != http.StatusOK {
				t.Fatalf("GET after PUT: %d", got.Code)
			}
			again := e.serve(req{method: http.MethodPut, path: "/mepm/v1/app_instances/fuzz", token: opToken, body: got.Body.Bytes()})
			if again.Code != http.StatusOK {
				t.Fatalf("own representation rejected: %d %s", again.Code, again.Body.String())
			}
			checkResponse(t, e.do(http.MethodGet, "/mepm/v1/feeds/traffic_rules?timeout=0", opToken, nil))
		}
	})
}

// FuzzMp1Bodies sends arbitrary bodies to every Mp1 route that takes one, through the whole
// HTTP layer. route selects the target.
func FuzzMp1Bodies(f *testing.F) {
	type route struct{ method, path string }
	routes := []route{
		{http.MethodPost, svcBase + "app1/services"},
		{http.MethodPut, svcBase + "app1/services/SVC"},
		{http.MethodPatch, svcBase + "app1/services/SVC/liveness"},
		{http.MethodPost, svcBase + "app1/subscriptions"},
		{http.MethodPut, supBase + "app1/traffic_rules/tr1"},
		{http.MethodPut, supBase + "app1/dns_rules/dns1"},
		{http.MethodPost, supBase + "app1/subscriptions"},
		{http.MethodPost, supBase + "app1/confirm_ready"},
		{http.MethodPost, supBase + "app1/confirm_termination"},
		{http.MethodPost, "/mec_app_support/v1/registrations"},
		{http.MethodPut, "/mec_app_support/v1/registrations/app1"},
	}
	seeds := []string{
		string(mustMarshal(servicePost("s"))),
		`{"serName":"s","version":"1","state":"ACTIVE","serializer":"JSON","transportInfo":{"id":"t1","name":"http","type":"REST_HTTP","protocol":"HTTP","version":"1.1","endpoint":{"uris":["http://x"]},"security":{}}}`,
		`{"state":"ACTIVE"}`,
		`{"subscriptionType":"SerAvailabilityNotificationSubscription","callbackReference":"http://cb/x","filteringCriteria":{"serNames":["s"]}}`,
		string(mustMarshal(trafficRule("tr1"))),
		`{"trafficRuleId":"tr1","filterType":"FLOW","priority":1,"trafficFilter":[{}],"action":"DROP","state":"ACTIVE","dstInterface":{"interfaceType":"TUNNEL","tunnelInfo":{"tunnelType":"GRE"}}}`,
		string(mustMarshal(dnsRule("dns1"))),
		`{"subscriptionType":"AppTerminationNotificationSubscription","callbackReference":"http://cb/x","appInstanceId":"app1"}`,
		`{"indication":"READY"}`,
		`{"operationAction":"TERMINATING"}`,
		`{"appName":"a","appInstanceId":"app1","endpoint":{"uris":["http://x"]}}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	e := newEnv(f)
	tok := e.app("app1")
	svcBody := servicePost("fuzz")
	svcBody["livenessInterval"] = 60
	svc := *e.register("app1", tok, svcBody).SerInstanceId
	f.Fuzz(func(t *testing.T, r uint8, b []byte) {
		e.t = t
		rt := routes[int(r)%len(routes)]
		path := string(bytes.ReplaceAll([]byte(rt.path), []byte("SVC"), []byte(svc)))
		rec := e.serve(req{method: rt.method, path: path, token: tok, body: b})
		checkResponse(t, rec)
		if rt.method == http.MethodPost && rec.Code == http.StatusCreated && path == svcBase+"app1/services" {
			loc := rec.Header().Get("Location")
			del := e.do(http.MethodDelete, loc[len(apiRoot):], tok, nil)
			if del.Code != http.StatusNoContent {
				t.Fatalf("delete of a created service: %d", del.Code)
			}
		}
		if rec.Code == http.StatusCreated && rt.path == "/mec_app_support/v1/registrations" {
			e.do(http.MethodDelete, "/mec_app_support/v1/registrations/app1", tok, nil)
		}
	})
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
