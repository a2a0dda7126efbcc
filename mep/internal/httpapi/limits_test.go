package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/internal/httpapi"
	"github.com/edgemec/edgemec/mep/internal/platform"
)

// A request target far past the bound is a 431 ProblemDetails, before any routing or
// authentication.
func TestLongRequestTargetIs431(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, target string }{
		{"70 KB path", "/mec_service_mgmt/v1/services/" + strings.Repeat("a", 70<<10)},
		{"70 KB query", "/mec_service_mgmt/v1/services?ser_name=" + strings.Repeat("a", 70<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.do(http.MethodGet, tc.target, opToken, nil), http.StatusRequestHeaderFieldsTooLarge)
		})
	}
	expect(t, e.do(http.MethodGet, "/mec_service_mgmt/v1/services/"+strings.Repeat("a", 4<<10), opToken, nil), http.StatusNotFound)
}

// The token form is bounded however it is sent: a 5 MB chunked form is a 413
// ProblemDetails, not read whole.
func TestLargeTokenFormIs413(t *testing.T) {
	e := newEnv(t)
	e.putApp("app1", appSpec("app1"))
	big := "grant_type=client_credentials&client_id=app1&client_secret=" + strings.Repeat("x", 5<<20)
	for _, tc := range []struct {
		name    string
		chunked bool
	}{{"chunked", true}, {"with Content-Length", false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/oauth2/token", strings.NewReader(big))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.chunked {
				r.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, r)
			expect(t, rec, http.StatusRequestEntityTooLarge)
		})
	}
	require.NotEmpty(t, e.token("app1"), "a normal token request still works")
}

// Every list of a body is capped at 256: a registration with 5,000 appServiceRequired
// entries (40,000 no longer fit the body limit) is refused before it reaches the site, whose discovery would otherwise walk them.
func TestBodyListsCapped(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	deps := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"serName": "dep-" + strconv.Itoa(i), "version": "1"}
		}
		return out
	}
	rec := e.do(http.MethodPost, "/mec_app_support/v1/registrations", tok,
		map[string]any{"appName": "app1", "appInstanceId": "app1", "appServiceRequired": deps(5000)})
	expect(t, rec, http.StatusBadRequest)
	require.Contains(t, requireProblem(t, rec, http.StatusBadRequest).Detail, "/appServiceRequired has more than 256 items")
	expect(t, e.do(http.MethodPost, "/mec_app_support/v1/registrations", tok,
		map[string]any{"appName": "app1", "appInstanceId": "app1", "appServiceRequired": deps(256)}), http.StatusCreated)
}

// Query lists are capped too: 9,000 ser_name values are a 400, comma-separated or repeated.
func TestQueryListsCapped(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	names := make([]string, 9000)
	for i := range names {
		names[i] = "n" + strconv.Itoa(i)
	}
	for _, tc := range []struct{ name, query string }{
		{"comma list", "ser_name=" + strings.Join(names, ",")},
		{"repeated", "ser_name=" + strings.Join(names, "&ser_name=")},
		{"instance ids", "ser_instance_id=" + strings.Join(names, ",")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(_ *platform.Config, h *httpapi.Config) { h.MaxURIBytes = 1 << 20 })
			tok := e.app("app1")
			expect(t, e.do(http.MethodGet, "/mec_service_mgmt/v1/services?"+tc.query, tok, nil), http.StatusBadRequest)
		})
	}
	expect(t, e.do(http.MethodGet, "/mec_service_mgmt/v1/services?ser_name="+strings.Join(names[:256], ","), tok, nil), http.StatusOK)
}

// bigService is a service registration whose endpoint.alternative holds about n bytes.
func bigService(name string, n int) map[string]any {
	ti := transportInfo()
	ti["endpoint"] = map[string]any{"alternative": map[string]any{"blob": strings.Repeat("z", n)}}
	return map[string]any{"serName": name, "version": "1.0", "state": "ACTIVE", "serializer": "JSON", "transportInfo": ti}
}

