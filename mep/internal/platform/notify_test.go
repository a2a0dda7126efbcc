package platform_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/outbox"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/internal/store"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// receiver is a subscriber's callback endpoint. status decides the answer to the n-th
// request (1-based).
type receiver struct {
	srv    *httptest.Server
	status func(n int) int

	mu     sync.Mutex
	times  []time.Time
	notes  []mp1api.ServiceAvailabilityNotification
	bodies [][]byte
	types  []string
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var n mp1api.ServiceAvailabilityNotification
		_ = json.Unmarshal(b, &n)
		r.mu.Lock()
		r.times = append(r.times, time.Now())
		r.notes = append(r.notes, n)
		r.bodies = append(r.bodies, b)
		r.types = append(r.types, req.Header.Get("Content-Type"))
		k := len(r.times)
		r.mu.Unlock()
		code := http.StatusNoContent
		if r.status != nil {
			code = r.status(k)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.times)
}

func (r *receiver) snapshot() ([]time.Time, []mp1api.ServiceAvailabilityNotification) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.times...), append([]mp1api.ServiceAvailabilityNotification(nil), r.notes...)
}

// runNotifier runs a Notifier until the test ends or stop is called.
func runNotifier(t *testing.T, s *wireMEP, cfg outbox.Config) (stop func()) {
	t.Helper()
	n := platform.NewNotifier(cfg, s.MEP, prometheus.NewRegistry(), discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Error("notifier did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func outboxLen(t *testing.T, st store.Store) int {
	t.Helper()
	p, err := st.Pending(context.Background(), 1000)
	require.NoError(t, err)
	return len(p)
}

func TestNotifierDelivers(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := newMEP(t, st, platform.Config{})
	putApp(t, s, "app1")
	rcv := newReceiver(t, nil)
	subLoc := subscribe(t, s, "app1", rcv.srv.URL+"/cb")
	runNotifier(t, s, outbox.Config{})

	svcLoc := registerService(t, s, "app1", "svc")
	require.Eventually(t, func() bool { return rcv.count() == 1 }, 5*time.Second, 5*time.Millisecond, "no notification arrived")
	_, notes := rcv.snapshot()
	n := notes[0]
	require.Equal(t, "SerAvailabilityNotification", n.NotificationType)
	require.Equal(t, subLoc, n.UnderscoreLinks.Subscription.Href)
	require.Len(t, n.ServiceReferences, 1)
	ref := n.ServiceReferences[0]
	require.Equal(t, mp1api.ADDED, ref.ChangeType)
	require.Equal(t, "svc", ref.SerName)
	require.Equal(t, mp1api.ServiceStateACTIVE, ref.State)
	require.Equal(t, svcLoc, ref.Link.Href)
	require.Equal(t, "application/json", rcv.types[0])
	require.Eventually(t, func() bool { return outboxLen(t, st) == 0 }, 5*time.Second, 5*time.Millisecond, "delivered entry stayed in the outbox")
}

func TestNotifierRetriesWithBackoff(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := newMEP(t, st, platform.Config{})
	putApp(t, s, "app1")
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	subscribe(t, s, "app1", rcv.srv.URL)
	const base = 100 * time.Millisecond
	runNotifier(t, s, outbox.Config{BaseBackoff: base, MaxBackoff: time.Second})

	registerService(t, s, "app1", "svc")
	require.Eventually(t, func() bool { return rcv.count() >= 3 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return outboxLen(t, st) == 0 }, 5*time.Second, 5*time.Millisecond)
	times, notes := rcv.snapshot()
	require.Len(t, times, 3, "got %d attempts; want 3 (two failures, one success)", len(times))
	for _, n := range notes {
		require.Equal(t, "svc", n.ServiceReferences[0].SerName, "a retry carried another body")
	}
	// Exponential backoff: ≥ base after the first failure, ≥ 2×base after the second.
	require.GreaterOrEqual(t, times[1].Sub(times[0]), base, "first retry after %v; want ≥ %v", times[1].Sub(times[0]), base)
	require.GreaterOrEqual(t, times[2].Sub(times[1]), 2*base, "second retry after %v; want ≥ %v", times[2].Sub(times[1]), 2*base)
}

func TestNotifierDropsAfterMaxAttempts(t *testing.T) {
	for _, tt := range []struct {
		name         string
		status       int
		wantAttempts int
	}{
		{"server error", http.StatusInternalServerError, 3},
		{"callback gone 404", http.StatusNotFound, 1},
		{"callback gone 410", http.StatusGone, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, t.TempDir())
			defer st.Close()
			s := newMEP(t, st, platform.Config{})
			putApp(t, s, "app1")
			rcv := newReceiver(t, func(int) int { return tt.status })
			subscribe(t, s, "app1", rcv.srv.URL)
			runNotifier(t, s, outbox.Config{MaxAttempts: 3, BaseBackoff: 10 * time.Millisecond})

			registerService(t, s, "app1", "svc")
			require.Eventually(t, func() bool { return rcv.count() >= tt.wantAttempts && outboxLen(t, st) == 0 },
				10*time.Second, 5*time.Millisecond, "the notification was not given up on")
			// Nothing is retried after the drop: 10× the largest backoff is ample.
			time.Sleep(400 * time.Millisecond)
			require.Equal(t, tt.wantAttempts, rcv.count(), "got %d attempts; want %d", rcv.count(), tt.wantAttempts)
		})
	}
}

