package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/mep/internal/auth"
	"github.com/edgemec/edgemec/mep/internal/httpapi"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/internal/store"
	"github.com/edgemec/edgemec/mep/internal/store/sqlstore"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

const (
	opToken = "operator-token-for-tests"
	apiRoot = "http://mep.test"
)

// clock is a settable clock for platform.Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one MEP HTTP layer over the real site core and an embedded SQLite store.
type env struct {
	t     testing.TB
	site  *platform.MEP
	st    store.Store
	auth  *auth.Authority
	h     http.Handler
	clock *clock
	// conflicts is what the Conflicts hook reports.
	conflicts []mm5api.DnsConflict
}

type envOption func(*platform.Config, *httpapi.Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	ctx := t.Context()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "mep.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	clk := &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	log := slog.New(slog.DiscardHandler)
	scfg := platform.Config{APIRoot: apiRoot, Now: clk.Now,
		AppAddressRanges: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}}
	hcfg := httpapi.Config{Logger: log, APIRoot: apiRoot}
	for _, o := range opts {
		o(&scfg, &hcfg)
	}
	s, err := platform.New(ctx, scfg, st, log)
	require.NoError(t, err)
	a, err := auth.New(auth.NewSiteKey(), opToken, "mep", time.Hour)
	require.NoError(t, err)
	e := &env{t: t, site: s, st: st, auth: a, clock: clk}
	hcfg.Site, hcfg.Authority = s, a
	if hcfg.Conflicts == nil {
		hcfg.Conflicts = func() []mm5api.DnsConflict { return e.conflicts }
	}
	e.h, err = httpapi.New(hcfg)
	require.NoError(t, err)
	return e
}

// req is one request to the handler. body may be nil, a string or []byte (sent as is), or
// any other value (sent as JSON).
type req struct {
	method, path, token string
	body                any
	header              map[string]string
}

func (e *env) serve(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(raw)
	}
	hr := httptest.NewRequestWithContext(e.t.Context(), r.method, r.path, rd)
	if rd != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, hr)
	return rec
}

func (e *env) do(method, path, token string, body any) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(req{method: method, path: path, token: token, body: body})
}

// expect checks the status; every 4xx/5xx must be a ProblemDetails with status and detail.
func expect(t testing.TB, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	require.Equal(t, want, rec.Code, "got status %d; want %d; body %s", rec.Code, want, rec.Body.String())
	if want >= 400 {
		requireProblem(t, rec, want)
	}
}

func requireProblem(t testing.TB, rec *httptest.ResponseRecorder, status int) problem.Details {
	t.Helper()
	require.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"), "got Content-Type %q; want %q", rec.Header().Get("Content-Type"), problem.ContentType)
	var p problem.Details
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), "body %s", rec.Body.String())
	require.Equal(t, status, p.Status, "got problem status %d; want %d", p.Status, status)
	require.NotEmpty(t, p.Detail, "problem detail is empty")
	return p
}

func decodeJSON[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), "body %s", rec.Body.String())
	return v
}

// appSpec is an Mm5 AppInstance with one traffic rule (tr1) and one DNS rule (dns1).
func appSpec(name string) map[string]any {
	return map[string]any{
		"appName": name, "appProvider": "acme", "appDId": "appd-" + name,
		"appTrafficRule": []any{map[string]any{
			"trafficRuleId": "tr1", "filterType": "FLOW", "priority": 1, "action": "FORWARD_DECAPSULATED",
			"trafficFilter": []any{map[string]any{"dstAddress": []string{"10.0.0.0/24"}, "dstPort": []string{"80"}, "protocol": []string{"TCP"}}},
			"dstInterface": []any{map[string]any{"interfaceType": "IP", "dstIpAddress": "10.0.0.1"},
				map[string]any{"interfaceType": "TUNNEL", "tunnelInfo": map[string]any{"tunnelType": "GTP_U", "tunnelDstAddress": "198.51.100.1"}}},
		}},
		"appDNSRule": []any{map[string]any{
			"dnsRuleId": "dns1", "domainName": name + ".example", "ipAddressType": "IP_V4", "ipAddress": "10.0.0.1", "ttl": 30,
		}},
		"appServiceProduced": produced(testServices...),
	}
}

// testServices are the services the apps of these tests produce: an app registers only
// what its instance declares.
var testServices = []string{"a", "a2", "b", "c", "d", "x", "s", "svc", "svc-a", "fuzz", "hb", "late", "loc", "rni", "wlan", "own", "plain"}