// Free-form JSON is capped per service (413) and per app (429), and the cap of one app does
// not touch another's.
func TestStoredBytesCapped(t *testing.T) {
	e := newEnv(t, func(c *platform.Config, _ *httpapi.Config) { c.MaxServiceBytes, c.MaxAppBytes = 16<<10, 64<<10 })
	tok := e.app("app1")
	other := e.app("app2")
	path := "/mec_service_mgmt/v1/applications/app1/services"
	expect(t, e.do(http.MethodPost, path, tok, bigService("a", 20<<10)), http.StatusRequestEntityTooLarge)
	for range 5 { // 5 × ~12.4 KB fit in 64 KB
		expect(t, e.do(http.MethodPost, path, tok, bigService("a", 12<<10)), http.StatusCreated)
	}
	expect(t, e.do(http.MethodPost, path, tok, bigService("a", 12<<10)), http.StatusTooManyRequests)
	expect(t, e.do(http.MethodPost, "/mec_service_mgmt/v1/applications/app2/services", other, bigService("a", 12<<10)), http.StatusCreated)
	// A registration counts in the app's bytes, and is capped itself.
	reg := map[string]any{"appName": "app1", "appInstanceId": "app1", "appProfile": map[string]any{"blob": strings.Repeat("p", 20<<10)}}
	expect(t, e.do(http.MethodPost, "/mec_app_support/v1/registrations", tok, reg), http.StatusRequestEntityTooLarge)
	reg["appProfile"] = map[string]any{"blob": strings.Repeat("p", 15<<10)}
	expect(t, e.do(http.MethodPost, "/mec_app_support/v1/registrations", tok, reg), http.StatusTooManyRequests)
}

// discardWriter is a ResponseWriter that counts and drops the body, optionally waiting for
// a gate before its first write (to hold many answers in flight at once).
type discardWriter struct {
	h    http.Header
	n    int
	code int
	gate *sync.WaitGroup
	once sync.Once
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(c int)   { w.code = c }
func (w *discardWriter) Write(b []byte) (int, error) {
	w.once.Do(func() {
		if w.gate != nil {
			w.gate.Done()
			w.gate.Wait()
		}
	})
	w.n += len(b)
	return len(b), nil
}

// Discovery answers with the stored representations, without a per-request copy: 16
// concurrent discoveries of 1 MB each, all in flight at once, allocate far less than one
// answer each.
func TestDiscoveryMakesNoPerRequestCopy(t *testing.T) {
	e := newEnv(t, func(c *platform.Config, _ *httpapi.Config) { c.MaxServiceBytes, c.MaxAppBytes = 64<<10, 2<<20 })
	tok := e.app("app1")
	for range 16 {
		expect(t, e.do(http.MethodPost, "/mec_service_mgmt/v1/applications/app1/services", tok, bigService("a", 60<<10)), http.StatusCreated)
	}
	const n = 16
	discover := func(gate *sync.WaitGroup) *discardWriter {
		w := &discardWriter{h: http.Header{}, gate: gate}
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/mec_service_mgmt/v1/services?ser_name=a", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		e.h.ServeHTTP(w, r)
		return w
	}
	size := discover(nil).n
	require.Greater(t, size, 16*60<<10)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	var gate, done sync.WaitGroup
	gate.Add(n)
	for range n {
		done.Go(func() {
			w := discover(&gate)
			require.Equal(t, http.StatusOK, w.code)
			require.Equal(t, size, w.n)
		})
	}
	done.Wait()
	runtime.ReadMemStats(&ms1)
	perRequest := (ms1.TotalAlloc - ms0.TotalAlloc) / n
	t.Logf("answer %d bytes, allocated %d bytes per request", size, perRequest)
	require.Less(t, perRequest, uint64(size/8), "got %d bytes allocated per discovery of %d bytes; want no copy of the answer", perRequest, size)
}

// The body of a request may take at most BodyReadTimeout to arrive; a long poll without a
// body is not cut by it.
func TestSlowBodyTimesOut(t *testing.T) {
	e := newEnv(t, func(_ *platform.Config, h *httpapi.Config) { h.BodyReadTimeout = 300 * time.Millisecond })
	tok := e.app("app1")
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go func() { _, _ = pw.Write([]byte(`{"appName":`)) }() // then nothing
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/mec_app_support/v1/registrations", pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		require.GreaterOrEqual(t, resp.StatusCode, 400, "a body that never ends is not accepted")
	}
	require.Less(t, time.Since(start), 5*time.Second, "the slow body is cut after the timeout")

	// A long poll outlasts the body timeout.
	snap := decodeJSON[map[string]any](t, e.do(http.MethodGet, "/mepm/v1/feeds/traffic_rules", opToken, nil))
	req, err = http.NewRequestWithContext(t.Context(), http.MethodGet,
		srv.URL+"/mepm/v1/feeds/traffic_rules?timeout=1&after="+strconv.Itoa(int(snap["version"].(float64))), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+opToken)
	start = time.Now()
	resp, err = srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "the long poll waited its timeout")
}
