//go:build integration

package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/meptest"
)

// The real binary against a real MEO (on PostgreSQL) and a real mep process: a context
// written by the binary, an onboarding followed to the end, a site view, help on stdout and
// the exit codes a script sees.
func TestBinaryEndToEnd(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "mecctl")
	testutil.GoBuild(t, "./cmd/mecctl", bin)
	meoRoot := startMEO(t)
	site := meptest.Start(t, meptest.Options{})
	home := t.TempDir()
	cfg := filepath.Join(home, "config.yaml")
	meoTok := writeFile(t, "meo.token", []byte(meoToken+"\n"))
	mepTok := writeFile(t, "mep.token", []byte(meptest.OperatorToken))
	zipPath := writeFile(t, "mecapp.zip", samplePackage(t, "mecapp"))

	type res struct {
		out, err string
		code     int
	}
	mecctl := func(stdin string, envs []string, args ...string) res {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append([]string{"HOME=" + home, "MECCTL_CONFIG=" + cfg, "PATH=" + os.Getenv("PATH")}, envs...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return res{out.String(), errb.String(), code}
	}
	must := func(args ...string) string {
		t.Helper()
		r := mecctl("", nil, args...)
		require.Equal(t, 0, r.code, "mecctl %v\nstdout: %s\nstderr: %s", args, r.out, r.err)
		return r.out
	}

	// Help: stdout, exit 0, for -h, --help and help.
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help", "site", "apps"}, {"package", "onboard", "-h"}} {
		r := mecctl("", nil, args...)
		assert.Equal(t, 0, r.code, "%v", args)
		assert.Contains(t, r.out, "Usage:", "%v", args)
		assert.Empty(t, r.err, "%v", args)
	}

	must("config", "set-context", "e2e", "--meo", strings.TrimPrefix(meoRoot, "http://"), "--token-file", meoTok,
		"--site", "edge-1="+site.Root, "--site-token-file", "edge-1="+mepTok)
	assert.Equal(t, "context/e2e\n", must("config", "get-contexts", "-o", "name"))

	// Onboarding followed to the end, then the package by its appDId.
	r := mecctl("", nil, "package", "onboard", "-f", zipPath, "--wait", "-o", "name")
	require.Equal(t, 0, r.code, r.err)
	assert.Regexp(t, `^package/[0-9a-f-]{36}\n$`, r.out)
	assert.Contains(t, r.err, " ONBOARDED\n")
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(must("package", "get", "mecapp", "-o", "json")), &info))
	assert.Equal(t, "ONBOARDED", info["onboardingState"])
	assert.Equal(t, "ENABLED", info["operationalState"])

	// A site: provision from YAML on stdin, list, and the secret kept back.
	data, err := os.ReadFile("testdata/cache.yaml")
	require.NoError(t, err)
	r = mecctl(string(data), nil, "site", "provision", "edge-1", "cache-1", "-f", "-", "-o", "yaml")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "clientSecret: <hidden>")
	assert.Regexp(t, `(?m)^cache-1\s+cache\s+cache-appd\s+INSTANTIATED\s+1\s+1\s`, must("site", "apps", "edge-1"))
	assert.Regexp(t, `(?m)^cache-1\s+tr-cache\s+3\s+FORWARD_DECAPSULATED\s+ACTIVE$`, must("site", "rules", "edge-1"))

	// Exit codes a script relies on.
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
	}{
		{"usage", nil, []string{"site", "apps"}, ExitUsage},
		{"not found", nil, []string{"site", "apps", "edge-1", "ghost"}, ExitNotFound},
		{"refused", nil, []string{"package", "delete", "mecapp"}, ExitRefused},
		{"unreachable", []string{"MECCTL_MEO=127.0.0.1:1"}, []string{"package", "list"}, ExitUnreachable},
		{"typo in input", nil, []string{"site", "provision", "edge-1", "x", "-f", "testdata/typo.yaml"}, ExitUsage},
		{"env overrides the context", []string{"MECCTL_TOKEN=wrong-token"}, []string{"package", "list"}, ExitRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mecctl("", tc.env, tc.args...)
			assert.Equal(t, tc.code, r.code, "stderr: %s", r.err)
			assert.Empty(t, r.out)
			assert.True(t, strings.HasPrefix(r.err, "Error: "), r.err)
		})
	}
}
