package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

func TestMm5AppInstances(t *testing.T) {
	e := newEnv(t)
	const p = "/mepm/v1/app_instances/"

	rec := e.do(http.MethodPut, p+"app1", opToken, appSpec("app1"))
	expect(t, rec, http.StatusCreated)
	require.Equal(t, apiRoot+p+"app1", rec.Header().Get("Location"))
	r := decodeJSON[mm5api.AppInstanceRecord](t, rec)
	require.Equal(t, "app1", r.AppInstanceId)
	require.Equal(t, mm5api.INSTANTIATED, r.State)
	require.Equal(t, apiRoot, r.Mp1Root)
	require.Equal(t, "app1", r.Credentials.ClientId)
	require.Equal(t, e.secret("app1"), r.Credentials.ClientSecret)
	require.Equal(t, apiRoot+"/oauth2/token", r.Credentials.TokenEndpoint)
	require.Len(t, *r.AppTrafficRule, 1)
	require.Len(t, *r.AppDNSRule, 1)
	require.Equal(t, mp1api.RuleStateACTIVE, (*r.AppTrafficRule)[0].State)
	tok := e.token("app1")

	t.Run("replace keeps Mp1 rule state", func(t *testing.T) {
		tr := trafficRule("tr1")
		tr["state"] = "INACTIVE"
		expect(t, e.do(http.MethodPut, supBase+"app1/traffic_rules/tr1", tok, tr), http.StatusOK)
		dr := dnsRule("dns1")
		dr["state"] = "INACTIVE"
		expect(t, e.do(http.MethodPut, supBase+"app1/dns_rules/dns1", tok, dr), http.StatusOK)

		rec := e.do(http.MethodPut, p+"app1", opToken, appSpec("app1"))
		expect(t, rec, http.StatusOK)
		require.Empty(t, rec.Header().Get("Location"))
		r := decodeJSON[mm5api.AppInstanceRecord](t, rec)
		require.Equal(t, mp1api.RuleStateINACTIVE, (*r.AppTrafficRule)[0].State, "replace reset the Mp1-set traffic rule state")
		require.Equal(t, mp1api.RuleStateINACTIVE, (*r.AppDNSRule)[0].State, "replace reset the Mp1-set DNS rule state")
		require.Equal(t, "FORWARD_DECAPSULATED", string((*r.AppTrafficRule)[0].Action), "replace applies the spec's other fields")

		spec := appSpec("app1")
		spec["appTrafficRule"].([]any)[0].(map[string]any)["state"] = "ACTIVE"
		spec["appDNSRule"].([]any)[0].(map[string]any)["state"] = "ACTIVE"
		r = decodeJSON[mm5api.AppInstanceRecord](t, e.do(http.MethodPut, p+"app1", opToken, spec))
		require.Equal(t, mp1api.RuleStateACTIVE, (*r.AppTrafficRule)[0].State, "an explicit state in the spec wins")
		require.Equal(t, mp1api.RuleStateACTIVE, (*r.AppDNSRule)[0].State)
		// The app's credentials are stable across replace.
		require.Equal(t, e.secret("app1"), r.Credentials.ClientSecret)
	})
	t.Run("V2.1.1 dstInterface object", func(t *testing.T) {
		spec := appSpec("app2")
		spec["appTrafficRule"].([]any)[0].(map[string]any)["dstInterface"] = map[string]any{"interfaceType": "IP", "dstIpAddress": "10.0.0.9"}
		rec := e.do(http.MethodPut, p+"app2", opToken, spec)
		expect(t, rec, http.StatusCreated)
		r := decodeJSON[mm5api.AppInstanceRecord](t, rec)
		d := (*r.AppTrafficRule)[0].DstInterface
		require.NotNil(t, d)
		require.Equal(t, "10.0.0.9", *(*d)[0].DstIpAddress)
	})
	t.Run("get and list", func(t *testing.T) {
		rec := e.do(http.MethodGet, p+"app1", opToken, nil)
		expect(t, rec, http.StatusOK)
		require.Equal(t, "app1", decodeJSON[mm5api.AppInstanceRecord](t, rec).AppInstanceId)
		rec = e.do(http.MethodGet, "/mepm/v1/app_instances", opToken, nil)
		expect(t, rec, http.StatusOK)
		list := decodeJSON[[]mm5api.AppInstanceRecord](t, rec)
		var got []string
		for _, r := range list {
			got = append(got, r.AppInstanceId)
			require.NotEmpty(t, r.Credentials.ClientSecret)
		}
		require.ElementsMatch(t, []string{"app1", "app2"}, got)
		expect(t, e.do(http.MethodGet, p+"ghost", opToken, nil), http.StatusNotFound)
	})

	del := func(k string) map[string]any { s := appSpec("x"); delete(s, k); return s }
	rule := func(k string, v any) map[string]any {
		s := appSpec("x")
		if v == nil {
			delete(s["appTrafficRule"].([]any)[0].(map[string]any), k)
		} else {
			s["appTrafficRule"].([]any)[0].(map[string]any)[k] = v
		}
		return s
	}
	dnsDel := func(k string) map[string]any {
		s := appSpec("x")
		delete(s["appDNSRule"].([]any)[0].(map[string]any), k)
		return s
	}
	dup := appSpec("x")
	dup["appDNSRule"] = append(dup["appDNSRule"].([]any), dup["appDNSRule"].([]any)[0])
	bad := []struct {
		name, id string
		body     any
	}{
		{"not json", "x", `{"appName"`},
		{"array", "x", `[]`},
		{"missing appName", "x", del("appName")},
		{"missing appProvider", "x", del("appProvider")},
		{"missing appDId", "x", del("appDId")},
		{"rule missing priority", "x", rule("priority", nil)},
		{"rule missing trafficFilter", "x", rule("trafficFilter", nil)},
		{"rule bad action", "x", rule("action", "EXPLODE")},
		{"rule bad state", "x", rule("state", "HALF")},
		{"dns missing ipAddress", "x", dnsDel("ipAddress")},
		{"duplicate dns rule id", "x", dup},
		{"rules not an array", "x", map[string]any{"appName": "a", "appProvider": "b", "appDId": "c", "appTrafficRule": map[string]any{}}},
		{"bad id", "bad%20id", appSpec("x")},
		{"dependency without serName", "x", map[string]any{"appName": "a", "appProvider": "b", "appDId": "c", "appServiceRequired": []any{map[string]any{"version": "1"}}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, e.do(http.MethodPut, p+tt.id, opToken, tt.body), http.StatusBadRequest)
			expect(t, e.do(http.MethodGet, p+"x", opToken, nil), http.StatusNotFound)
		})
	}
	t.Run("graceful_timeout out of range", func(t *testing.T) {
		expect(t, e.do(http.MethodDelete, p+"app1?graceful_timeout=3601", opToken, nil), http.StatusBadRequest)
		expect(t, e.do(http.MethodDelete, p+"app1?graceful_timeout=-1", opToken, nil), http.StatusBadRequest)
		expect(t, e.do(http.MethodDelete, p+"app1?graceful_timeout=soon", opToken, nil), http.StatusBadRequest)
		expect(t, e.do(http.MethodDelete, p+"app1?force=true", opToken, nil), http.StatusBadRequest)
	})
}

