//go:build integration

package meo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/free5gc/openapi/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/test/nef"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
)

const (
	nefAFID   = "edgemec-meo"
	nefClient = "meo-af"
	nefSecret = "nef-client-secret-5g"
)

// testNEF is the test NEF behind a switch that plays a NEF that is down: while down, every
// connection is closed without an answer, and counted.
type testNEF struct {
	*nef.Server
	url     string
	down    atomic.Bool
	refused atomic.Int64
}

func startNEF(t *testing.T) *testNEF {
	t.Helper()
	n := &testNEF{Server: nef.New(nef.Config{Clients: map[string]string{nefClient: nefSecret}})}
	h := n.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.down.Load() {
			n.refused.Add(1)
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = c.Close()
			}
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	n.url = ts.URL
	return n
}

// onlySub returns the AF's one subscription at the NEF.
func (n *testNEF) onlySub(t *testing.T) nef.Subscription {
	t.Helper()
	subs := n.Subscriptions(nefAFID)
	require.Len(t, subs, 1, "the NEF holds one subscription of the AF")
	return subs[0]
}

func (n *testNEF) count(method string) int {
	c := 0
	for _, r := range n.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, nef.BasePath) && r.Status < 300 {
			c++
		}
	}
	return c
}

// narrowRule changes the app's traffic rule over Mp1, as the app may: the rule keeps its
// grant and gains a source prefix.
func (s *lcmSite) narrowRule(t *testing.T, id, src string) {
	t.Helper()
	ctx := t.Context()
	sec, err := s.clients.Kube.CoreV1().Secrets(s.adapter.Namespace(id)).Get(ctx, kubernetes.Mp1SecretName, metav1.GetOptions{})
	require.NoError(t, err)
	endpoint := string(sec.Data[kubernetes.EnvMEPEndpoint])
	form := "grant_type=client_credentials&client_id=" + string(sec.Data[kubernetes.EnvClientID]) +
		"&client_secret=" + string(sec.Data[kubernetes.EnvClientSecret])
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/oauth2/token", strings.NewReader(form))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var tok mp1api.TokenResponse
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tok))
	res.Body.Close()
	rule := `{"trafficRuleId":"mecapp-http","filterType":"FLOW","priority":1,"action":"FORWARD_DECAPSULATED","state":"ACTIVE",
		"dstInterface":[{"interfaceType":"IP","dstIpAddress":"192.0.2.10"}],
		"trafficFilter":[{"srcAddress":["` + src + `"],"dstAddress":["192.0.2.10/32"],"dstPort":["8080"],"protocol":["TCP"]}]}`
	req, err = http.NewRequestWithContext(ctx, http.MethodPut, endpoint+"/mec_app_support/v1/applications/"+id+"/traffic_rules/mecapp-http", strings.NewReader(rule))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "Mp1 PUT traffic rule: %s", b)
}

// uePaths lists the UEs whose traffic leaves at the site, as its MEP holds them (Mm5).
func (s *lcmSite) uePaths(t *testing.T) []mm5api.UEPath {
	t.Helper()
	c, err := mm5api.NewClientWithResponses(s.mep.Root+"/mepm/v1", mm5api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+meptest.OperatorToken)
		return nil
	}))
	require.NoError(t, err)
	res, err := c.ListUEPathsWithResponse(t.Context(), &mm5api.ListUEPathsParams{})
	require.NoError(t, err)
	require.NotNil(t, res.JSON200, "Mm5 GET ue_paths: %d %s", res.StatusCode(), res.Body)
	return *res.JSON200
}

func steeringOf(t *testing.T, root, id string) map[string]any {
	t.Helper()
	ts, _ := getJSON(t, root+"/app_lcm/v1/app_instances/"+id)["trafficSteering"].(map[string]any)
	return ts
}

func postRaw(t *testing.T, url string, body []byte, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res.StatusCode
}