func TestNotifierSlowSubscriberDoesNotBlockAPI(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := newMEP(t, st, platform.Config{})
	putApp(t, s, "app1")
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(slow.Close)
	fast := newReceiver(t, nil)
	subscribe(t, s, "app1", slow.URL)
	subscribe(t, s, "app1", fast.srv.URL)
	runNotifier(t, s, outbox.Config{Timeout: 30 * time.Second})

	// Every registration returns promptly although each queues a delivery to the stuck callback.
	for i := range 10 {
		start := time.Now()
		registerService(t, s, "app1", "svc"+string(rune('a'+i)))
		require.Less(t, time.Since(start), 2*time.Second, "registration %d blocked behind the slow subscriber", i)
	}
	// The fast subscriber gets all its notifications meanwhile.
	require.Eventually(t, func() bool { return fast.count() == 10 }, 10*time.Second, 5*time.Millisecond,
		"the slow subscriber held up the fast one")
	unblock()
	require.Eventually(t, func() bool { return outboxLen(t, st) == 0 }, 10*time.Second, 5*time.Millisecond)
}

// TestNotifierDurable: undelivered notifications stay in the store outbox and a new Notifier
// on the same store (after a restart) delivers them.
func TestNotifierDurable(t *testing.T) {
	dir := t.TempDir()
	rcv := newReceiver(t, nil)

	st := openStore(t, dir)
	s := newMEP(t, st, platform.Config{})
	putApp(t, s, "app1")
	subscribe(t, s, "app1", rcv.srv.URL)
	registerService(t, s, "app1", "a")
	registerService(t, s, "app1", "b")
	require.Equal(t, 2, outboxLen(t, st))
	require.NoError(t, st.Close())

	st = openStore(t, dir)
	defer st.Close()
	require.Equal(t, 2, outboxLen(t, st), "the outbox did not survive a restart")
	s = newMEP(t, st, platform.Config{})
	runNotifier(t, s, outbox.Config{})
	require.Eventually(t, func() bool { return rcv.count() == 2 && outboxLen(t, st) == 0 }, 10*time.Second, 5*time.Millisecond)
	_, notes := rcv.snapshot()
	var names []string
	for _, n := range notes {
		names = append(names, n.ServiceReferences[0].SerName)
	}
	require.ElementsMatch(t, []string{"a", "b"}, names)
}

// TestNotifierFanOut: one change watched by many subscribers is one outbox entry, and every
// subscriber gets exactly the body it would get alone — its own _links.subscription.
func TestNotifierFanOut(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := newMEP(t, st, platform.Config{APIRoot: "http://mep.test/<&>"}) // characters JSON escapes
	putApp(t, s, "app1")
	rcv := newReceiver(t, nil)
	subs := map[string]bool{}
	for i := range 20 {
		subs[subscribe(t, s, "app1", rcv.srv.URL+"/cb/"+string(rune('a'+i)))] = true
	}
	svcLoc := registerService(t, s, "app1", "svc")
	require.Equal(t, 1, outboxLen(t, st), "a change must be one outbox entry")
	runNotifier(t, s, outbox.Config{})

	require.Eventually(t, func() bool { return rcv.count() == 20 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return outboxLen(t, st) == 0 }, 5*time.Second, 5*time.Millisecond)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for i, n := range rcv.notes {
		require.True(t, subs[n.UnderscoreLinks.Subscription.Href], "unknown or repeated subscription link %q", n.UnderscoreLinks.Subscription.Href)
		delete(subs, n.UnderscoreLinks.Subscription.Href)
		want, err := json.Marshal(mp1api.ServiceAvailabilityNotification{
			NotificationType: "SerAvailabilityNotification",
			ServiceReferences: []mp1api.ServiceReference{{Link: &mp1api.LinkType{Href: svcLoc}, SerName: "svc",
				SerInstanceId: n.ServiceReferences[0].SerInstanceId, State: mp1api.ServiceStateACTIVE, ChangeType: mp1api.ADDED}},
			UnderscoreLinks: n.UnderscoreLinks,
		})
		require.NoError(t, err)
		require.Equal(t, string(want), string(rcv.bodies[i]))
	}
}