// TestTermination drives the graceful termination flow: AppTerminationNotification queued,
// confirm_termination checked against the pending action, services removed with REMOVED
// notifications, instance gone.
func TestTermination(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	consumer := appSpec("consumer")
	consumer["appServiceRequired"] = []any{map[string]any{"serName": "svc", "version": "1"}}
	e.putApp("consumer", consumer)
	tokC := e.token("consumer")
	e.subscribe("consumer", tokC, "http://cb.test/consumer", nil)
	e.register("app1", tok, servicePost("svc"))
	confirm := supBase + "app1/confirm_termination"

	expect(t, e.do(http.MethodPost, confirm, tok, map[string]any{"operationAction": "TERMINATING"}), http.StatusConflict)
	expect(t, e.do(http.MethodPost, confirm, tok, map[string]any{"operationAction": "EXPLODING"}), http.StatusBadRequest)
	expect(t, e.do(http.MethodPost, confirm, tok, map[string]any{}), http.StatusBadRequest)

	rec := e.do(http.MethodPost, supBase+"app1/subscriptions", tok, map[string]any{
		"subscriptionType": "AppTerminationNotificationSubscription", "callbackReference": "http://cb.test/term", "appInstanceId": "app1"})
	expect(t, rec, http.StatusCreated)
	subLoc := rec.Header().Get("Location")

	rec = e.do(http.MethodDelete, "/mepm/v1/app_instances/app1?graceful_timeout=30", opToken, nil)
	expect(t, rec, http.StatusAccepted)
	r := decodeJSON[mm5api.AppInstanceRecord](t, rec)
	require.Equal(t, mm5api.TERMINATING, r.State)
	require.NotNil(t, r.TerminationDeadline)
	require.Equal(t, e.clock.Now().Add(30*time.Second), r.TerminationDeadline.UTC())

	var note map[string]any
	for _, n := range e.pending() {
		if n["notificationType"] == "AppTerminationNotification" {
			note = n
		}
	}
	require.NotNil(t, note, "no AppTerminationNotification queued")
	require.Equal(t, "http://cb.test/term", note["_url"])
	require.Equal(t, "TERMINATING", note["operationAction"])
	require.EqualValues(t, 30, note["maxGracefulTimeout"])
	links := note["_links"].(map[string]any)
	require.Equal(t, subLoc, links["subscription"].(map[string]any)["href"])
	require.Equal(t, apiRoot+confirm, links["confirmTermination"].(map[string]any)["href"])

	// While terminating: a second DELETE is idempotent, new registrations and re-provisioning are refused.
	expect(t, e.do(http.MethodDelete, "/mepm/v1/app_instances/app1", opToken, nil), http.StatusAccepted)
	expect(t, e.do(http.MethodPost, svcBase+"app1/services", tok, servicePost("late")), http.StatusConflict)
	expect(t, e.do(http.MethodPut, "/mepm/v1/app_instances/app1", opToken, appSpec("app1")), http.StatusConflict)
	expect(t, e.do(http.MethodPost, supBase+"app1/confirm_ready", tok, map[string]any{"indication": "READY"}), http.StatusConflict)

	expect(t, e.do(http.MethodPost, confirm, tok, map[string]any{"operationAction": "STOPPING"}), http.StatusConflict)
	expect(t, e.do(http.MethodPost, confirm, tok, map[string]any{"operationAction": "TERMINATING"}), http.StatusNoContent)

	expect(t, e.do(http.MethodGet, "/mepm/v1/app_instances/app1", opToken, nil), http.StatusNotFound)
	require.Contains(t, e.serviceNotifications(), "REMOVED svc ACTIVE http://cb.test/consumer")
	rec = e.do(http.MethodGet, "/mec_service_mgmt/v1/services?ser_name=svc", opToken, nil)
	require.JSONEq(t, `[]`, rec.Body.String())
	feed := decodeJSON[mm5api.TrafficRuleSnapshot](t, e.do(http.MethodGet, "/mepm/v1/feeds/traffic_rules", opToken, nil))
	for _, r := range feed.Rules {
		require.NotEqual(t, "app1", r.AppInstanceId, "the terminated app's rules are still in the feed")
	}
}

