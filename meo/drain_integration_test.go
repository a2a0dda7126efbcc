//go:build integration

package meo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// terminationApp plays the part of an app that subscribed, over Mp1, to its own
// AppTerminationNotification (ETSI GS MEC 011): it records each notification, checks
// what must hold when it comes, and confirms the termination at once.
type terminationApp struct {
	mu       sync.Mutex
	notified int
	errs     []string
}

// subscribeTermination subscribes the instance running on the site, with the Mp1 credentials
// in its namespace there, to its termination notifications. check, if not nil, runs when a
// notification comes, before the answer; its error is recorded as a failure.
func (s *lcmSite) subscribeTermination(t *testing.T, id string, check func(context.Context) error) *terminationApp {
	t.Helper()
	access, err := s.mp1Access(t.Context(), id)
	require.NoError(t, err, "the Mp1 credentials on %s", s.id)
	tok := mp1Token(t, access)
	app := &terminationApp{}
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), "AppTerminationNotification") {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var failed error
		if check != nil {
			failed = check(r.Context())
		}
		w.WriteHeader(http.StatusNoContent)
		app.mu.Lock()
		app.notified++
		if failed != nil {
			app.errs = append(app.errs, failed.Error())
		}
		app.mu.Unlock()
		// Confirmed after the answer, as an app would once it has wound down.
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := mp1Post(access.Endpoint+"/mec_app_support/v1/applications/"+id+"/confirm_termination", tok,
				`{"operationAction":"TERMINATING"}`, http.StatusNoContent)
			if err != nil {
				app.mu.Lock()
				app.errs = append(app.errs, err.Error())
				app.mu.Unlock()
			}
		}()
	}))
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	body := fmt.Sprintf(`{"subscriptionType":"AppTerminationNotificationSubscription","callbackReference":%q,"appInstanceId":%q}`, srv.URL, id)
	require.NoError(t, mp1Post(access.Endpoint+"/mec_app_support/v1/applications/"+id+"/subscriptions", tok, body, http.StatusCreated))
	return app
}

// result returns how many termination notifications the app got, and the checks and
// confirmations that failed.
func (a *terminationApp) result() (int, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.notified, append([]string(nil), a.errs...)
}

// mp1Token takes an Mp1 token with the app's credentials.
func mp1Token(t *testing.T, access vim.MEPAccess) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {access.ClientID}, "client_secret": {access.ClientSecret}}
	res, err := http.Post(access.Endpoint+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "Mp1 token")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tok))
	return tok.AccessToken
}

// mp1Post posts a JSON body with the app's token; an answer other than want is an error.
func mp1Post(url, token, body string, want int) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("POST %s: HTTP %d, want %d: %s", url, res.StatusCode, want, b)
	}
	return nil
}