// TestNotifierRestartMidFanOut: a MEP that stops while one subscriber of a change has been
// served and another is waiting for a retry resumes with the second only.
func TestNotifierRestartMidFanOut(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	s := newMEP(t, st, platform.Config{})
	putApp(t, s, "app1")
	good := newReceiver(t, nil)
	var mu sync.Mutex
	healthy := false
	flaky := newReceiver(t, func(int) int {
		mu.Lock()
		defer mu.Unlock()
		if healthy {
			return http.StatusNoContent
		}
		return http.StatusServiceUnavailable
	})
	subscribe(t, s, "app1", good.srv.URL)
	flakySub := subscribe(t, s, "app1", flaky.srv.URL)
	stop := runNotifier(t, s, outbox.Config{BaseBackoff: time.Hour, MaxBackoff: time.Hour})
	registerService(t, s, "app1", "svc")

	// Wait until the store knows: one target done, the other failed once.
	require.Eventually(t, func() bool {
		p, err := st.Pending(context.Background(), 10)
		require.NoError(t, err)
		if len(p) != 1 || len(p[0].Targets) != 2 {
			return false
		}
		done, failed := 0, 0
		for _, tg := range p[0].Targets {
			if tg.Done {
				done++
			}
			if tg.Attempts == 1 {
				failed++
			}
		}
		return done == 1 && failed == 1
	}, 5*time.Second, 10*time.Millisecond, "the delivery state was not stored")
	stop()
	require.NoError(t, st.Close())
	require.Equal(t, 1, good.count())
	require.Equal(t, 1, flaky.count())

	// The retry is due in an hour: rather than wait, make it due now in the store.
	st = openStore(t, dir)
	defer st.Close()
	p, err := st.Pending(context.Background(), 10)
	require.NoError(t, err)
	for i, tg := range p[0].Targets {
		if !tg.Done {
			require.NoError(t, st.Settle(context.Background(), nil, []store.TargetState{{ID: p[0].ID, Target: i, Attempts: tg.Attempts}}))
		}
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	s = newMEP(t, st, platform.Config{})
	runNotifier(t, s, outbox.Config{})
	require.Eventually(t, func() bool { return flaky.count() == 2 && outboxLen(t, st) == 0 }, 5*time.Second, 5*time.Millisecond)
	_, notes := flaky.snapshot()
	require.Equal(t, flakySub, notes[1].UnderscoreLinks.Subscription.Href)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, 1, good.count(), "a delivered subscriber was notified again after the restart")
}

// hanging is a callback endpoint that accepts requests and never answers until the test ends.
func hanging(t *testing.T) string {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv.URL
}