func TestTerminationTimeout(t *testing.T) {
	e := newEnv(t)
	termSubscribed(t, e, "app1")
	expect(t, e.do(http.MethodDelete, "/mepm/v1/app_instances/app1", opToken, nil), http.StatusAccepted)

	e.clock.Advance(9 * time.Second) // default graceful timeout is 10 s
	e.site.ReapTerminations(t.Context())
	expect(t, e.do(http.MethodGet, "/mepm/v1/app_instances/app1", opToken, nil), http.StatusOK)
	e.clock.Advance(time.Second)
	e.site.ReapTerminations(t.Context())
	expect(t, e.do(http.MethodGet, "/mepm/v1/app_instances/app1", opToken, nil), http.StatusNotFound)
}

func TestFeeds(t *testing.T) {
	for _, kind := range []string{"traffic_rules", "dns_rules"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t)
			tok := e.app("app1")
			path := "/mepm/v1/feeds/" + kind
			version := func(rec *httptest.ResponseRecorder) (int64, int) {
				t.Helper()
				if kind == "traffic_rules" {
					s := decodeJSON[mm5api.TrafficRuleSnapshot](t, rec)
					return s.Version, len(s.Rules)
				}
				s := decodeJSON[mm5api.DnsRuleSnapshot](t, rec)
				return s.Version, len(s.Rules)
			}
			rec := e.do(http.MethodGet, path, opToken, nil)
			expect(t, rec, http.StatusOK)
			v, n := version(rec)
			require.Positive(t, v)
			require.Equal(t, 1, n)

			// An older version answers at once.
			start := time.Now()
			rec = e.do(http.MethodGet, path+"?after="+strconv.FormatInt(v-1, 10)+"&timeout=60", opToken, nil)
			require.Less(t, time.Since(start), 5*time.Second)
			got, _ := version(rec)
			require.Equal(t, v, got)

			// Unchanged: the snapshot comes back after the timeout.
			start = time.Now()
			rec = e.do(http.MethodGet, path+"?after="+strconv.FormatInt(v, 10)+"&timeout=1", opToken, nil)
			require.GreaterOrEqual(t, time.Since(start), time.Second, "returned before the timeout")
			got, _ = version(rec)
			require.Equal(t, v, got)

			// A waiting request returns promptly after a change.
			done := make(chan *httptest.ResponseRecorder, 1)
			go func() {
				done <- e.do(http.MethodGet, path+"?after="+strconv.FormatInt(v, 10)+"&timeout=60", opToken, nil)
			}()
			// Give the poller a moment to start waiting; correctness does not depend on it (an
			// early change answers at once too), only what the test exercises.
			time.Sleep(50 * time.Millisecond)
			changed := time.Now()
			if kind == "traffic_rules" {
				b := trafficRule("tr1")
				b["state"] = "INACTIVE"
				expect(t, e.do(http.MethodPut, supBase+"app1/traffic_rules/tr1", tok, b), http.StatusOK)
			} else {
				b := dnsRule("dns1")
				b["state"] = "INACTIVE"
				expect(t, e.do(http.MethodPut, supBase+"app1/dns_rules/dns1", tok, b), http.StatusOK)
			}
			select {
			case rec := <-done:
				require.Less(t, time.Since(changed), 5*time.Second)
				expect(t, rec, http.StatusOK)
				got, _ := version(rec)
				require.Equal(t, v+1, got, "got version %d; want %d", got, v+1)
			case <-time.After(10 * time.Second):
				t.Fatal("long poll did not return after a change")
			}

			for _, q := range []string{"?timeout=61", "?timeout=-1", "?after=x", "?since=3"} {
				expect(t, e.do(http.MethodGet, path+q, opToken, nil), http.StatusBadRequest)
			}
		})
	}
}