// produced is an appServiceProduced list of the names, any category.
func produced(names ...string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = map[string]any{"serName": n, "version": "1.0"}
	}
	return out
}

// putApp provisions an app instance over Mm5 and returns its record.
func (e *env) putApp(id string, spec map[string]any) mm5api.AppInstanceRecord {
	e.t.Helper()
	rec := e.do(http.MethodPut, "/mepm/v1/app_instances/"+id, opToken, spec)
	require.Contains(e.t, []int{http.StatusCreated, http.StatusOK}, rec.Code, "put app %s: %s", id, rec.Body.String())
	return decodeJSON[mm5api.AppInstanceRecord](e.t, rec)
}

// secret returns the client secret of app instance id in its current credential epoch.
func (e *env) secret(id string) string {
	ep, _ := e.site.CredentialEpoch(id)
	return e.auth.ClientSecret(id, ep)
}

// token provisions nothing: it fetches an app token with the app's client credentials.
func (e *env) token(id string) string {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {e.secret(id)}}
	rec := e.serve(req{method: http.MethodPost, path: "/oauth2/token", body: form.Encode(),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	require.Equal(e.t, http.StatusOK, rec.Code, "token for %s: %s", id, rec.Body.String())
	return decodeJSON[mp1api.TokenResponse](e.t, rec).AccessToken
}

// app provisions an app instance and returns its token.
func (e *env) app(id string) string {
	e.t.Helper()
	e.putApp(id, appSpec(id))
	return e.token(id)
}

func servicePost(name string) map[string]any {
	return map[string]any{"serName": name, "version": "1.0", "state": "ACTIVE", "serializer": "JSON", "transportId": "rest-http"}
}

func transportInfo() map[string]any {
	return map[string]any{"id": "t1", "name": "http", "type": "REST_HTTP", "protocol": "HTTP", "version": "1.1",
		"endpoint": map[string]any{"uris": []string{"http://10.0.0.5/api"}}, "security": map[string]any{}}
}

// register registers a service for app and returns it.
func (e *env) register(app, token string, body map[string]any) mp1api.ServiceInfo {
	e.t.Helper()
	rec := e.do(http.MethodPost, "/mec_service_mgmt/v1/applications/"+app+"/services", token, body)
	expect(e.t, rec, http.StatusCreated)
	return decodeJSON[mp1api.ServiceInfo](e.t, rec)
}

func (e *env) subscribe(app, token, callback string, criteria map[string]any) string {
	e.t.Helper()
	body := map[string]any{"subscriptionType": "SerAvailabilityNotificationSubscription", "callbackReference": callback}
	if criteria != nil {
		body["filteringCriteria"] = criteria
	}
	rec := e.do(http.MethodPost, "/mec_service_mgmt/v1/applications/"+app+"/subscriptions", token, body)
	expect(e.t, rec, http.StatusCreated)
	loc := rec.Header().Get("Location")
	return loc[strings.LastIndexByte(loc, '/')+1:]
}

// pending returns the decoded bodies of the queued notifications, one per subscriber.
func (e *env) pending() []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, b := range e.pendingBodies() {
		var m map[string]any
		require.NoError(e.t, json.Unmarshal(b.body, &m))
		m["_url"] = b.url
		out = append(out, m)
	}
	return out
}

// pendingBody is a queued notification body as its callback receives it.
type pendingBody struct {
	url  string
	body []byte
}

// pendingBodies returns the queued notification bodies, one per target.
func (e *env) pendingBodies() []pendingBody {
	e.t.Helper()
	ns, err := e.st.Pending(context.Background(), 1000)
	require.NoError(e.t, err)
	var out []pendingBody
	for _, n := range ns {
		for i, t := range n.Targets {
			out = append(out, pendingBody{url: t.URL, body: n.BodyFor(i)})
		}
	}
	return out
}

// serviceNotifications returns the (changeType, serInstanceId, url) of queued service notifications.
func (e *env) serviceNotifications() []string {
	e.t.Helper()
	var out []string
	for _, n := range e.pending() {
		refs, ok := n["serviceReferences"].([]any)
		if !ok {
			continue
		}
		for _, r := range refs {
			m := r.(map[string]any)
			out = append(out, m["changeType"].(string)+" "+m["serName"].(string)+" "+m["state"].(string)+" "+n["_url"].(string))
		}
	}
	return out
}

func serNames(svcs []mp1api.ServiceInfo) []string {
	out := []string{}
	for _, s := range svcs {
		out = append(out, s.SerName)
	}
	return out
}
