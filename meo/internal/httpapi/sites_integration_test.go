//go:build integration

package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"

	itestutil "github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo"
	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/httpapi"
	"github.com/edgemec/edgemec/meo/internal/inventory"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
)

// sitesEnv serves the MEO API with the inventory on a fresh database, probing every interval.
type sitesEnv struct {
	*env
	inv *inventory.Service
	reg *prometheus.Registry
}

func newSitesEnv(t *testing.T, box *inventory.Box, interval time.Duration) *sitesEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	e := &env{t: t}
	e.srv = httptest.NewUnstartedServer(nil)
	e.root = "http://" + e.srv.Listener.Addr().String()
	st, err := pgstore.Open(t.Context(), pgtest.New(t), pgstore.Config{Router: pkgm.Router(e.root)})
	require.NoError(t, err)
	e.st = st
	reg := prometheus.NewRegistry()
	inv, err := inventory.New(inventory.Config{Box: box, Interval: interval, ProbeTimeout: 2 * time.Second, Registerer: reg, Logger: log}, st)
	require.NoError(t, err)
	e.pk = pkgm.New(pkgm.Config{APIRoot: e.root, Reader: meo.PackageReader(apppkg.DefaultLimits()), Fetcher: pkgm.NewFetcher(pkgm.FetcherConfig{}),
		MaxPackageBytes: 1 << 20}, st, log)
	h, err := httpapi.New(t.Context(), httpapi.Config{Packages: e.pk, Sites: inv, Logger: log, APIRoot: e.root,
		OperatorToken: operator, ViewerTokens: []string{viewer}, PageSize: 2})
	require.NoError(t, err)
	e.srv.Config.Handler = h
	e.srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = inv.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		e.srv.Close()
		inv.Close()
		e.pk.Close()
		st.Close()
	})
	return &sitesEnv{env: e, inv: inv, reg: reg}
}

func testBox(t *testing.T) *inventory.Box {
	t.Helper()
	k, err := inventory.ParseKey([]byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))))
	require.NoError(t, err)
	b, err := inventory.NewBox(k)
	require.NoError(t, err)
	return b
}