func TestDNSConflicts(t *testing.T) {
	e := newEnv(t)
	rec := e.do(http.MethodGet, "/mepm/v1/dns/conflicts", opToken, nil)
	expect(t, rec, http.StatusOK)
	require.JSONEq(t, `[]`, rec.Body.String())

	e.conflicts = []mm5api.DnsConflict{{DomainName: "a.example",
		Winner: mm5api.DnsRuleRef{AppInstanceId: "app1", DnsRuleId: "r1"},
		Losers: []mm5api.DnsRuleRef{{AppInstanceId: "app2", DnsRuleId: "r9"}}}}
	rec = e.do(http.MethodGet, "/mepm/v1/dns/conflicts", opToken, nil)
	expect(t, rec, http.StatusOK)
	require.Equal(t, e.conflicts, decodeJSON[[]mm5api.DnsConflict](t, rec))
}

// TestTerminationTimeoutZero: graceful_timeout=0 terminates at once, even with a
// termination subscriber, and queues no AppTerminationNotification nobody would wait for.
func TestTerminationTimeoutZero(t *testing.T) {
	e := newEnv(t)
	termSubscribed(t, e, "app1")

	expect(t, e.do(http.MethodDelete, "/mepm/v1/app_instances/app1?graceful_timeout=0", opToken, nil), http.StatusAccepted)
	expect(t, e.do(http.MethodGet, "/mepm/v1/app_instances/app1", opToken, nil), http.StatusNotFound)
	for _, n := range e.pending() {
		require.NotEqual(t, "AppTerminationNotification", n["notificationType"], "a termination notification was queued")
	}
}

// termSubscribed provisions app and subscribes it to its own termination notifications.
func termSubscribed(t *testing.T, e *env, app string) {
	t.Helper()
	tok := e.app(app)
	rec := e.do(http.MethodPost, supBase+app+"/subscriptions", tok, map[string]any{
		"subscriptionType": "AppTerminationNotificationSubscription", "callbackReference": "http://cb.test/term", "appInstanceId": app})
	expect(t, rec, http.StatusCreated)
}

// TestMm5EmptyRuleStateIsLeftOut: the Go wire types of the rules cannot omit state, so a Go
// client (the orchestrator's reconciler, mecctl) sends "state": "". That means "left out":
// ACTIVE on create, the state the app set over Mp1 on replace, never a 400.
func TestMm5EmptyRuleStateIsLeftOut(t *testing.T) {
	e := newEnv(t)
	const p = "/mepm/v1/app_instances/"
	var spec mm5api.AppInstance
	b, err := json.Marshal(appSpec("app1"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &spec))
	b, err = json.Marshal(spec)
	require.NoError(t, err)
	require.Contains(t, string(b), `"state":""`, "the generated types send an empty state")

	rec := e.do(http.MethodPut, p+"app1", opToken, json.RawMessage(b))
	expect(t, rec, http.StatusCreated)
	r := decodeJSON[mm5api.AppInstanceRecord](t, rec)
	require.Equal(t, mp1api.RuleStateACTIVE, (*r.AppTrafficRule)[0].State)
	require.Equal(t, mp1api.RuleStateACTIVE, (*r.AppDNSRule)[0].State)

	tok := e.token("app1")
	dr := dnsRule("dns1")
	dr["state"] = "INACTIVE"
	expect(t, e.do(http.MethodPut, supBase+"app1/dns_rules/dns1", tok, dr), http.StatusOK)
	rec = e.do(http.MethodPut, p+"app1", opToken, json.RawMessage(b))
	expect(t, rec, http.StatusOK)
	r = decodeJSON[mm5api.AppInstanceRecord](t, rec)
	require.Equal(t, mp1api.RuleStateINACTIVE, (*r.AppDNSRule)[0].State, "a repeated PUT from a Go client reset the Mp1-set state")
}
