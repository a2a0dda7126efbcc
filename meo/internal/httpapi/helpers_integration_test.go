//go:build integration

package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo"
	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/httpapi"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/pkgm/pkgmtest"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	operator = "operator-token"
	viewer   = "viewer-token-1"
)

type env struct {
	t    *testing.T
	srv  *httptest.Server
	st   *pgstore.Store
	pk   *pkgm.Service
	root string
}

type envOpt func(*httpapi.Config, *pkgm.Config)

// newEnv serves the Mm1 API on a fresh database (dsn "" makes one).
func newEnv(t *testing.T, dsn string, opts ...envOpt) *env {
	t.Helper()
	if dsn == "" {
		dsn = pgtest.New(t)
	}
	log := slog.New(slog.DiscardHandler)
	e := &env{t: t}
	e.srv = httptest.NewUnstartedServer(nil)
	e.root = "http://" + e.srv.Listener.Addr().String()
	st, err := pgstore.Open(t.Context(), dsn, pgstore.Config{Router: pkgm.Router(e.root)})
	require.NoError(t, err)
	e.st = st
	pc := pkgm.Config{APIRoot: e.root, Reader: meo.PackageReader(apppkg.DefaultLimits()), Fetcher: pkgm.NewFetcher(pkgm.FetcherConfig{}), MaxPackageBytes: 8 << 20}
	hc := httpapi.Config{Logger: log, APIRoot: e.root, OperatorToken: operator, ViewerTokens: []string{viewer}, MaxBodyBytes: 64 << 10, PageSize: 3}
	for _, o := range opts {
		o(&hc, &pc)
	}
	e.pk = pkgm.New(pc, st, log)
	hc.Packages = e.pk
	h, err := httpapi.New(t.Context(), hc)
	require.NoError(t, err)
	e.srv.Config.Handler = h
	e.srv.Start()
	t.Cleanup(func() {
		e.srv.Close()
		e.pk.Close()
		st.Close()
	})
	return e
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body %s", r.body)
	return m
}

func (r resp) list(t *testing.T) []map[string]any {
	t.Helper()
	var m []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body %s", r.body)
	return m
}

// do sends a request with the operator token (unless headers set Authorization).
func (e *env) do(method, path string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ct = bytes.NewReader(b), "application/zip"
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	default:
		js, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd, ct = bytes.NewReader(js), "application/json"
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = e.srv.URL + path
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, url, rd)
	require.NoError(e.t, err)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Authorization", "Bearer "+operator)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// create creates a package resource for content and returns its id.
func (e *env) create(content []byte, extra map[string]any) string {
	e.t.Helper()
	body := map[string]any{"appPkgName": "pkg", "appPkgVersion": "1.0",
		"checksum": map[string]string{"algorithm": "SHA-256", "hash": pkgmtest.SHA256(content)}}
	for k, v := range extra {
		body[k] = v
	}
	r := e.do("POST", "/app_pkgm/v1/app_packages", body)
	require.Equal(e.t, http.StatusCreated, r.status, "body %s", r.body)
	return r.json(e.t)["id"].(string)
}

// onboard creates and uploads a package and returns its id.
func (e *env) onboard(appDID, name string) string {
	e.t.Helper()
	content := pkgmtest.Package(appDID, name)
	id := e.create(content, nil)
	r := e.do("PUT", "/app_pkgm/v1/app_packages/"+id+"/package_content", content)
	require.Equal(e.t, http.StatusAccepted, r.status, "body %s", r.body)
	return id
}

// problemOf checks a ProblemDetails answer and returns its detail.
func problemOf(t *testing.T, r resp, status int) string {
	t.Helper()
	require.Equal(t, status, r.status, "body %s", r.body)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	m := r.json(t)
	require.EqualValues(t, status, m["status"])
	require.NotEmpty(t, m["detail"])
	return m["detail"].(string)
}