// TestTrafficSteeringThroughNEF runs the MEO as a 3GPP AF against the test NEF, with a real
// MEO on PostgreSQL and a test-bed Kubernetes site with its MEP: the site registered with
// its 5G data (the NEF's OAuth 2.0 secret never shown), an instantiate subscribing at the
// NEF with the site's DNAI, the app's filters and the requested UE group, the app narrowing
// its rule over Mp1 and the MEO patching the subscription, a UP path change recorded and
// shown through Mm1, bad notifications refused with nothing recorded, terminate deleting the
// subscription, and a NEF that is down: the instance still instantiated, the failure shown
// on the op occurrence and the instance, retried until the NEF is back.
func TestTrafficSteeringThroughNEF(t *testing.T) {
	site := newLCMSite(t, "site-5g", "kubernetes", "EDGEMEC_TESTBED_KUBECONFIG")
	n := startNEF(t)
	m := start(t, meo.Config{DatabaseURL: pgtest.New(t), SecretKeyFile: meoKey(t, t.TempDir()), SiteRefreshInterval: time.Second,
		Lease: 3 * time.Second, AFCheckInterval: 500 * time.Millisecond, AFRetryInterval: 300 * time.Millisecond})

	body, err := json.Marshal(map[string]any{
		"id": site.id, "location": map[string]any{"lat": 48.1, "lon": 11.6},
		"mep": map[string]any{"endpoint": site.mep.Root + "/mepm/v1", "token": meptest.OperatorToken},
		"vim": map[string]any{"kind": "kubernetes", "kubeconfig": string(site.kubeconfig)},
		"fiveG": map[string]any{"dnais": []string{"dnai-edge-5"}, "dnn": "internet", "snssai": map[string]any{"sst": 1, "sd": "000001"},
			"nef": map[string]any{"apiRoot": n.url, "afId": nefAFID,
				"oauth2": map[string]any{"tokenUrl": n.url + "/oauth2/token", "clientId": nefClient, "clientSecret": nefSecret}}},
	})
	require.NoError(t, err)
	st, b := call(t, "POST", m.root+"/inventory/v1/sites", opToken, body, "application/json")
	require.Equal(t, http.StatusCreated, st, "register: %s", b)
	assert.NotContains(t, string(b), nefSecret, "the NEF's client secret is never returned")
	fg, _ := getJSON(t, m.root+"/inventory/v1/sites/"+site.id)["fiveG"].(map[string]any)
	require.NotNil(t, fg, "the site shows its 5G data")
	assert.Equal(t, []any{"dnai-edge-5"}, fg["dnais"])
	assert.Equal(t, true, fg["nef"].(map[string]any)["oauth2"].(map[string]any)["clientSecret"].(map[string]any)["set"])

	onboardSample(t, m.root)
	st, b = call(t, "POST", m.root+"/app_lcm/v1/app_instances", opToken, []byte(`{"appDId":"mecapp","appInstanceName":"steered"}`), "application/json")
	require.Equal(t, http.StatusCreated, st, "%s", b)
	var inst map[string]any
	require.NoError(t, json.Unmarshal(b, &inst))
	id := inst["id"].(string)
	site.playApp(t, id)

	const group = "edge-users@mnc001.mcc001.3gppnetwork.org"
	instantiate := `{"selectedMECHostInfo":[{"hostId":"site-5g"}],"additionalParams":{"ueExternalGroupId":"` + group + `"}}`

	// 1. Instantiate: the subscription carries the site's DNAI, DNN and slice, the app's
	// filter, the UE group, and a notification URL of the MEO for this instance.
	op := task(t, m.root, id, "instantiate", instantiate)
	require.Equal(t, "COMPLETED", op["operationState"], "instantiate: %v", op)
	assert.Nil(t, op["warnings"], "no warning while the NEF answers")
	sub := n.onlySub(t)
	s := sub.Sub
	assert.Equal(t, id, s.AfTransId)
	assert.Equal(t, "mecapp", s.AfServiceId)
	assert.Equal(t, "internet", s.Dnn)
	require.NotNil(t, s.Snssai)
	assert.Equal(t, models.Snssai{Sst: 1, Sd: "000001"}, *s.Snssai)
	assert.Equal(t, group, s.ExternalGroupId)
	assert.False(t, s.AnyUeInd)
	require.Len(t, s.TrafficRoutes, 1)
	assert.Equal(t, "dnai-edge-5", s.TrafficRoutes[0].Dnai)
	require.NotNil(t, s.TrafficRoutes[0].RouteInfo)
	assert.Equal(t, "192.0.2.10", s.TrafficRoutes[0].RouteInfo.Ipv4Addr)
	require.Len(t, s.TrafficFilters, 1)
	assert.Equal(t, []string{"permit out 6 from 192.0.2.10 8080 to any"}, s.TrafficFilters[0].FlowDescriptions)
	assert.Equal(t, []models.SubscribedEvent{models.SubscribedEvent_UP_PATH_CHANGE}, s.SubscribedEvents)
	assert.True(t, strings.HasPrefix(s.NotificationDestination, m.root+"/af/v1/notifications/"+id+"/"), s.NotificationDestination)
	ts := steeringOf(t, m.root, id)
	require.NotNil(t, ts, "the instance shows its traffic steering")
	assert.Equal(t, "ACTIVE", ts["state"])
	assert.Equal(t, sub.ID, ts["subscriptionId"])
	assert.Equal(t, []any{"dnai-edge-5"}, ts["dnais"])
	assert.Equal(t, map[string]any{"externalGroupId": group}, ts["ueTarget"])
	assert.NotContains(t, mustJSON(t, ts), s.NotificationDestination[strings.LastIndex(s.NotificationDestination, "/")+1:],
		"the notification token is not shown")

	// 2. The app narrows its rule over Mp1: the MEO patches the subscription's filters.
	site.narrowRule(t, id, "10.60.0.0/16")
	require.Eventually(t, func() bool {
		got, ok := n.Subscription(nefAFID, sub.ID)
		return ok && len(got.Sub.TrafficFilters) == 1 &&
			assert.ObjectsAreEqual([]string{"permit out 6 from 192.0.2.10 8080 to 10.60.0.0/16"}, got.Sub.TrafficFilters[0].FlowDescriptions)
	}, 20*time.Second, 200*time.Millisecond, "the rule change reaches the NEF")
	assert.Equal(t, 1, n.count(http.MethodPatch), "one PATCH")
	assert.Equal(t, 1, n.count(http.MethodPost), "no second subscription")

	// 3. A UP path change is recorded on the instance.
	_, err = n.NotifyUPPathChange(t.Context(), nefAFID, sub.ID, nef.UPPathChange{SourceDNAI: "dnai-central", TargetDNAI: "dnai-edge-5", UEIPv4: "10.60.0.7"})
	require.NoError(t, err, "the MEO takes the notification")
	ts = steeringOf(t, m.root, id)
	assert.Equal(t, []any{map[string]any{"ue": "10.60.0.7", "dnai": "dnai-edge-5", "since": ts["ues"].([]any)[0].(map[string]any)["since"]}}, ts["ues"])
	changes, _ := ts["upPathChanges"].([]any)
	require.Len(t, changes, 1)
	assert.Equal(t, "dnai-central", changes[0].(map[string]any)["sourceDnai"])
	// The MEP of the site with the new DNAI learns that the UE's traffic now leaves there.
	paths := site.uePaths(t)
	require.Len(t, paths, 1, "the site's MEP knows the UE")
	assert.Equal(t, "dnai-edge-5", paths[0].Dnai)
	assert.Equal(t, id, paths[0].AppInstanceId)
	assert.Equal(t, "mecapp", paths[0].AppDId)
	require.NotNil(t, paths[0].Ue.Ipv4Addr)
	assert.Equal(t, "10.60.0.7", *paths[0].Ue.Ipv4Addr)
	// The UE's traffic moves back to the central DNAI: the site's MEP learns it left.
	_, err = n.NotifyUPPathChange(t.Context(), nefAFID, sub.ID, nef.UPPathChange{SourceDNAI: "dnai-edge-5", TargetDNAI: "dnai-central", UEIPv4: "10.60.0.7"})
	require.NoError(t, err)
	assert.Empty(t, site.uePaths(t), "the site's MEP no longer counts the UE")
	_, err = n.NotifyUPPathChange(t.Context(), nefAFID, sub.ID, nef.UPPathChange{SourceDNAI: "dnai-central", TargetDNAI: "dnai-edge-5", UEIPv4: "10.60.0.7"})
	require.NoError(t, err)
	require.Len(t, site.uePaths(t), 1)
	changes, _ = steeringOf(t, m.root, id)["upPathChanges"].([]any)
	require.Len(t, changes, 3)

	// 4. Bad notifications are refused and change nothing.
	dest := s.NotificationDestination
	base := dest[:strings.LastIndex(dest, "/")]
	good := []byte(`{"subscribedEvent":"UP_PATH_CHANGE","dnaiChgType":"LATE","targetDnai":"dnai-x","tgtUeIpv4Addr":"10.60.0.9"}`)
	otherToken := strings.Repeat("A", 43)
	for _, c := range []struct {
		name   string
		url    string
		body   []byte
		status int
	}{
		{"unknown instance", m.root + "/af/v1/notifications/no-such-instance/" + otherToken, good, http.StatusNotFound},
		{"wrong token", base + "/" + otherToken, good, http.StatusUnauthorized},
		{"no token", base, good, http.StatusNotFound},
		{"wrong token, malformed body", base + "/" + otherToken, []byte(`{`), http.StatusUnauthorized},
		{"malformed body", dest, []byte(`{"subscribedEvent":"UP_PATH_CHANGE"`), http.StatusBadRequest},
		{"unknown member", dest, []byte(`{"subscribedEvent":"UP_PATH_CHANGE","dnaiChgType":"LATE","targetDnai":"d","bogus":1}`), http.StatusBadRequest},
		{"other event", dest, []byte(`{"subscribedEvent":"UE_IP_CH","dnaiChgType":"LATE","targetDnai":"d"}`), http.StatusBadRequest},
		{"no target DNAI", dest, []byte(`{"subscribedEvent":"UP_PATH_CHANGE","dnaiChgType":"LATE"}`), http.StatusBadRequest},
		{"another instance's transaction", dest, []byte(`{"subscribedEvent":"UP_PATH_CHANGE","dnaiChgType":"LATE","targetDnai":"d","afTransId":"other"}`), http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.status, postRaw(t, c.url, c.body, nil))
		})
	}
	changes, _ = steeringOf(t, m.root, id)["upPathChanges"].([]any)
	assert.Len(t, changes, 3, "no refused notification was recorded")
	assert.Len(t, site.uePaths(t), 1, "no refused notification reached the MEP")

	// 4b. Another site with 5G data at the same NEF: the UE's traffic moves from the first
	// site's DNAI to the other's. The other site's MEP learns it now leaves there, although
	// the instance does not run there; the first site's MEP learns it left.
	other := newLCMSite(t, "site-5g-b", "kubernetes", "EDGEMEC_TESTBED_KUBECONFIG")
	body, err = json.Marshal(map[string]any{
		"id": other.id, "location": map[string]any{"lat": 48.2, "lon": 11.5},
		"mep": map[string]any{"endpoint": other.mep.Root + "/mepm/v1", "token": meptest.OperatorToken},
		"vim": map[string]any{"kind": "kubernetes", "kubeconfig": string(other.kubeconfig)},
		"fiveG": map[string]any{"dnais": []string{"dnai-edge-6"}, "dnn": "internet", "snssai": map[string]any{"sst": 1, "sd": "000001"},
			"nef": map[string]any{"apiRoot": n.url, "afId": nefAFID,
				"oauth2": map[string]any{"tokenUrl": n.url + "/oauth2/token", "clientId": nefClient, "clientSecret": nefSecret}}},
	})
	require.NoError(t, err)
	st, b = call(t, "POST", m.root+"/inventory/v1/sites", opToken, body, "application/json")
	require.Equal(t, http.StatusCreated, st, "register: %s", b)
	assert.Empty(t, other.uePaths(t))
	_, err = n.NotifyUPPathChange(t.Context(), nefAFID, sub.ID, nef.UPPathChange{SourceDNAI: "dnai-edge-5", TargetDNAI: "dnai-edge-6", UEIPv4: "10.60.0.7", ChangeType: models.DnaiChangeType_LATE})
	require.NoError(t, err)
	assert.Empty(t, site.uePaths(t), "the first site's MEP learnt the UE left")
	paths = other.uePaths(t)
	require.Len(t, paths, 1, "the other site's MEP learnt the UE arrived")
	assert.Equal(t, "dnai-edge-6", paths[0].Dnai)
	assert.Equal(t, id, paths[0].AppInstanceId)

	// 5. Terminate deletes the subscription.
	op = task(t, m.root, id, "terminate", `{"terminationType":"FORCEFUL"}`)
	require.Equal(t, "COMPLETED", op["operationState"], "terminate: %v", op)
	assert.Empty(t, n.Subscriptions(nefAFID), "the subscription is deleted")
	assert.Equal(t, 1, n.count(http.MethodDelete))
	assert.Nil(t, steeringOf(t, m.root, id), "no steering left on the instance")
	assert.Equal(t, http.StatusNotFound, postRaw(t, dest, good, nil), "the old notification URL is dead")

	// 6. The NEF is down: the instance is instantiated all the same, the op occurrence
	// carries a warning, the instance shows the failure, and the MEO keeps trying.
	n.down.Store(true)
	op = task(t, m.root, id, "instantiate", instantiate)
	require.Equal(t, "COMPLETED", op["operationState"], "instantiate with the NEF down: %v", op)
	warnings, _ := op["warnings"].([]any)
	require.Len(t, warnings, 1, "op occurrence: %v", op)
	assert.Equal(t, "traffic steering not in place", warnings[0].(map[string]any)["title"])
	assert.Equal(t, "INSTANTIATED", getJSON(t, m.root+"/app_lcm/v1/app_instances/"+id)["instantiationState"])
	ts = steeringOf(t, m.root, id)
	require.NotNil(t, ts)
	assert.Equal(t, "RETRYING", ts["state"])
	assert.NotNil(t, ts["lastError"])
	refused := n.refused.Load()
	require.Eventually(t, func() bool { return n.refused.Load() > refused+1 }, 20*time.Second, 100*time.Millisecond,
		"the MEO tries again")
	assert.Empty(t, n.Subscriptions(nefAFID))

	// The NEF is back: the subscription is made, the failure cleared.
	n.down.Store(false)
	require.Eventually(t, func() bool {
		ts := steeringOf(t, m.root, id)
		return ts != nil && ts["state"] == "ACTIVE" && len(n.Subscriptions(nefAFID)) == 1
	}, 30*time.Second, 200*time.Millisecond, "the subscription is made once the NEF answers")
	ts = steeringOf(t, m.root, id)
	assert.Nil(t, ts["lastError"])
	sub = n.onlySub(t)
	assert.Equal(t, []string{"permit out 6 from 192.0.2.10 8080 to any"}, sub.Sub.TrafficFilters[0].FlowDescriptions,
		"the AppD's rule again: the MEP was given it anew")

	op = task(t, m.root, id, "terminate", `{"terminationType":"FORCEFUL"}`)
	require.Equal(t, "COMPLETED", op["operationState"], "terminate: %v", op)
	assert.Empty(t, n.Subscriptions(nefAFID))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
