//go:build integration

package deploy_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
)

// notifySocket listens where a service manager would: a unixgram socket whose path goes in
// NOTIFY_SOCKET. Each datagram received arrives on the returned channel.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "dply-notify")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	ch := make(chan string, 16)
	go func() {
		defer close(ch)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content+"\n"), 0o600))
	return p
}

// TestNotifyReadiness starts each real binary as systemd starts a Type=notify unit (with
// NOTIFY_SOCKET): READY=1 arrives only once the readiness endpoint answers 200 (it is probed
// the moment READY=1 arrives, once, without retry), and SIGTERM brings STOPPING=1 before a
// clean exit. A MEO whose database is unreachable never says it is ready.
func TestNotifyReadiness(t *testing.T) {
	for _, tc := range []struct {
		name string
		// start returns the command (wrapper included) and the readiness check to run when
		// READY=1 arrives.
		start func(t *testing.T) (cmd *exec.Cmd, ready func() error)
	}{
		{name: "meo", start: func(t *testing.T) (*exec.Cmd, func() error) {
			addr := freeTCPAddr(t)
			cmd := exec.Command(buildBin(t, "meo"), "--http-addr", addr, "--database-url-file", writeSecret(t, "dsn", pgtest.New(t)),
				"--operator-token-file", writeSecret(t, "op", "notify-operator-token"))
			return cmd, httpReady("http://" + addr + "/readyz")
		}},
		{name: "mep", start: func(t *testing.T) (*exec.Cmd, func() error) {
			addr := freeTCPAddr(t)
			cmd := exec.Command(buildBin(t, "mep"), "--http-addr", addr, "--dns-addr", meptest.FreeUDPTCPAddr(t), "--data-dir", t.TempDir(),
				"--operator-token-file", writeSecret(t, "op", "notify-operator-token"))
			return cmd, httpReady("http://" + addr + "/readyz")
		}},
		{name: "upgw", start: startUPGWInNetns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock, msgs := notifySocket(t)
			cmd, ready := tc.start(t)
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
			require.NoError(t, cmd.Start())
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					<-exited
				}
			})

			select {
			case m := <-msgs:
				require.Equal(t, "READY=1", m, "the first notification")
			case err := <-exited:
				t.Fatalf("exited before READY=1: %v\n%s", err, out.String())
			case <-time.After(90 * time.Second):
				t.Fatalf("no READY=1 after 90 s\n%s", out.String())
			}
			require.NoError(t, ready(), "READY=1 came before the service was ready")

			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			select {
			case m := <-msgs:
				require.Equal(t, "STOPPING=1", m)
			case <-time.After(30 * time.Second):
				t.Fatalf("no STOPPING=1 after SIGTERM\n%s", out.String())
			}
			select {
			case err := <-exited:
				require.NoError(t, err, out.String())
			case <-time.After(30 * time.Second):
				t.Fatalf("still running 30 s after SIGTERM\n%s", out.String())
			}
		})
	}

	t.Run("meo without its database", func(t *testing.T) {
		sock, msgs := notifySocket(t)
		cmd := exec.Command(buildBin(t, "meo"), "--http-addr", freeTCPAddr(t),
			"--database-url", "postgres://meo@"+freeTCPAddr(t)+"/meo?connect_timeout=2",
			"--operator-token-file", writeSecret(t, "op", "notify-operator-token"))
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "the MEO started without a database:\n%s", out)
		select {
		case m := <-msgs:
			t.Fatalf("got %q from a MEO that never served", m)
		case <-time.After(100 * time.Millisecond):
		}
	})
}

// httpReady returns a check that GETs url once and wants 200.
func httpReady(url string) func() error {
	return func() error {
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

// startUPGWInNetns runs the upgw binary in a fresh network namespace with two veth N3 ports
// (generic XDP); its control API listens on that namespace's loopback, probed from inside it.
// Root only: loading the data plane needs CAP_BPF and CAP_NET_ADMIN.
func startUPGWInNetns(t *testing.T) (*exec.Cmd, func() error) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("curl"); err != nil {
		testutil.SkipOrFail(t, "no curl")
	}
	ns := fmt.Sprintf("dply%d", os.Getpid()%100000)
	ipcmd := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	ipcmd("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "n3g", "type", "veth", "peer", "name", "n3gp"},
		{"link", "add", "n3u", "type", "veth", "peer", "name", "n3up"},
		{"link", "set", "n3g", "up"},
		{"link", "set", "n3gp", "up"},
		{"link", "set", "n3u", "up"},
		{"link", "set", "n3up", "up"},
	} {
		ipcmd(append([]string{"-n", ns}, args...)...)
	}
	addr := "127.0.0.1:18090"
	cmd := exec.Command("ip", "netns", "exec", ns, buildBin(t, "upgw"), "--gnb-if", "n3g", "--upf-if", "n3u",
		"--xdp-mode", "generic", "--listen", addr)
	return cmd, func() error {
		out, err := exec.Command("ip", "netns", "exec", ns, "curl", "-fsS", "-o", "/dev/null", "--max-time", "2",
			"http://"+addr+"/metrics").CombinedOutput()
		if err != nil {
			return errors.New(strings.TrimSpace(string(out)) + ": " + err.Error())
		}
		return nil
	}
}
