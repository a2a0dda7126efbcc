package run

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listenNotify listens on a unixgram socket at a fresh path and points NOTIFY_SOCKET at it.
func listenNotify(t *testing.T, name string) <-chan string {
	t.Helper()
	if name == "" {
		dir, err := os.MkdirTemp("", "runnotify")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		name = filepath.Join(dir, "notify")
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	ch := make(chan string, 8)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return ch
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
		return ""
	}
}

func TestNotify(t *testing.T) {
	t.Run("path socket", func(t *testing.T) {
		ch := listenNotify(t, "")
		told, err := Notify(NotifyReady)
		require.NoError(t, err)
		assert.True(t, told)
		assert.Equal(t, "READY=1", recv(t, ch))
	})
	t.Run("abstract socket", func(t *testing.T) {
		ch := listenNotify(t, "@runnotify-"+t.Name()+time.Now().Format("150405.000000000"))
		told, err := Notify("STATUS=x\nREADY=1")
		require.NoError(t, err)
		assert.True(t, told)
		assert.Equal(t, "STATUS=x\nREADY=1", recv(t, ch))
	})
	t.Run("no service manager", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		told, err := Notify(NotifyReady)
		require.NoError(t, err)
		assert.False(t, told)
	})
	t.Run("nobody listening", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone"))
		_, err := Notify(NotifyReady)
		require.ErrorContains(t, err, "notify service manager")
	})
	t.Run("not a socket path", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "relative/notify")
		_, err := Notify(NotifyReady)
		require.ErrorContains(t, err, "not a unix socket path")
	})
}

// TestHTTPServerNotifies: READY=1 once the server answers, STOPPING=1 when ctx ends, and
// nothing from a server without NotifyManager.
func TestHTTPServerNotifies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		notify bool
	}{{"notifying server", true}, {"silent server", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ch := listenNotify(t, "")
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
			s := &HTTPServer{Name: "t", Handler: h, Listener: ln, Logger: slog.New(slog.DiscardHandler), NotifyManager: tc.notify}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx) }()
			if !tc.notify {
				resp, err := http.Get("http://" + ln.Addr().String())
				require.NoError(t, err)
				resp.Body.Close()
				cancel()
				require.NoError(t, <-done)
				select {
				case m := <-ch:
					t.Fatalf("got %q from a server without NotifyManager", m)
				case <-time.After(50 * time.Millisecond):
				}
				return
			}
			require.Equal(t, "READY=1", recv(t, ch))
			resp, err := http.Get("http://" + ln.Addr().String())
			require.NoError(t, err, "READY=1 before the server answers")
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			cancel()
			require.Equal(t, "STOPPING=1", recv(t, ch))
			require.NoError(t, <-done)
		})
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	require.NoError(t, os.WriteFile(good, []byte("  s3cret-value\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	for _, tc := range []struct {
		name, value, file, want, wantErr string
	}{
		{name: "value only", value: "v", want: "v"},
		{name: "neither", want: ""},
		{name: "file", file: good, want: "s3cret-value"},
		{name: "both", value: "v", file: good, wantErr: "--mep-token-file and --mep-token are both set"},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "--mep-token-file: open"},
		{name: "empty file", file: empty, wantErr: "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SecretFile("mep-token", tc.value, tc.file)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestEnvInt64(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        int64
		bad         bool
	}{
		{name: "unset", want: 9},
		{name: "number", value: "1048576", want: 1048576},
		{name: "unit is not a number", value: "1GiB", want: 9, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := catchExit(t)
			t.Setenv("RUN_TEST_INT", tc.value)
			assert.Equal(t, tc.want, EnvInt64("RUN_TEST_INT", 9))
			assert.Equal(t, tc.bad, *msg != "", "message %q", *msg)
		})
	}
}