// TestNotifierHangingAppDoesNotStallOthers: once its callbacks failed, an app whose
// callbacks all hang holds at most PerApp workers, so another app's notifications arrive at
// once, not after the hanging deliveries (and their retries) time out.
func TestNotifierHangingAppDoesNotStallOthers(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := newMEP(t, st, platform.Config{})
	for _, app := range []string{"bad", "good"} {
		putApp(t, s, app)
	}
	for range 12 {
		subscribe(t, s, "bad", hanging(t)+"/cb")
	}
	good := newReceiver(t, nil)
	subscribe(t, s, "good", good.srv.URL+"/cb")
	runNotifier(t, s, outbox.Config{Workers: 8, PerApp: 2, Timeout: time.Second})

	// Each of bad's own registrations queues 12 hanging deliveries, older than good's. The
	// first ones time out after 1 s, which makes bad's hosts suspect.
	for i := range 3 {
		registerService(t, s, "bad", "svc"+string(rune('a'+i)))
	}
	time.Sleep(1500 * time.Millisecond)
	start := time.Now()
	registerService(t, s, "good", "svc")
	require.Eventually(t, func() bool { return good.count() == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Less(t, time.Since(start), time.Second, "the good app's notification waited behind the hanging app's deliveries")
}

// TestNotifierSkipsDeletedSubscription: once a subscription is deleted, its queued
// deliveries (here a retry) are dropped, not sent.
func TestNotifierSkipsDeletedSubscription(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := newMEP(t, st, platform.Config{})
	putApp(t, s, "app1")
	rcv := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	loc := subscribe(t, s, "app1", rcv.srv.URL+"/cb")
	runNotifier(t, s, outbox.Config{BaseBackoff: 300 * time.Millisecond})

	registerService(t, s, "app1", "svc")
	require.Eventually(t, func() bool { return rcv.count() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, s.Unsubscribe(context.Background(), platform.SerAvail, "app1", loc[strings.LastIndexByte(loc, '/')+1:]))
	require.Eventually(t, func() bool { return outboxLen(t, st) == 0 }, 5*time.Second, 5*time.Millisecond,
		"the deleted subscription's retry stayed queued")
	time.Sleep(500 * time.Millisecond) // past the retry's due time
	require.Equal(t, 1, rcv.count(), "a notification was sent to a deleted subscription")
}

// TestNotifierDeniedCallbackDropped: a callback whose address is denied is never reached,
// and its notification is dropped at once instead of retried.
func TestNotifierDeniedCallbackDropped(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := newMEP(t, st, platform.Config{})
	putApp(t, s, "app1")
	rcv := newReceiver(t, nil)
	subscribe(t, s, "app1", rcv.srv.URL+"/cb")
	runNotifier(t, s, outbox.Config{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, BaseBackoff: time.Minute})

	registerService(t, s, "app1", "svc")
	require.Eventually(t, func() bool { return outboxLen(t, st) == 0 }, 5*time.Second, 5*time.Millisecond,
		"the notification to a denied address stayed queued for a retry")
	require.Equal(t, 0, rcv.count(), "a denied callback was reached")
}

// TestSubscribeDeniedCallback: a callbackReference naming a denied address literally (the
// unspecified address counting as loopback), or holding bytes a URI cannot, is refused as
// invalid (400) when the subscription is created.
func TestSubscribeDeniedCallback(t *testing.T) {
	linkLocal := platform.Config{CallbackDeny: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10")}}
	loopback := platform.Config{CallbackDeny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, tt := range []struct {
		name, cb string
		cfg      platform.Config
		ok       bool
	}{
		{"link-local literal", "http://169.254.169.254/latest/meta-data", linkLocal, false},
		{"ipv6 link-local with zone", "http://[fe80::1%25eth0]:8080/cb", linkLocal, false},
		{"ipv4-mapped link-local", "http://[::ffff:169.254.1.1]/cb", linkLocal, false},
		{"nat64 link-local", "http://[64:ff9b::169.254.169.254]/cb", linkLocal, false},
		{"private literal", "http://10.0.0.1:8080/cb", linkLocal, true},
		{"name", "http://app.example:8080/cb", linkLocal, true},
		{"unspecified ipv4, loopback denied", "http://0.0.0.0:8080/cb", loopback, false},
		{"unspecified ipv6, loopback denied", "http://[::]:8080/cb", loopback, false},
		{"unspecified ipv4-mapped, loopback denied", "http://[::ffff:0.0.0.0]:8080/cb", loopback, false},
		{"ipv4-mapped loopback, loopback denied", "http://[::ffff:127.0.0.1]:8080/cb", loopback, false},
		{"unspecified, loopback allowed", "http://0.0.0.0:8080/cb", linkLocal, true},
		{"space in query", "http://app.example:8080/cb?a=1 2", linkLocal, false},
		{"space in path", "http://app.example:8080/c b", linkLocal, false},
		{"escaped space", "http://app.example:8080/cb?a=1%202", linkLocal, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, t.TempDir())
			defer st.Close()
			s := newMEP(t, st, tt.cfg)
			putApp(t, s, "app1")
			_, _, err := s.Subscribe(context.Background(), "app1", &mp1api.SerAvailabilityNotificationSubscription{
				SubscriptionType: platform.SerAvailSubscriptionType, CallbackReference: tt.cb})
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, platform.ErrInvalid)
			}
		})
	}
}