// testbedKubeconfig is the test-bed site's kubeconfig (skipped without one, failed under CI).
func testbedKubeconfig(t *testing.T) string {
	t.Helper()
	path := itestutil.RequireEnv(t, "EDGEMEC_TESTBED_KUBECONFIG")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// withBadToken returns the kubeconfig with its user's credentials replaced by a wrong token.
func withBadToken(t *testing.T, kc string) string {
	t.Helper()
	cfg, err := clientcmd.Load([]byte(kc))
	require.NoError(t, err)
	for _, a := range cfg.AuthInfos {
		a.ClientCertificateData, a.ClientKeyData, a.Token = nil, nil, "not-a-valid-token"
	}
	b, err := clientcmd.Write(*cfg)
	require.NoError(t, err)
	return string(b)
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

func siteBody(id, mepEndpoint, token, kubeconfig string) map[string]any {
	return map[string]any{
		"id": id, "name": "Site " + id, "labels": map[string]string{"region": "test"},
		"location": map[string]any{"lat": 43.6, "lon": 7.05, "countryCode": "FR",
			"servedAreas": []any{map[string]any{"tac": "0a1b", "latencyMs": 3}}},
		"mep": map[string]any{"endpoint": mepEndpoint, "token": token},
		"vim": map[string]any{"kind": "kubernetes", "kubeconfig": kubeconfig},
	}
}

func dig(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// TestSitesAPI drives the inventory API against a real MEP process and a real test-bed
// Kubernetes site.
func TestSitesAPI(t *testing.T) {
	kc := testbedKubeconfig(t)
	mep := meptest.Start(t, meptest.Options{})
	e := newSitesEnv(t, testBox(t), 300*time.Millisecond)
	const base = "/inventory/v1/sites"
	mepURL := mep.Root + "/mepm/v1"

	// Registration: the MEP answers Mm5, the VIM its capabilities (the kwok nodes).
	r := e.do("POST", base, siteBody("inv-a", mepURL, meptest.OperatorToken, kc))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.Equal(t, e.root+base+"/inv-a", r.header.Get("Location"))
	doc := r.json(t)
	nodes, _ := dig(doc, "state", "capacity", "nodes").([]any)
	require.NotEmpty(t, nodes, "capacity lists the test bed's nodes: %s", r.body)
	require.Greater(t, dig(doc, "state", "capacity", "allocatable", "milliCPU").(float64), 0.0)
	require.Equal(t, true, dig(doc, "state", "mep", "reachable"))
	require.Equal(t, true, dig(doc, "state", "vim", "reachable"))
	require.Equal(t, true, dig(doc, "state", "schedulable"))

	t.Run("get hides secrets", func(t *testing.T) {
		for _, path := range []string{base + "/inv-a", base} {
			r := e.do("GET", path, nil, "Authorization", "Bearer "+viewer)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			body := string(r.body)
			require.NotContains(t, body, meptest.OperatorToken)
			cfg, err := clientcmd.Load([]byte(kc))
			require.NoError(t, err)
			for _, a := range cfg.AuthInfos {
				require.NotContains(t, body, base64.StdEncoding.EncodeToString(a.ClientKeyData)[:40])
			}
			require.NotContains(t, body, "client-key-data")
		}
		doc := e.do("GET", base+"/inv-a", nil).json(t)
		require.Equal(t, true, dig(doc, "mep", "token", "set"))
		require.Equal(t, inventory.Fingerprint([]byte(meptest.OperatorToken)), dig(doc, "mep", "token", "fingerprint"))
		require.Equal(t, inventory.Fingerprint([]byte(kc)), dig(doc, "vim", "kubeconfig", "fingerprint"))
	})

	t.Run("duplicate", func(t *testing.T) {
		r := e.do("POST", base, siteBody("inv-a", mepURL, meptest.OperatorToken, kc))
		require.Equal(t, http.StatusConflict, r.status, "%s", r.body)
	})

	t.Run("invalid lists every problem", func(t *testing.T) {
		r := e.do("POST", base, map[string]any{"id": "Bad_ID", "mep": map[string]any{"endpoint": "ftp://x"},
			"vim": map[string]any{"kind": "kubernetes"}, "location": map[string]any{"lat": 100, "lon": 0}})
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		detail := r.json(t)["detail"].(string)
		for _, want := range []string{"id:", "mep.endpoint:", "mep.token: required", "vim.kubeconfig: required", "location.lat: 100"} {
			require.Contains(t, detail, want)
		}
	})

	t.Run("unknown attribute", func(t *testing.T) {
		b := siteBody("inv-x", mepURL, meptest.OperatorToken, kc)
		b["mep"].(map[string]any)["tokn"] = "typo"
		r := e.do("POST", base, b)
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	})

	for _, tc := range []struct {
		name           string
		mep, token, kc string
		want, notWant  []string
	}{
		{"mep down", "http://" + closedPort(t) + "/mepm/v1", meptest.OperatorToken, kc,
			[]string{"mep: ", "connection refused"}, []string{"vim:"}},
		{"mep wrong token", mepURL, "wrong-token-123", kc,
			[]string{"mep: GET " + mepURL + "/app_instances: 401"}, []string{"vim:"}},
		{"bad kubeconfig", mepURL, meptest.OperatorToken, withBadToken(t, kc),
			[]string{"vim: ", "Unauthorized"}, []string{"mep:"}},
		{"both down", "http://" + closedPort(t) + "/mepm/v1", meptest.OperatorToken, withBadToken(t, kc),
			[]string{"mep: ", "vim: "}, nil},
	} {
		t.Run("check fails: "+tc.name, func(t *testing.T) {
			r := e.do("POST", base, siteBody("inv-bad", tc.mep, tc.token, tc.kc))
			require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
			detail := r.json(t)["detail"].(string)
			t.Logf("422 detail: %s", detail)
			for _, w := range tc.want {
				require.Contains(t, detail, w)
			}
			for _, w := range tc.notWant {
				require.NotContains(t, detail, w)
			}
			require.NotContains(t, detail, tc.token)
			require.Equal(t, http.StatusNotFound, e.do("GET", base+"/inv-bad", nil).status, "nothing stored")
		})
	}

	t.Run("viewer cannot write", func(t *testing.T) {
		auth := []string{"Authorization", "Bearer " + viewer}
		require.Equal(t, http.StatusForbidden, e.do("POST", base, siteBody("inv-v", mepURL, meptest.OperatorToken, kc), auth...).status)
		require.Equal(t, http.StatusForbidden, e.do("POST", base+"/inv-a/cordon", nil, auth...).status)
		require.Equal(t, http.StatusForbidden, e.do("DELETE", base+"/inv-a", nil, auth...).status)
		require.Equal(t, http.StatusUnauthorized, e.do("GET", base, nil, "Authorization", "Bearer nope-nope-nope").status)
	})

	t.Run("label selector", func(t *testing.T) {
		require.Len(t, e.do("GET", base+"?labelSelector=region=test", nil).list(t), 1)
		require.Empty(t, e.do("GET", base+"?labelSelector=region=other", nil).list(t))
		require.Equal(t, http.StatusBadRequest, e.do("GET", base+"?labelSelector=novalue", nil).status)
		require.Equal(t, http.StatusBadRequest, e.do("GET", base+"?color=red", nil).status)
	})

	t.Run("cordon drain uncordon", func(t *testing.T) {
		schedulable := func() bool {
			ps, err := e.inv.Placement(t.Context())
			require.NoError(t, err)
			require.Len(t, ps, 1)
			require.True(t, ps[0].MEPReachable && ps[0].VIMReachable)
			require.NotEmpty(t, ps[0].Capabilities.Nodes)
			return ps[0].Schedulable
		}
		require.True(t, schedulable())
		// Narrowed to ids (a pinned placement): the known ones only.
		ps, err := e.inv.Placement(t.Context(), "inv-a", "inv-gone")
		require.NoError(t, err)
		require.Len(t, ps, 1)
		require.Equal(t, "inv-a", ps[0].ID)
		require.NotEmpty(t, ps[0].Capabilities.Nodes)
		ps, err = e.inv.Placement(t.Context(), "inv-gone")
		require.NoError(t, err)
		require.Empty(t, ps)
		r := e.do("POST", base+"/inv-a/cordon", nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, false, dig(r.json(t), "state", "schedulable"))
		require.False(t, schedulable())
		r = e.do("POST", base+"/inv-a/drain", nil)
		require.Equal(t, true, dig(r.json(t), "state", "draining"))
		require.False(t, schedulable())
		r = e.do("POST", base+"/inv-a/uncordon", nil)
		require.Equal(t, false, dig(r.json(t), "state", "draining"))
		require.True(t, schedulable())
		require.Equal(t, http.StatusNotFound, e.do("POST", base+"/nope/cordon", nil).status)
	})

	t.Run("patch", func(t *testing.T) {
		r := e.do("PATCH", base+"/inv-a", map[string]any{"name": "Renamed", "labels": map[string]string{"region": "test", "tier": "far"}})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, "Renamed", r.json(t)["name"])
		// A rotation to a token the MEP refuses is checked and refused; nothing changes.
		r = e.do("PATCH", base+"/inv-a", map[string]any{"mep": map[string]any{"token": "rotated-but-wrong"}})
		require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
		require.Contains(t, r.json(t)["detail"], "401")
		doc := e.do("GET", base+"/inv-a", nil).json(t)
		require.Equal(t, inventory.Fingerprint([]byte(meptest.OperatorToken)), dig(doc, "mep", "token", "fingerprint"))
		// A connection change that answers replaces the cached connection.
		before, err := e.inv.Connect(t.Context(), "inv-a")
		require.NoError(t, err)
		r = e.do("PATCH", base+"/inv-a", map[string]any{"mp1Endpoint": "http://10.1.2.3:8080/mep"})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		after, err := e.inv.Connect(t.Context(), "inv-a")
		require.NoError(t, err)
		require.Equal(t, "http://10.1.2.3:8080/mep", after.MEPEndpoint)
		require.NotSame(t, before.MEP, after.MEP)
		again, err := e.inv.Connect(t.Context(), "inv-a")
		require.NoError(t, err)
		require.Same(t, after.MEP, again.MEP, "cached while the settings do not change")
	})

	t.Run("connect", func(t *testing.T) {
		s, err := e.inv.Connect(t.Context(), "inv-a")
		require.NoError(t, err)
		require.Equal(t, "inv-a", s.Name)
		_, err = s.MEP.GetAppInstanceWithResponse(t.Context(), "none", nil)
		require.NoError(t, err)
		caps, err := s.VIM.Capabilities(t.Context())
		require.NoError(t, err)
		require.NotEmpty(t, caps.Nodes)
		ids, err := e.inv.IDs(t.Context())
		require.NoError(t, err)
		require.Equal(t, []string{"inv-a"}, ids)
		_, err = e.inv.Connect(t.Context(), "nope")
		require.ErrorIs(t, err, inventory.ErrNotFound)
	})

	t.Run("delete in use", func(t *testing.T) {
		_, err := e.st.Pool().Exec(t.Context(), `INSERT INTO app_instances (id, app_d_id, app_pkg_id, instantiation_state, site_id, resources, doc)
			VALUES ('inst-1', 'app-d-1', 'pkg', 'INSTANTIATED', 'inv-a', '{"milliCPU": 250, "memoryBytes": 1048576}', '{}')`)
		require.NoError(t, err)
		r := e.do("DELETE", base+"/inv-a", nil)
		require.Equal(t, http.StatusConflict, r.status, "%s", r.body)
		doc := e.do("GET", base+"/inv-a", nil).json(t)
		require.Equal(t, 250.0, dig(doc, "state", "committed", "milliCPU"))
		require.Equal(t, 1.0, dig(doc, "state", "instances", "app-d-1"))
		ps, err := e.inv.Placement(t.Context())
		require.NoError(t, err)
		require.Equal(t, int64(1048576), ps[0].Committed.MemoryBytes)
		require.Equal(t, map[string]int{"app-d-1": 1}, ps[0].Instances)
		_, err = e.st.Pool().Exec(t.Context(), `DELETE FROM app_instances WHERE id = 'inst-1'`)
		require.NoError(t, err)
	})

	t.Run("health follows the MEP", func(t *testing.T) {
		waitHealth := func(reachable bool) map[string]any {
			t.Helper()
			var doc map[string]any
			require.Eventually(t, func() bool {
				doc = e.do("GET", base+"/inv-a", nil).json(t)
				return dig(doc, "state", "mep", "reachable") == reachable
			}, 15*time.Second, 100*time.Millisecond, "mep reachable=%v", reachable)
			return doc
		}
		mep.Stop()
		doc := waitHealth(false)
		require.Contains(t, dig(doc, "state", "mep", "lastError"), "connection refused")
		require.NotEmpty(t, dig(doc, "state", "mep", "lastSeen"), "last seen is kept")
		require.Equal(t, true, dig(doc, "state", "vim", "reachable"))
		ps, err := e.inv.Placement(t.Context())
		require.NoError(t, err)
		require.False(t, ps[0].MEPReachable)
		require.Eventually(t, func() bool {
			return testutil.ToFloat64(gauge(t, e.reg, "unreachable")) == 1
		}, 5*time.Second, 50*time.Millisecond)
		mep.Start()
		doc = waitHealth(true)
		require.Empty(t, dig(doc, "state", "mep", "lastError"))
	})

	t.Run("delete", func(t *testing.T) {
		require.Equal(t, http.StatusNoContent, e.do("DELETE", base+"/inv-a", nil).status)
		require.Equal(t, http.StatusNotFound, e.do("GET", base+"/inv-a", nil).status)
		require.Equal(t, http.StatusNotFound, e.do("DELETE", base+"/inv-a", nil).status)
	})
}

// gauge returns the meo_sites gauge of a health class.
func gauge(t *testing.T, reg *prometheus.Registry, health string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() != "meo_sites" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "health" && l.GetValue() == health {
					g.Set(m.GetGauge().GetValue())
				}
			}
		}
	}
	return g
}

// Without a secret key the MEO refuses to register sites, saying why.
func TestSitesWithoutKey(t *testing.T) {
	e := newSitesEnv(t, nil, time.Minute)
	r := e.do("POST", "/inventory/v1/sites", siteBody("inv-k", "http://127.0.0.1:1/mepm/v1", "token-123", minimalKubeconfig))
	require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	require.Contains(t, r.json(t)["detail"], "secret key")
	require.Equal(t, fmt.Sprint(http.StatusNotFound), fmt.Sprint(e.do("GET", "/inventory/v1/sites/inv-k", nil).status))
	require.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json"))
}

const minimalKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: a, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: a, context: {cluster: a, user: u}}]
current-context: a
`
