//go:build integration

package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const meoToken = "meo-operator-token"

// startMEO runs a real MEO in-process on a fresh PostgreSQL database, with a key for the
// sites' secrets.
func startMEO(t *testing.T) string {
	t.Helper()
	dsn := pgtest.New(t)
	tel, err := obs.Setup(t.Context(), obs.Options{ServiceName: "meo", LogLevel: "error", Out: io.Discard})
	require.NoError(t, err)
	key := writeFile(t, "secret.key", []byte(strings.Repeat("ab", 32)+"\n"))
	m, err := meo.New(t.Context(), meo.Config{HTTPAddr: "127.0.0.1:0", DatabaseURL: dsn, OperatorToken: meoToken,
		SecretKeyFile: key}, tel)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool {
		r, err := http.Get(m.APIRoot() + "/readyz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond)
	return m.APIRoot()
}

// samplePackage is the repository's sample package with its AppD renamed appDId.
func samplePackage(t *testing.T, appDId string) []byte { return testutil.SamplePackage(t, appDId) }

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

func meoEnv(t *testing.T) (env, string) {
	t.Helper()
	root := startMEO(t)
	e := newEnv(t)
	ok(t, e, "", "config", "set-context", "lab", "--meo", root, "--token-file", tokenFile(t, meoToken))
	return e, root
}

func TestPackageCommandsGolden(t *testing.T) {
	e, _ := meoEnv(t)
	n := &normalizer{}
	zipPath := writeFile(t, "mecapp.zip", samplePackage(t, "mecapp"))

	r := run(t, e, "", "package", "onboard", "-f", zipPath, "--wait", "-o", "yaml")
	require.Equal(t, 0, r.code, r.err)
	golden(t, "package-onboard.yaml", n.normalize(r.out))
	assert.Regexp(t, `^package/\S+ CREATED\n(package/\S+ (UPLOADING|PROCESSING)\n)*package/\S+ ONBOARDED\n$`, r.err)

	r = run(t, e, string(samplePackage(t, "second")), "package", "onboard", "-f", "-", "--name", "second", "--pkg-version", "2.0",
		"--provider", "acme", "-o", "name")
	require.Equal(t, 0, r.code, r.err)
	assert.Regexp(t, `^package/[0-9a-f-]{36}\n$`, r.out)

	goldenFormats(t, e, n, "package-list", "package", "list")
	goldenFormats(t, e, n, "package-get", "package", "get", "mecapp")
	goldenFormats(t, e, n, "package-disable", "package", "disable", "second")
	goldenFormats(t, e, n, "package-list-filter", "package", "list", "--filter", "(eq,operationalState,DISABLED)")
	for _, f := range allFormats {
		t.Run("delete/"+f, func(t *testing.T) {
			id := strings.TrimSpace(strings.TrimPrefix(ok(t, e, "", "package", "onboard", "-f", writeFile(t, "d.zip", samplePackage(t, "del-"+f)), "-o", "name"), "package/"))
			ok(t, e, "", "package", "disable", id)
			out := ok(t, e, "", "package", "delete", id, "-o", f)
			golden(t, "package-delete."+f, n.normalize(out))
			r := run(t, e, "", "package", "get", id)
			assert.Equal(t, ExitNotFound, r.code)
		})
	}
}

func TestPackageErrors(t *testing.T) {
	e, _ := meoEnv(t)
	content := samplePackage(t, "mecapp")
	ok(t, e, "", "package", "onboard", "-f", writeFile(t, "p.zip", content), "--wait")

	t.Run("not found", func(t *testing.T) {
		r := run(t, e, "", "package", "get", "nope")
		assert.Equal(t, ExitNotFound, r.code)
		assert.Contains(t, r.err, "get package nope failed: 404 Not Found")
	})
	t.Run("enable twice is no error", func(t *testing.T) {
		assert.Equal(t, ok(t, e, "", "package", "enable", "mecapp", "-o", "name"), ok(t, e, "", "package", "enable", "mecapp", "-o", "name"))
	})
	t.Run("delete enabled is refused with the reason", func(t *testing.T) {
		r := run(t, e, "", "package", "delete", "mecapp")
		assert.Equal(t, ExitRefused, r.code)
		assert.Contains(t, r.err, "409 Conflict")
		assert.Contains(t, r.err, "is ENABLED: disable it first")
		assert.Contains(t, r.err, "hint:")
	})
	t.Run("viewer cannot write", func(t *testing.T) {
		r := run(t, e, "", "package", "disable", "mecapp", "--token", "wrong-token")
		assert.Equal(t, ExitRefused, r.code)
		assert.Contains(t, r.err, "401 Unauthorized")
	})
	t.Run("bad zip is refused at upload", func(t *testing.T) {
		r := run(t, e, "", "package", "onboard", "-f", writeFile(t, "bad.zip", []byte("not a zip")), "--wait")
		assert.Equal(t, ExitRefused, r.code, r.err)
		assert.Contains(t, r.err, "upload package")
		assert.Contains(t, r.err, "400 Bad Request")
		assert.Contains(t, r.err, "detail:   invalid package: app package: not a readable zip")
	})
	t.Run("checksum flag must match the file", func(t *testing.T) {
		r := run(t, e, "", "package", "onboard", "-f", writeFile(t, "p.zip", content), "--checksum", strings.Repeat("0", 64))
		assert.Equal(t, ExitUsage, r.code)
		assert.Contains(t, r.err, "does not match")
	})
}

// --url: the MEO fetches the package; --wait follows it to ONBOARDED, to ERROR (exit 4 with
// the failure details) or to the timeout (exit 6).
func TestOnboardFromURL(t *testing.T) {
	e, _ := meoEnv(t)
	content := samplePackage(t, "fetched")
	sum := sha256.Sum256(content)
	slow := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow.zip" {
			select {
			case <-slow:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = w.Write(content)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(slow) }) // runs first: the MEO's fetch of slow.zip may still wait

	r := run(t, e, "", "package", "onboard", "--url", srv.URL+"/fetched.zip", "--checksum", hex.EncodeToString(sum[:]), "--wait", "-o", "json")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, `"appPkgName": "fetched"`)
	assert.Contains(t, r.out, `"onboardingState": "ONBOARDED"`)

	r = run(t, e, "", "package", "onboard", "--url", srv.URL+"/wrong.zip", "--checksum", strings.Repeat("ab", 32), "--wait")
	assert.Equal(t, ExitRefused, r.code, r.err)
	assert.Contains(t, r.err, "ended ERROR")
	assert.Contains(t, r.err, "checksum")

	start := time.Now()
	r = run(t, e, "", "package", "onboard", "--url", srv.URL+"/slow.zip", "--checksum", strings.Repeat("ab", 32), "--wait", "--timeout", "700ms")
	assert.Equal(t, ExitTimeout, r.code, r.err)
	assert.Regexp(t, `timed out waiting for package \S+ to onboard \(last state (CREATED|UPLOADING)\)`, r.err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// The inventory commands against the real MEO: registering a site needs a reachable MEP and
// VIM (the inventory's own tests run those), so here: the empty inventory in every format, a
// site that is not registered, and a registration the MEO's check refuses, with its reason.
func TestInventoryRealMEO(t *testing.T) {
	e, _ := meoEnv(t)
	n := &normalizer{}
	for _, f := range allFormats {
		r := run(t, e, "", "site", "list", "-o", f)
		require.Equal(t, 0, r.code, r.err)
		golden(t, "site-list-empty."+f, n.normalize(r.out))
	}
	r := run(t, e, "", "site", "get", "ghost")
	assert.Equal(t, ExitNotFound, r.code, r.err)
	assert.Contains(t, r.err, "get site ghost failed: 404 Not Found")

	r = run(t, e, `{"id":"edge-x","mep":{"endpoint":"http://127.0.0.1:1/mepm/v1","token":"mep-token-123"},
		"vim":{"kind":"kubernetes","kubeconfig":"apiVersion: v1"}}`, "site", "add", "-f", "-")
	assert.Contains(t, []int{ExitRefused}, r.code, r.err)
	assert.Contains(t, r.err, "add site edge-x failed: 4")
	assert.NotContains(t, r.err, "mep-token-123")
	r = run(t, e, "", "site", "remove", "edge-x")
	assert.Equal(t, ExitNotFound, r.code, "nothing was registered: %s", r.err)
}
