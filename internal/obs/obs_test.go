package obs

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgemec/edgemec/internal/problem/echoproblem"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	err := Options{LogLevel: "loud", LogFormat: "xml", SampleRatio: 2}.Validate()
	require.Error(t, err)
	for _, want := range []string{`log level "loud"`, `log format "xml"`, "sample ratio 2"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NoError(t, Options{}.Validate(), "the zero value is valid")
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]string{"": "INFO", "info": "INFO", "DEBUG": "DEBUG", "warning": "WARN", "error": "ERROR"} {
		lvl, err := ParseLevel(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, lvl.String(), in)
	}
	_, err := ParseLevel("trace")
	assert.Error(t, err)
}

func TestSetupLogsJSONWithComponentAndLevel(t *testing.T) {
	var out bytes.Buffer
	tel, err := Setup(t.Context(), Options{ServiceName: "svc", LogLevel: "warn", LogFormat: "json", Out: &out})
	require.NoError(t, err)
	assert.False(t, tel.Tracing(), "no OTLP endpoint: no export")
	tel.Logger.Info("hidden")
	tel.Logger.Warn("shown", "k", 1)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 1, "info is below the level")
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
	assert.Equal(t, "shown", rec["msg"])
	assert.Equal(t, "svc", rec["component"])
	assert.NoError(t, tel.Shutdown(t.Context()))
	assert.NoError(t, (*Telemetry)(nil).Shutdown(t.Context()), "nil is safe")
}

func TestMetricsHandlerServesTheRegistry(t *testing.T) {
	tel, err := Setup(t.Context(), Options{ServiceName: "svc", Out: io.Discard})
	require.NoError(t, err)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "obs_test_total", Help: "test"})
	tel.Registry.MustRegister(c)
	c.Add(3)
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Contains(t, rec.Body.String(), "obs_test_total 3")
	assert.Contains(t, rec.Body.String(), "go_goroutines", "the Go collector is registered")
}

func TestHTTPMetricsLabelByRouteTemplate(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewHTTPMetrics(reg, "t")
	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/apps/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	for _, p := range []string{"/apps/a", "/apps/b", "/nowhere"} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	assert.Equal(t, 2.0, testutil.ToFloat64(m.requests.WithLabelValues("GET", "/apps/:id", "204")),
		"two ids, one series")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues("GET", "unmatched", "404")))
}

func TestProbes(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = echoproblem.Handler(slog.New(slog.DiscardHandler), nil)
	ready := false
	Probes(e, func() bool { return ready }, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "m") }))
	get := func(p string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		return rec
	}
	assert.Equal(t, http.StatusServiceUnavailable, get("/readyz").Code, "not ready yet")
	ready = true
	assert.Equal(t, http.StatusOK, get("/readyz").Code)
	assert.Equal(t, http.StatusOK, get("/healthz").Code)
	assert.Equal(t, "m", get("/metrics").Body.String())
}
