package main_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil/meptest"
)

// output collects what a process prints, safe to read while it writes.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// proc is a mep process started by these tests.
type proc struct {
	cmd  *exec.Cmd
	out  *output
	root string
	done chan error
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// run starts the mep binary with args plus a fresh --http-addr; it is killed at the end.
func run(t *testing.T, args ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := &proc{out: &output{}, root: "http://" + addr, done: make(chan error, 1)}
	p.cmd = exec.Command(meptest.Binary(t), append([]string{"--http-addr", addr, "--dns-addr", "off"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) ready(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(p.root + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "mep not ready: %s", p.out)
}

func (p *proc) status(t *testing.T, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, p.root+"/mepm/v1/app_instances", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestSecondMEPOnDataDirRefused: a second MEP on a data dir in use exits at once with a
// message that says so (before, it ran beside the first); once the first is gone, the data
// dir can be used again.
func TestSecondMEPOnDataDirRefused(t *testing.T) {
	dir := t.TempDir()
	first := run(t, "--data-dir", dir, "--operator-token", "op-token-first")
	first.ready(t)
	second := run(t, "--data-dir", dir, "--operator-token", "op-token-first")
	select {
	case err := <-second.done:
		second.done <- err // for the cleanup
		require.Error(t, err, "the second MEP must fail")
		require.Contains(t, second.out.String(), "is in use by another MEP")
		require.Contains(t, second.out.String(), fmt.Sprintf("process %d", first.cmd.Process.Pid))
	case <-time.After(15 * time.Second):
		t.Fatalf("the second MEP on the same data dir is still running: %s", second.out)
	}
	require.NoError(t, first.cmd.Process.Kill())
	third := run(t, "--data-dir", dir, "--operator-token", "op-token-first")
	third.ready(t)
}

// TestOperatorTokenFile: operator tokens come from a file (never on the command line,
// where ps shows them); two are valid at once, and a change of the file takes effect
// without a restart, so the token rotates without downtime.
func TestOperatorTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "operator-token")
	write := func(s string) {
		require.NoError(t, os.WriteFile(file+".tmp", []byte(s), 0o600))
		require.NoError(t, os.Rename(file+".tmp", file))
	}
	const oldTok, newTok = "operator-old-0001", "operator-new-0002"
	write("# operator tokens\n" + oldTok + "\n")
	p := run(t, "--data-dir", t.TempDir(), "--operator-token-file", file)
	p.ready(t)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.cmd.Process.Pid))
	require.NoError(t, err)
	require.NotContains(t, string(cmdline), oldTok)

	require.Equal(t, http.StatusOK, p.status(t, oldTok))
	require.Equal(t, http.StatusUnauthorized, p.status(t, newTok))
	write(oldTok + "\n" + newTok + "\n")
	require.Eventually(t, func() bool { return p.status(t, newTok) == http.StatusOK }, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, http.StatusOK, p.status(t, oldTok), "both tokens are valid during the rotation")
	write(newTok + "\n")
	require.Eventually(t, func() bool { return p.status(t, oldTok) == http.StatusUnauthorized }, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, http.StatusOK, p.status(t, newTok))
	write("")
	time.Sleep(3 * time.Second) // past the file check interval
	require.Equal(t, http.StatusOK, p.status(t, newTok), "an emptied file must not lock the operator out")
	require.Contains(t, p.out.String(), "operator token file ignored")
}

// TestFlagErrors: a configuration that cannot work is refused at start with what is wrong.
func TestFlagErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "three")
	require.NoError(t, os.WriteFile(file, []byte("token-aaaa-1\ntoken-bbbb-2\ntoken-cccc-3\n"), 0o600))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no operator token", []string{"--data-dir", t.TempDir()}, "operator token is required"},
		{"three operator tokens", []string{"--data-dir", t.TempDir(), "--operator-token-file", file}, "at most 2"},
		{"missing token file", []string{"--data-dir", t.TempDir(), "--operator-token-file", file + ".nope"}, "operator token file"},
		{"stray argument", []string{"--data-dir", t.TempDir(), "--operator-token", "op-token-first", "oops"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := run(t, tc.args...)
			select {
			case err := <-p.done:
				p.done <- err
				require.Error(t, err)
				require.True(t, strings.Contains(p.out.String(), tc.want), "got %q; want it to say %q", p.out, tc.want)
			case <-time.After(15 * time.Second):
				t.Fatal("mep did not exit")
			}
		})
	}
}
