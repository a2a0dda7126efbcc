package platform_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/outbox"
	"github.com/edgemec/edgemec/mep/internal/platform"
)

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A subscriber whose deliveries keep failing is reported at warn after the third failure,
// with its app instance, the last status and the callback host: minutes before the last of
// ten attempts is dropped.
func TestFailingSubscriberReportedEarly(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := newMEP(t, st, platform.Config{})
	putApp(t, s, "app1")
	rcv := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	subscribe(t, s, "app1", rcv.srv.URL+"/cb?key=secret")
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n := platform.NewNotifier(outbox.Config{BaseBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxAttempts: 10}, s.MEP, prometheus.NewRegistry(), log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	registerService(t, s, "app1", "svc")
	require.Eventually(t, func() bool { return bytes.Contains([]byte(logs.String()), []byte("keeps failing")) }, 10*time.Second, 10*time.Millisecond)
	require.Less(t, rcv.count(), 10, "reported before the last attempt")
	u, _ := url.Parse(rcv.srv.URL)
	line := logs.String()
	require.Contains(t, line, "app_instance_id=app1")
	require.Contains(t, line, "status=503")
	require.Contains(t, line, "callback_host="+u.Host)
	require.NotContains(t, line, "secret", "the callback URL's query is not logged")
	require.Equal(t, 1, bytes.Count([]byte(line), []byte("keeps failing")), "reported once, not at every attempt")
}
