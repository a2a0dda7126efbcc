//go:build integration

package meo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo"
	"github.com/edgemec/edgemec/meo/internal/pkgm/pkgmtest"
	"github.com/edgemec/edgemec/meo/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const opToken = "operator-secret-token"

// instance is a MEO started in-process on a loopback port.
type instance struct {
	m      *meo.MEO
	root   string
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg meo.Config) *instance {
	t.Helper()
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	cfg.OperatorToken = opToken
	tel, err := obs.Setup(t.Context(), obs.Options{ServiceName: "meo", LogLevel: "warn", Out: io.Discard})
	require.NoError(t, err)
	m, err := meo.New(t.Context(), cfg, tel)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{m: m, root: m.APIRoot(), cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- m.Run(ctx) }()
	t.Cleanup(in.stop)
	waitReady(t, in.root)
	return in
}

func (in *instance) stop() {
	if in.cancel == nil {
		return
	}
	in.cancel()
	<-in.done
	in.cancel = nil
}

func waitReady(t *testing.T, root string) {
	t.Helper()
	require.Eventually(t, func() bool {
		r, err := http.Get(root + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond)
}

func call(t *testing.T, method, url, token string, body []byte, ct string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, b
}

func createBody(content []byte) []byte {
	return fmt.Appendf(nil, `{"appPkgName":"p","appPkgVersion":"1","checksum":{"algorithm":"SHA-256","hash":%q}}`, pkgmtest.SHA256(content))
}

// onboard creates and uploads a package through root and returns its id.
func onboard(t *testing.T, root string, content []byte) string {
	t.Helper()
	st, b := call(t, "POST", root+"/app_pkgm/v1/app_packages", opToken, createBody(content), "application/json")
	require.Equal(t, http.StatusCreated, st, "body %s", b)
	var info map[string]any
	require.NoError(t, json.Unmarshal(b, &info))
	id := info["id"].(string)
	st, b = call(t, "PUT", root+"/app_pkgm/v1/app_packages/"+id+"/package_content", opToken, content, "application/zip")
	require.Equal(t, http.StatusAccepted, st, "body %s", b)
	return id
}

// Two MEO processes on one database serve the same packages, content included.
func TestTwoInstancesShareState(t *testing.T) {
	dsn := pgtest.New(t)
	a := start(t, meo.Config{DatabaseURL: dsn})
	b := start(t, meo.Config{DatabaseURL: dsn})
	content := pkgmtest.Package("shared", "shared")
	id := onboard(t, a.root, content)
	st, body := call(t, "GET", b.root+"/app_pkgm/v1/app_packages/"+id, opToken, nil, "")
	require.Equal(t, http.StatusOK, st)
	assert.Contains(t, string(body), `"onboardingState":"ONBOARDED"`)
	st, body = call(t, "GET", b.root+"/app_pkgm/v1/onboarded_app_packages/shared/package_content", opToken, nil, "")
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, content, body)
	// A change through B is seen by A.
	st, _ = call(t, "PATCH", b.root+"/app_pkgm/v1/app_packages/"+id, opToken, []byte(`{"operationalState":"DISABLED"}`), "application/json")
	require.Equal(t, http.StatusOK, st)
	_, body = call(t, "GET", a.root+"/app_pkgm/v1/app_packages/"+id, opToken, nil, "")
	assert.Contains(t, string(body), `"operationalState":"DISABLED"`)
}

func TestRefusesNewerSchema(t *testing.T) {
	dsn := pgtest.New(t)
	in := start(t, meo.Config{DatabaseURL: dsn})
	in.stop()
	pool, err := pgxpool.New(t.Context(), dsn)
	require.NoError(t, err)
	_, err = pool.Exec(t.Context(), "INSERT INTO meo_schema_version (version) VALUES (9999)")
	require.NoError(t, err)
	pool.Close()
	tel, err := obs.Setup(t.Context(), obs.Options{ServiceName: "meo", Out: io.Discard})
	require.NoError(t, err)
	_, err = meo.New(t.Context(), meo.Config{HTTPAddr: "127.0.0.1:0", DatabaseURL: dsn, OperatorToken: opToken}, tel)
	require.ErrorIs(t, err, store.ErrSchemaNewer)
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  meo.Config
		want []string
	}{
		{"empty", meo.Config{}, []string{"database url is required", "operator token is required"}},
		{"short tokens", meo.Config{DatabaseURL: "postgres://x", OperatorToken: "short", ViewerTokens: []string{"v"}},
			[]string{"operator token must be at least 8", "viewer token 1 must be at least 8"}},
		{"viewer equals operator", meo.Config{DatabaseURL: "postgres://x", OperatorToken: opToken, ViewerTokens: []string{opToken}},
			[]string{"viewer token 1 equals the operator token"}},
		{"tls half", meo.Config{DatabaseURL: "postgres://x", OperatorToken: opToken, TLSCertFile: "c"}, []string{"TLS needs both"}},
		{"bad addr", meo.Config{DatabaseURL: "postgres://x", OperatorToken: opToken, HTTPAddr: "nope"}, []string{"http addr"}},
		{"valid", meo.Config{DatabaseURL: "postgres://x", OperatorToken: opToken, ViewerTokens: []string{"viewer-token"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// The binary contract: build ./cmd/meo, run it with --http-addr, --database-url and
// --operator-token; /readyz answers 200 when ready; the operator token opens Mm1, viewer
// tokens only read; SIGTERM stops it cleanly.
func TestBinary(t *testing.T) {
	dsn := pgtest.New(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "meo")
	testutil.GoBuild(t, "./cmd/meo", bin)
	addr := freePort(t)
	cmd := exec.Command(bin, "--http-addr", addr, "--database-url", dsn, "--operator-token", opToken,
		"--viewer-token", "viewer-one-token", "--viewer-token", "viewer-two-token,viewer-three-token")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	root := "http://" + addr
	waitReady(t, root)

	content := pkgmtest.Package("bin", "bin")
	id := onboard(t, root, content)
	for _, tc := range []struct {
		name, method, path, token string
		body                      []byte
		status                    int
	}{
		{"operator reads", "GET", "/app_pkgm/v1/app_packages/" + id, opToken, nil, 200},
		{"viewer one reads", "GET", "/app_pkgm/v1/app_packages", "viewer-one-token", nil, 200},
		{"viewer three reads", "GET", "/app_pkgm/v1/onboarded_app_packages/bin/appd", "viewer-three-token", nil, 200},
		{"viewer may not write", "POST", "/app_pkgm/v1/app_packages", "viewer-two-token", createBody(content), 403},
		{"no token", "GET", "/app_pkgm/v1/app_packages", "", nil, 401},
		{"metrics", "GET", "/metrics", "", nil, 200},
		{"healthz", "GET", "/healthz", "", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := ""
			if tc.body != nil {
				ct = "application/json"
			}
			st, b := call(t, tc.method, root+tc.path, tc.token, tc.body, ct)
			assert.Equal(t, tc.status, st, "body %s", b)
		})
	}
	_, metrics := call(t, "GET", root+"/metrics", "", nil, "")
	assert.Contains(t, string(metrics), "meo_http_requests_total")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "logs:\n%s", logs.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("meo did not stop on SIGTERM; logs:\n%s", logs.String())
	}

	// Environment variables configure it too; a bad configuration names every problem.
	cmd = exec.Command(bin)
	cmd.Env = append(os.Environ(), "MEO_OPERATOR_TOKEN=short")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "database url is required")
	assert.Contains(t, string(out), "operator token must be at least 8")
	assert.True(t, strings.HasPrefix(string(out), "meo: "), "output %s", out)
}

// subscriber is a notification endpoint that can be switched off (503).
type subscriber struct {
	mu    sync.Mutex
	up    bool
	got   []map[string]any
	fails int
}

func (s *subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n map[string]any
	_ = json.NewDecoder(r.Body).Decode(&n)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		s.fails++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	s.got = append(s.got, n)
	w.WriteHeader(http.StatusNoContent)
}

func (s *subscriber) set(up bool) {
	s.mu.Lock()
	s.up = up
	s.mu.Unlock()
}

// types returns the notification types received for a subscription (sorted by arrival).
func (s *subscriber) types(subID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.got {
		if n["subscriptionId"] == subID {
			out = append(out, n["notificationType"].(string))
		}
	}
	return out
}

func subscribe(t *testing.T, root, callback, body string) string {
	t.Helper()
	st, b := call(t, "POST", root+"/app_pkgm/v1/subscriptions", opToken,
		[]byte(strings.Replace(body, "CB", callback, 1)), "application/json")
	require.Equal(t, http.StatusCreated, st, "body %s", b)
	var info map[string]any
	require.NoError(t, json.Unmarshal(b, &info))
	return info["id"].(string)
}

// Notifications reach a real HTTP subscriber, at least once, also when it was down while
// the MEO that queued them stopped: the next MEO on the database delivers them.
func TestNotificationsAcrossRestart(t *testing.T) {
	dsn := pgtest.New(t)
	sub := &subscriber{up: true}
	srv := httptest.NewServer(sub)
	t.Cleanup(srv.Close)
	a := start(t, meo.Config{DatabaseURL: dsn})
	onb := subscribe(t, a.root, srv.URL+"/onb", `{"callbackUri":"CB","subscriptionType":"AppPackageOnBoarding"}`)
	op := subscribe(t, a.root, srv.URL+"/op", `{"callbackUri":"CB","subsctiptionType":"AppPacakgeOperationChange"}`)
	del := subscribe(t, a.root, srv.URL+"/del", `{"callbackUri":"CB","subscriptionType":"AppPackageDeletion"}`)
	other := subscribe(t, a.root, srv.URL+"/other", `{"callbackUri":"CB","subscriptionType":"AppPackageOnBoarding","appPkgFilter":[{"appDId":["other"]}]}`)

	id := onboard(t, a.root, pkgmtest.Package("notified", "notified-app"))
	require.Eventually(t, func() bool { return len(sub.types(onb)) == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"AppPackageOnBoarded"}, sub.types(onb))
	sub.mu.Lock()
	n := sub.got[0]
	sub.mu.Unlock()
	assert.Equal(t, id, n["appPkgId"])
	assert.Equal(t, "notified", n["appDId"])
	assert.Equal(t, "ENABLED", n["operationalState"])
	assert.Equal(t, a.root+"/app_pkgm/v1/subscriptions/"+onb, n["_links"].(map[string]any)["subscription"].(map[string]any)["href"])

	// The subscriber goes down; the disable notification cannot be delivered before A stops.
	sub.set(false)
	st, _ := call(t, "PATCH", a.root+"/app_pkgm/v1/app_packages/"+id, opToken, []byte(`{"operationalState":"DISABLED"}`), "application/json")
	require.Equal(t, http.StatusOK, st)
	require.Eventually(t, func() bool { sub.mu.Lock(); defer sub.mu.Unlock(); return sub.fails > 0 }, 10*time.Second, 10*time.Millisecond)
	a.stop()
	sub.set(true)
	assert.Empty(t, sub.types(op))

	b := start(t, meo.Config{DatabaseURL: dsn})
	require.Eventually(t, func() bool { return len(sub.types(op)) == 1 }, 15*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{"AppPackageDisabled"}, sub.types(op), "correct spelling")

	st, _ = call(t, "DELETE", b.root+"/app_pkgm/v1/app_packages/"+id, opToken, nil, "")
	require.Equal(t, http.StatusNoContent, st)
	require.Eventually(t, func() bool { return len(sub.types(del)) == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"AppPackageDeleted"}, sub.types(del))
	assert.Empty(t, sub.types(other), "filtered out")
	assert.Len(t, sub.types(onb), 1, "no duplicate onboarding notification")
}
