package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil"
)

const systemdDir = "../../deploy/systemd"

// TestSystemdUnitsVerify runs `systemd-analyze verify` on every unit and fails on any
// complaint (it exits 0 on unknown keys and only warns). verify also wants the commands to
// exist, so it checks a copy whose /usr/local paths point into a temporary directory of stubs.
func TestSystemdUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testutil.SkipOrFail(t, "no systemd-analyze (Debian package systemd, test/deps.d/deploy.txt)")
	}
	root := t.TempDir()
	for _, p := range []string{"bin/meo", "bin/mep", "bin/upgw"} {
		p = filepath.Join(root, "usr", "local", p)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755))
	}
	verify := func(t *testing.T, unit string, body []byte) string {
		t.Helper()
		body = bytes.ReplaceAll(body, []byte("/usr/local/"), []byte(root+"/usr/local/"))
		p := filepath.Join(t.TempDir(), unit)
		require.NoError(t, os.WriteFile(p, body, 0o644))
		out, err := exec.Command(sa, "verify", "--man=no", p).CombinedOutput()
		if err != nil {
			return string(out) + err.Error()
		}
		return string(out)
	}
	for _, u := range []string{"meo.service", "mep.service", "upgw.service"} {
		t.Run(u, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(systemdDir, u))
			require.NoError(t, err)
			require.Empty(t, verify(t, u, b))
		})
	}
	t.Run("a misspelt directive is caught", func(t *testing.T) {
		out := verify(t, "bad.service", []byte("[Service]\nExecStart=/usr/local/bin/meo\nProtectClokc=yes\nSystemCallFilter=@system-servic\n"))
		require.Contains(t, out, "Unknown key 'ProtectClokc'")
		require.Contains(t, out, "@system-servic")
	})
}

// TestSystemdUnitsHardening: install paths, credentials from files, readiness (Type=notify:
// the binaries send READY=1, TestNotifyReadiness), and the hardening every unit must keep;
// the UPGW runs with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON only, never CAP_SYS_ADMIN.
func TestSystemdUnitsHardening(t *testing.T) {
	common := []string{"SystemCallFilter=@system-service", "UMask=0077", "ProtectClock=yes", "ProtectKernelLogs=yes",
		"ProtectHostname=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "SystemCallErrorNumber=EPERM",
		"Type=notify\n", "NotifyAccess=main\n", "AF_UNIX"}
	for unit, wants := range map[string][]string{
		"meo.service": {"ExecStart=/usr/local/bin/meo ", "EnvironmentFile=/etc/edgemec/meo.env", "DynamicUser=yes",
			"LoadCredential=operator-token:/etc/edgemec/meo/operator-token", "--operator-token-file=%d/operator-token",
			"LoadCredential=database-url:/etc/edgemec/meo/database-url", "--database-url-file=%d/database-url",
			"--viewer-token-file=%d/viewer-tokens", "--secret-key-file=%d/meo.key", "CapabilityBoundingSet=\n"},
		"mep.service": {"ExecStart=/usr/local/bin/mep ", "EnvironmentFile=/etc/edgemec/mep.env", "DynamicUser=yes",
			"StateDirectory=mep", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
			"LoadCredential=operator-token:/etc/edgemec/mep/operator-token", "--operator-token-file=%d/operator-token"},
		"upgw.service": {"ExecStart=/usr/local/bin/upgw ", "EnvironmentFile=/etc/edgemec/upgw.env", "StateDirectory=upgw",
			"AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON\n", "CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON\n",
			"ReadWritePaths=/sys/fs/bpf", "LoadCredential=mep-token:/etc/edgemec/upgw/mep-token", "--mep-token-file=%d/mep-token"},
	} {
		t.Run(unit, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(systemdDir, unit))
			require.NoError(t, err)
			for _, want := range append(common, wants...) {
				require.Contains(t, string(b), want)
			}
			require.NotRegexp(t, `(?m)^[^#].*CAP_SYS_ADMIN`, string(b))
			require.NotRegexp(t, `(?m)^ExecStart=.*--[a-z-]*(token|dsn|database-url|password)[= ]`, string(b), "a secret on the command line shows in ps")
			require.NotRegexp(t, `(?m)^Environment=[A-Z_]*(TOKEN|DSN|DATABASE_URL)=`, string(b), "a secret in the environment")
			require.NotContains(t, string(b), "wait-ready", "Type=notify replaces the readiness probe")
		})
	}
}

// envNames returns the environment variables a command's main.go reads its flags from.
func envNames(t *testing.T, cmd string) []string {
	t.Helper()
	var out []string
	for n := range readMain(t, cmd).envs {
		out = append(out, n)
	}
	require.NotEmpty(t, out)
	return out
}

// TestSystemdEnvExamples: each example environment file names every variable its command
// reads (so it documents every setting), and nothing the command does not read.
func TestSystemdEnvExamples(t *testing.T) {
	line := regexp.MustCompile(`(?m)^#?([A-Z][A-Z0-9_]+)=`)
	for _, tc := range []struct {
		cmd, file string
		extra     []string // unit-only variables
		omit      []string // read by the command, deliberately not in the file
	}{
		// The unit hands the MEO its credentials as files, never as variables.
		{cmd: "meo", file: "meo.env", omit: []string{"MEO_OPERATOR_TOKEN", "MEO_VIEWER_TOKENS", "MEO_OPERATOR_TOKEN_FILE",
			"MEO_VIEWER_TOKEN_FILE", "MEO_SECRET_KEY_FILE", "MEO_DATABASE_URL", "MEO_DATABASE_URL_FILE"}},
		// The unit passes --data-dir (its StateDirectory) and the operator token file.
		{cmd: "mep", file: "mep.env", omit: []string{"MEP_DATA_DIR", "MEP_OPERATOR_TOKEN", "MEP_OPERATOR_TOKEN_FILE", "MEP_POSTGRES_DSN"}},
		// The unit passes --state-dir, --pin-dir and the MEP token file.
		{cmd: "upgw", file: "upgw.env", omit: []string{"UPGW_STATE_DIR", "UPGW_PIN_DIR", "UPGW_MEP_TOKEN", "UPGW_MEP_TOKEN_FILE", "UPGW_API_TOKEN"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(systemdDir, tc.file))
			require.NoError(t, err)
			inFile := map[string]bool{}
			for _, m := range line.FindAllStringSubmatch(string(b), -1) {
				inFile[m[1]] = true
			}
			read := map[string]bool{}
			for _, n := range envNames(t, tc.cmd) {
				read[n] = true
				if !inFile[n] && !contains(tc.omit, n) {
					t.Errorf("%s does not show %s, which %s reads", tc.file, n, tc.cmd)
				}
				if inFile[n] && contains(tc.omit, n) {
					t.Errorf("%s sets %s, which belongs in the unit", tc.file, n)
				}
			}
			for n := range inFile {
				if !read[n] && !contains(tc.extra, n) {
					t.Errorf("%s sets %s, which %s does not read", tc.file, n, tc.cmd)
				}
			}
		})
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
