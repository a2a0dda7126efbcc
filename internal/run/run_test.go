package run

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnv(t *testing.T) {
	t.Setenv("RUN_TEST_SET", "v")
	t.Setenv("RUN_TEST_EMPTY", "")
	assert.Equal(t, "v", Env("RUN_TEST_SET", "d"))
	assert.Equal(t, "d", Env("RUN_TEST_EMPTY", "d"), "an empty variable gives the default")
	assert.Equal(t, "d", Env("RUN_TEST_UNSET_XYZ", "d"))
}

// catchExit makes EnvDuration and EnvBool report instead of ending the test binary.
func catchExit(t *testing.T) *string {
	t.Helper()
	var msg string
	old := exit
	exit = func(m string) { msg = m }
	t.Cleanup(func() { exit = old })
	return &msg
}

func TestEnvDuration(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        time.Duration
		bad         bool
	}{
		{name: "unset", value: "", want: 7 * time.Second},
		{name: "seconds", value: "30s", want: 30 * time.Second},
		{name: "zero", value: "0s", want: 0},
		{name: "minutes", value: "2m", want: 2 * time.Minute},
		{name: "no unit", value: "30", want: 7 * time.Second, bad: true},
		{name: "garbage", value: "soon", want: 7 * time.Second, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := catchExit(t)
			t.Setenv("RUN_TEST_DURATION", tc.value)
			assert.Equal(t, tc.want, EnvDuration("RUN_TEST_DURATION", 7*time.Second))
			if tc.bad {
				assert.Contains(t, *msg, "RUN_TEST_DURATION")
			} else {
				assert.Empty(t, *msg)
			}
		})
	}
}

func TestEnvBool(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want, bad   bool
	}{
		{name: "unset", value: "", want: true},
		{name: "true", value: "true", want: true},
		{name: "one", value: "1", want: true},
		{name: "false", value: "false", want: false},
		{name: "zero", value: "0", want: false},
		{name: "yes is not a bool", value: "yes", want: true, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := catchExit(t)
			t.Setenv("RUN_TEST_BOOL", tc.value)
			assert.Equal(t, tc.want, EnvBool("RUN_TEST_BOOL", true))
			assert.Equal(t, tc.bad, *msg != "", "message %q", *msg)
		})
	}
}

func TestGroupStopsTheRestOnFirstReturn(t *testing.T) {
	boom := errors.New("boom")
	var stopped atomic.Bool
	err := Group(t.Context(),
		func(ctx context.Context) error { return boom },
		func(ctx context.Context) error { <-ctx.Done(); stopped.Store(true); return ctx.Err() },
	)
	require.ErrorIs(t, err, boom)
	assert.True(t, stopped.Load(), "the other function saw its context cancelled")
}

func TestGroupCancelledIsNotAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := Group(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	assert.NoError(t, err)
}

func TestHTTPServerDrainsInFlightRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(200 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(t.Context())
	srv := &HTTPServer{Name: "test", Handler: h, Listener: ln, Grace: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	type answer struct {
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- answer{string(b), err}
	}()
	<-started
	cancel() // stop while the request is in flight
	a := <-got
	require.NoError(t, a.err)
	assert.Equal(t, "done", a.body, "the in-flight request finished during the drain")
	require.NoError(t, <-served)
	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	assert.Error(t, err, "the listener is closed after Serve returns")
}

func TestHTTPServerGraceBoundsTheDrain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	ctx, cancel := context.WithCancel(t.Context())
	srv := &HTTPServer{Name: "slow", Handler: h, Listener: ln, Grace: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	t0 := time.Now()
	cancel()
	err = <-served
	require.Error(t, err, "a drain cut short by the grace period is reported")
	assert.Less(t, time.Since(t0), 2*time.Second)
}

func TestPrefixes(t *testing.T) {
	got, err := Prefixes("--x", " 10.0.0.0/8, ,fe80::/10,")
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fe80::/10")}, got)
	got, err = Prefixes("--x", "")
	require.NoError(t, err)
	assert.Empty(t, got)
	_, err = Prefixes("--callback-deny", "10.0.0.0/8,nonsense")
	require.ErrorContains(t, err, "--callback-deny")
}

func TestPprof(t *testing.T) {
	for _, bad := range []string{"0.0.0.0:0", ":0", "10.1.2.3:0", "nohost"} {
		_, err := PprofListener(bad)
		require.Error(t, err, bad)
	}
	ln, err := PprofListener("127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: PprofHandler(), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	res, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/heap?debug=1")
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(b), "heap profile")
}
