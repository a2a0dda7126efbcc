package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// TestStop: Mm5 stop runs the MEC 011 stop flow (AppTerminationNotification with
// operationAction STOPPING, confirm_termination STOPPING), after which the instance is
// INSTANTIATED and not ready: the app's subscriptions and services are gone, its rules and
// credentials stay, and it confirms ready again when it runs again.
func TestStop(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	consumer := appSpec("consumer")
	consumer["appServiceRequired"] = []any{map[string]any{"serName": "svc", "version": "1"}}
	e.putApp("consumer", consumer)
	e.subscribe("consumer", e.token("consumer"), "http://cb.test/consumer", nil)
	e.register("app1", tok, servicePost("svc"))
	ready := supBase + "app1/confirm_ready"
	expect(t, e.do(http.MethodPost, ready, tok, map[string]any{"indication": "READY"}), http.StatusNoContent)
	expect(t, e.do(http.MethodPost, supBase+"app1/subscriptions", tok, map[string]any{
		"subscriptionType": "AppTerminationNotificationSubscription", "callbackReference": "http://cb.test/term", "appInstanceId": "app1"}), http.StatusCreated)
	const stop = "/mepm/v1/app_instances/app1/stop"
	const get = "/mepm/v1/app_instances/app1"

	rec := e.do(http.MethodPost, stop+"?graceful_timeout=20", opToken, nil)
	expect(t, rec, http.StatusAccepted)
	r := decodeJSON[mm5api.AppInstanceRecord](t, rec)
	require.Equal(t, mm5api.STOPPING, r.State)
	var note map[string]any
	for _, n := range e.pending() {
		if n["notificationType"] == "AppTerminationNotification" {
			note = n
		}
	}
	require.NotNil(t, note, "no AppTerminationNotification queued")
	require.Equal(t, "STOPPING", note["operationAction"])
	require.EqualValues(t, 20, note["maxGracefulTimeout"])
	// The body is byte for byte the MEC 011 AppTerminationNotification.
	want, err := json.Marshal(mp1api.AppTerminationNotification{
		NotificationType: "AppTerminationNotification", OperationAction: mp1api.STOPPING, MaxGracefulTimeout: 20,
		UnderscoreLinks: mp1api.AppTerminationNotificationLinks{
			Subscription:       mp1api.LinkType{Href: note["_links"].(map[string]any)["subscription"].(map[string]any)["href"].(string)},
			ConfirmTermination: &mp1api.LinkType{Href: apiRoot + supBase + "app1/confirm_termination"},
		},
	})
	require.NoError(t, err)
	var bodies []string
	for _, b := range e.pendingBodies() {
		if b.url == "http://cb.test/term" {
			bodies = append(bodies, string(b.body))
		}
	}
	require.Equal(t, []string{string(want)}, bodies)

	// Under way: a second stop answers it as it is; the app cannot confirm ready or confirm
	// the wrong action; PUT is refused.
	r = decodeJSON[mm5api.AppInstanceRecord](t, e.do(http.MethodPost, stop, opToken, nil))
	require.Equal(t, mm5api.STOPPING, r.State)
	expect(t, e.do(http.MethodPost, ready, tok, map[string]any{"indication": "READY"}), http.StatusConflict)
	expect(t, e.do(http.MethodPut, get, opToken, appSpec("app1")), http.StatusConflict)
	confirm := supBase + "app1/confirm_termination"
	expect(t, e.do(http.MethodPost, confirm, tok, map[string]any{"operationAction": "TERMINATING"}), http.StatusConflict)
	expect(t, e.do(http.MethodPost, confirm, tok, map[string]any{"operationAction": "STOPPING"}), http.StatusNoContent)

	rec = e.do(http.MethodGet, get, opToken, nil)
	expect(t, rec, http.StatusOK)
	r = decodeJSON[mm5api.AppInstanceRecord](t, rec)
	require.Equal(t, mm5api.INSTANTIATED, r.State, "a stopped app is not ready")
	require.Len(t, *r.AppTrafficRule, 1, "the rules stay")
	require.Equal(t, e.secret("app1"), r.Credentials.ClientSecret, "the credentials stay")
	require.Contains(t, e.serviceNotifications(), "REMOVED svc ACTIVE http://cb.test/consumer")
	require.JSONEq(t, `[]`, e.do(http.MethodGet, "/mec_service_mgmt/v1/services?ser_name=svc", opToken, nil).Body.String())
	subs := decodeJSON[map[string]any](t, e.do(http.MethodGet, supBase+"app1/subscriptions", tok, nil))
	require.Empty(t, subs["subscriptions"], "the stopped process's subscriptions are still there")

	// Running again, the app confirms ready again.
	expect(t, e.do(http.MethodPost, ready, tok, map[string]any{"indication": "READY"}), http.StatusNoContent)
	require.Equal(t, mm5api.READY, decodeJSON[mm5api.AppInstanceRecord](t, e.do(http.MethodGet, get, opToken, nil)).State)

	// Without a subscriber the stop is over at once; a timeout ends a stop nobody confirms.
	rec = e.do(http.MethodPost, stop, opToken, nil)
	expect(t, rec, http.StatusAccepted)
	require.Equal(t, mm5api.INSTANTIATED, decodeJSON[mm5api.AppInstanceRecord](t, rec).State)
	expect(t, e.do(http.MethodPost, ready, tok, map[string]any{"indication": "READY"}), http.StatusNoContent)
	expect(t, e.do(http.MethodPost, supBase+"app1/subscriptions", tok, map[string]any{
		"subscriptionType": "AppTerminationNotificationSubscription", "callbackReference": "http://cb.test/term", "appInstanceId": "app1"}), http.StatusCreated)
	expect(t, e.do(http.MethodPost, stop, opToken, nil), http.StatusAccepted)
	e.clock.Advance(10 * time.Second) // the default graceful timeout
	e.site.ReapTerminations(t.Context())
	require.Equal(t, mm5api.INSTANTIATED, decodeJSON[mm5api.AppInstanceRecord](t, e.do(http.MethodGet, get, opToken, nil)).State)

	// A termination overrides a stop under way.
	expect(t, e.do(http.MethodPost, ready, tok, map[string]any{"indication": "READY"}), http.StatusNoContent)
	expect(t, e.do(http.MethodPost, supBase+"app1/subscriptions", tok, map[string]any{
		"subscriptionType": "AppTerminationNotificationSubscription", "callbackReference": "http://cb.test/term", "appInstanceId": "app1"}), http.StatusCreated)
	expect(t, e.do(http.MethodPost, stop, opToken, nil), http.StatusAccepted)
	rec = e.do(http.MethodDelete, get+"?graceful_timeout=30", opToken, nil)
	expect(t, rec, http.StatusAccepted)
	require.Equal(t, mm5api.TERMINATING, decodeJSON[mm5api.AppInstanceRecord](t, rec).State)
	expect(t, e.do(http.MethodPost, stop, opToken, nil), http.StatusConflict)
	expect(t, e.do(http.MethodPost, confirm, tok, map[string]any{"operationAction": "STOPPING"}), http.StatusConflict)
	expect(t, e.do(http.MethodPost, confirm, tok, map[string]any{"operationAction": "TERMINATING"}), http.StatusNoContent)
	expect(t, e.do(http.MethodGet, get, opToken, nil), http.StatusNotFound)
	expect(t, e.do(http.MethodPost, stop, opToken, nil), http.StatusNotFound)
	expect(t, e.do(http.MethodPost, stop+"?graceful_timeout=3601", opToken, nil), http.StatusBadRequest)
}