// siteAction posts a cordon, uncordon or drain and returns the site document.
func siteAction(t *testing.T, root, site, action string) map[string]any {
	t.Helper()
	st, b := call(t, "POST", root+"/inventory/v1/sites/"+site+"/"+action, opToken, nil, "")
	require.Equal(t, http.StatusOK, st, "%s %s: %s", action, site, b)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// rejected returns the sites the op occurrence's placement rejected, with the codes.
func rejected(op map[string]any) map[string]string {
	out := map[string]string{}
	rs, _ := dig(op, "placement", "rejected").([]any)
	for _, r := range rs {
		if r, ok := r.(map[string]any); ok {
			out[fmt.Sprint(r["siteId"])] = fmt.Sprint(r["code"])
		}
	}
	return out
}

// dig returns the member of a JSON document at the path, nil when there is none.
func dig(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

// TestDrainAcrossSites drains a test-bed site through the MEO's inventory API, with two sites
// of different kinds, each with its own control plane, MEP and site DNS: an instance placed on
// site-a (site-b cordoned meanwhile) moves to site-b by a relocation (an INSTANTIATE op
// occurrence naming the site it leaves), runs and is READY there with its traffic and DNS
// rules, and only then is the copy on site-a terminated through site-a's MEP (its app
// notified over Mp1 and confirming) and removed from site-a's VIM, MEP and DNS. The drained
// site stays cordoned (a new instance goes to site-b) until uncordoned; the moved instance
// then terminates and is deleted, leaving nothing on either site.
func TestDrainAcrossSites(t *testing.T) {
	a := newLCMSite(t, "site-a", "kubernetes", "EDGEMEC_TESTBED_KUBECONFIG")
	b := newLCMSite(t, "site-b", "k3s", "EDGEMEC_TESTBED_K3S_KUBECONFIG")
	m := startSiteMEO(t)
	a.register(t, m.root, "00a1", 4)
	b.register(t, m.root, "00b2", 6)
	onboardSample(t, m.root)

	id := createInstance(t, m.root, "web")
	other := createInstance(t, m.root, "web-2")
	for _, s := range []*lcmSite{a, b} {
		s.playApp(t, id)
		s.playApp(t, other)
	}
	t.Cleanup(func() {
		// Whatever a failed run left on the test bed goes.
		for _, s := range []*lcmSite{a, b} {
			_ = s.adapter.Terminate(context.Background(), id)
			_ = s.adapter.Terminate(context.Background(), other)
		}
	})
	instURL := m.root + "/app_lcm/v1/app_instances/" + id

	// 1. The instance goes to site-a: site-b is cordoned while it is placed, with no location
	// constraint, so that its relocation may go anywhere.
	siteAction(t, m.root, "site-b", "cordon")
	op := task(t, m.root, id, "instantiate", `{}`)
	require.Equal(t, "COMPLETED", op["operationState"], "instantiate: %v", op)
	require.Equal(t, "site-a", op["siteId"])
	assert.Equal(t, map[string]string{"site-b": "NotSchedulable"}, rejected(op), "site-b was rejected as cordoned")
	assert.Equal(t, true, dig(siteAction(t, m.root, "site-b", "uncordon"), "state", "schedulable"))
	stat, err := a.adapter.Status(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, vim.PhaseRunning, stat.Phase)
	require.Len(t, a.mep.Instances(t), 1)
	require.Equal(t, []string{"192.0.2.10"}, resolve(t, a.dnsAddr, "mecapp.mec.example"), "site-a's DNS answers the app's DNS rule")
	require.Empty(t, b.mep.Instances(t))
	require.Empty(t, resolve(t, b.dnsAddr, "mecapp.mec.example"))
	// The old copy goes only once the new one runs and confirmed ready on site-b.
	mm5B := b.mep.Client(t)
	app := a.subscribeTermination(t, id, func(ctx context.Context) error {
		rec, err := mm5B.GetAppInstanceWithResponse(ctx, id, nil)
		if err != nil {
			return err
		}
		if rec.JSON200 == nil || rec.JSON200.State != mm5api.READY {
			return fmt.Errorf("site-a's copy notified while site-b's MEP answers HTTP %d %s", rec.StatusCode(), rec.Body)
		}
		st, err := b.adapter.Status(ctx, id)
		if err != nil {
			return fmt.Errorf("site-a's copy notified while on site-b: %w", err)
		}
		if st.Phase != vim.PhaseRunning {
			return fmt.Errorf("site-a's copy notified while on site-b the workload is %s", st.Phase)
		}
		return nil
	})

	// 2. Drain site-a and wait until its state.drain says the instance left.
	started := time.Now()
	s := siteAction(t, m.root, "site-a", "drain")
	assert.Equal(t, true, dig(s, "state", "draining"))
	assert.Equal(t, false, dig(s, "state", "schedulable"))
	var inst map[string]any
	for deadline := started.Add(3 * time.Minute); ; {
		s = getJSON(t, m.root+"/inventory/v1/sites/site-a")
		inst = getJSON(t, instURL)
		if dig(s, "state", "drain", "pending") == 0.0 && dig(inst, "mecHostInformation", "hostId") == "site-b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("site-a not drained after 3 min:\nsite: %s\ninstance: %s", mustJSON(t, s), mustJSON(t, inst))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("site-a drained in %v", time.Since(started).Round(100*time.Millisecond))

	// 3. The instance is on site-b, moved by one COMPLETED relocation from site-a.
	assert.Equal(t, "INSTANTIATED", inst["instantiationState"])
	assert.Equal(t, map[string]any{"operationalState": "STARTED"}, inst["instantiatedAppState"])
	assert.Equal(t, 1.0, dig(s, "state", "drain", "moved"), "site-a's state.drain: %s", mustJSON(t, s))
	assert.Empty(t, dig(s, "state", "drain", "moving"))
	assert.Empty(t, dig(s, "state", "drain", "stuck"))
	assert.Equal(t, false, dig(s, "state", "schedulable"), "the drained site stays cordoned")
	var relocations []map[string]any
	for _, o := range listAll(t, m.root+"/app_lcm/v1/app_lcm_op_occs?all_fields&filter=(eq,appInstanceId,"+id+")") {
		if o["lcmOperation"] != "INSTANTIATE" || o["id"] == op["id"] {
			continue
		}
		relocations = append(relocations, o)
	}
	require.Len(t, relocations, 1, "one instantiate besides the first")
	rel := relocations[0]
	assert.Equal(t, "COMPLETED", rel["operationState"], "relocation: %s", mustJSON(t, rel))
	assert.Equal(t, "site-a", dig(rel, "operationParams", "relocation", "fromSiteId"))
	assert.Equal(t, "site-b", rel["siteId"])
	// What the MEO observes of the instance comes from site-b now, where it runs. (A loaded
	// test bed may report the pod of a running workload Pending for a while: wait for it.)
	var seen []string
	ok := assert.Eventually(t, func() bool {
		inst = getJSON(t, instURL)
		stat, err = b.adapter.Status(t.Context(), id)
		if err == nil && stat.Phase != vim.PhaseRunning {
			seen = append(seen, fmt.Sprintf("%s %v", stat.Phase, stat.Reasons))
		}
		return dig(inst, "observedState", "siteId") == "site-b" && dig(inst, "observedState", "phase") == "Running" &&
			dig(inst, "observedState", "appConfirmedReady") == true && err == nil && stat.Phase == vim.PhaseRunning
	}, time.Minute, 200*time.Millisecond, "observedState from site-b and the workload Running there")
	if !ok || len(seen) > 0 {
		t.Logf("site-b's status before Running: %v; instance: %s", seen, mustJSON(t, inst))
		b.describe(t, id)
	}

	// Site-b's MEP holds it READY with its rules and its DNS answers them.
	rec, err := b.mep.Client(t).GetAppInstanceWithResponse(t.Context(), id, nil)
	require.NoError(t, err)
	require.NotNil(t, rec.JSON200, "site-b's MEP: %s", rec.Body)
	assert.Equal(t, mm5api.READY, rec.JSON200.State)
	require.NotNil(t, rec.JSON200.AppTrafficRule)
	require.Len(t, *rec.JSON200.AppTrafficRule, 1)
	assert.Equal(t, "mecapp-http", (*rec.JSON200.AppTrafficRule)[0].TrafficRuleId)
	require.NotNil(t, rec.JSON200.AppDNSRule)
	require.Len(t, *rec.JSON200.AppDNSRule, 1)
	assert.Equal(t, "mecapp-dns", (*rec.JSON200.AppDNSRule)[0].DnsRuleId)
	assert.Equal(t, []string{"192.0.2.10"}, resolve(t, b.dnsAddr, "mecapp.mec.example"), "site-b's DNS answers the app's DNS rule")

	// The copy on site-a went through its MEP's termination flow and is gone everywhere there.
	notified, errs := app.result()
	assert.Equal(t, 1, notified, "the app on site-a got one AppTerminationNotification")
	assert.Empty(t, errs, "when the app on site-a was notified")
	rec, err = a.mep.Client(t).GetAppInstanceWithResponse(t.Context(), id, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, rec.StatusCode(), "site-a's MEP: %s", rec.Body)
	assert.Empty(t, a.mep.Instances(t))
	assert.Empty(t, resolve(t, a.dnsAddr, "mecapp.mec.example"), "site-a's DNS no longer answers the app's name")
	assert.Eventually(t, func() bool {
		_, err := a.clients.Kube.CoreV1().Namespaces().Get(t.Context(), a.adapter.Namespace(id), metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, time.Minute, 200*time.Millisecond, "the namespace on site-a is deleted")
	_, err = a.adapter.Status(t.Context(), id)
	assert.ErrorIs(t, err, vim.ErrNotFound, "the workload is gone from site-a")

	// A new instance goes to site-b, site-a being cordoned; its termination runs while the
	// rest goes on.
	op = task(t, m.root, other, "instantiate", `{}`)
	require.Equal(t, "COMPLETED", op["operationState"], "instantiate another: %v", op)
	assert.Equal(t, "site-b", op["siteId"])
	assert.Equal(t, map[string]string{"site-a": "NotSchedulable"}, rejected(op), "site-a was rejected as cordoned")
	otherTerm := post(t, m.root, other, "terminate", `{"terminationType":"FORCEFUL"}`)

	// 4. Uncordon ends the drain; the moved instance terminates gracefully on site-b, through
	// its app there, and is deleted.
	s = siteAction(t, m.root, "site-a", "uncordon")
	assert.Equal(t, true, dig(s, "state", "schedulable"))
	assert.Equal(t, false, dig(s, "state", "draining"))
	assert.Nil(t, dig(s, "state", "drain"))
	appB := b.subscribeTermination(t, id, nil)
	op = task(t, m.root, id, "terminate", `{"terminationType":"GRACEFUL","gracefulTerminationTimeout":10}`)
	require.Equal(t, "COMPLETED", op["operationState"], "terminate: %v", op)
	notified, errs = appB.result()
	assert.Equal(t, 1, notified, "the app on site-b got one AppTerminationNotification")
	assert.Empty(t, errs)
	op = waitOp(t, otherTerm, 3*time.Minute, "COMPLETED", "FAILED", "FAILED_TEMP")
	require.Equal(t, "COMPLETED", op["operationState"], "terminate another: %v", op)
	for _, i := range []string{id, other} {
		st, body := call(t, "DELETE", m.root+"/app_lcm/v1/app_instances/"+i, opToken, nil, "")
		require.Equal(t, http.StatusNoContent, st, "%s", body)
		st, _ = call(t, "GET", m.root+"/app_lcm/v1/app_instances/"+i, opToken, nil, "")
		assert.Equal(t, http.StatusNotFound, st)
	}
	for _, s := range []*lcmSite{a, b} {
		for _, i := range []string{id, other} {
			_, err := s.adapter.Status(t.Context(), i)
			assert.ErrorIs(t, err, vim.ErrNotFound, "%s left on %s", i, s.id)
		}
		assert.Empty(t, s.mep.Instances(t), "%s's MEP", s.id)
		assert.Empty(t, resolve(t, s.dnsAddr, "mecapp.mec.example"), "%s's DNS", s.id)
	}
}
