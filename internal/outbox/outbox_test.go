package outbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/outbox"
)

var discard = slog.New(slog.DiscardHandler)

// memStore is an in-memory outbox.Store keyed by int: the rows, the outcomes settled, and the
// subscriptions that were deleted.
type memStore struct {
	mu       sync.Mutex
	rows     map[int]outbox.Delivery[int]
	settled  []outbox.Outcome[int]
	deleted  map[int]bool
	pendings int
}

func newMemStore() *memStore {
	return &memStore{rows: map[int]outbox.Delivery[int]{}, deleted: map[int]bool{}}
}

// add stores rows and returns them for Enqueue.
func (m *memStore) add(ds ...outbox.Delivery[int]) []outbox.Delivery[int] {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range ds {
		m.rows[d.ID] = d
	}
	return ds
}

func (m *memStore) Pending(context.Context) ([]outbox.Delivery[int], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pendings++
	var out []outbox.Delivery[int]
	for _, d := range m.rows {
		out = append(out, d)
	}
	return out, nil
}

func (m *memStore) Settle(_ context.Context, outs []outbox.Outcome[int]) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range outs {
		m.settled = append(m.settled, o)
		d, ok := m.rows[o.ID]
		switch {
		case !ok:
		case o.Result == outbox.Retry:
			d.Attempts, d.Due = o.Attempts, o.Due
			m.rows[o.ID] = d
		default:
			delete(m.rows, o.ID)
		}
	}
	return nil
}

func (m *memStore) Live(d *outbox.Delivery[int]) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.deleted[d.ID]
}

func (m *memStore) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows)
}

// outcomes returns the settled outcomes of id.
func (m *memStore) outcomes(id int) []outbox.Outcome[int] {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []outbox.Outcome[int]
	for _, o := range m.settled {
		if o.ID == id {
			out = append(out, o)
		}
	}
	return out
}

// receiver is a callback endpoint; status decides the answer to the n-th request (1-based).
type receiver struct {
	srv    *httptest.Server
	status func(n int) int

	mu     sync.Mutex
	times  []time.Time
	bodies []string
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.times = append(r.times, time.Now())
		r.bodies = append(r.bodies, string(b))
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

func (r *receiver) snapshot() ([]time.Time, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.times...), append([]string(nil), r.bodies...)
}

// hanging is a callback endpoint that accepts requests and answers only when the test ends.
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

func delivery(id int, owner, url string) outbox.Delivery[int] {
	body := []byte(fmt.Sprintf(`{"n":%d}`, id))
	return outbox.Delivery[int]{ID: id, Owner: owner, URL: url, Body: func() []byte { return body }, Created: time.Now()}
}

// start runs an Outbox over st until the test ends or stop is called.
func start(t *testing.T, st outbox.Store[int], cfg outbox.Config) (ob *outbox.Outbox[int], stop func()) {
	t.Helper()
	ob = outbox.New(cfg, st, prometheus.NewRegistry(), discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Error("outbox did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return ob, stop
}

func TestDeliversPendingAndEnqueued(t *testing.T) {
	st := newMemStore()
	rcv := newReceiver(t, nil)
	st.add(delivery(1, "a", rcv.srv.URL+"/cb")) // queued before Run: loaded by it
	ob, _ := start(t, st, outbox.Config{})
	ob.Enqueue(st.add(delivery(2, "a", rcv.srv.URL+"/cb"))...)
	ob.Enqueue(delivery(2, "a", rcv.srv.URL+"/cb")) // known: ignored

	require.Eventually(t, func() bool { return st.len() == 0 }, 5*time.Second, 5*time.Millisecond, "deliveries stayed pending")
	_, bodies := rcv.snapshot()
	require.ElementsMatch(t, []string{`{"n":1}`, `{"n":2}`}, bodies)
	for _, id := range []int{1, 2} {
		outs := st.outcomes(id)
		require.Len(t, outs, 1, "delivery %d settled %d times; want once", id, len(outs))
		require.Equal(t, outbox.Delivered, outs[0].Result)
		require.Equal(t, http.StatusNoContent, outs[0].Status)
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	st := newMemStore()
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	const base = 100 * time.Millisecond
	ob, _ := start(t, st, outbox.Config{BaseBackoff: base, MaxBackoff: time.Second})
	ob.Enqueue(st.add(delivery(1, "a", rcv.srv.URL))...)

	require.Eventually(t, func() bool { return st.len() == 0 }, 10*time.Second, 5*time.Millisecond)
	times, bodies := rcv.snapshot()
	require.Len(t, times, 3, "got %d attempts; want 3 (two failures, one success)", len(times))
	for _, b := range bodies {
		require.Equal(t, `{"n":1}`, b, "a retry carried another body")
	}
	require.GreaterOrEqual(t, times[1].Sub(times[0]), base, "first retry after %v; want ≥ %v", times[1].Sub(times[0]), base)
	require.GreaterOrEqual(t, times[2].Sub(times[1]), 2*base, "second retry after %v; want ≥ %v", times[2].Sub(times[1]), 2*base)
	outs := st.outcomes(1)
	require.Len(t, outs, 3)
	for i, want := range []outbox.Result{outbox.Retry, outbox.Retry, outbox.Delivered} {
		require.Equal(t, want, outs[i].Result, "outcome %d", i)
	}
	require.Equal(t, 1, outs[0].Attempts)
	require.Equal(t, 2, outs[1].Attempts)
	require.False(t, outs[1].Due.IsZero(), "a retry was settled without its due time")
}

func TestDrops(t *testing.T) {
	for _, tt := range []struct {
		name         string
		status       int
		wantAttempts int
		wantReason   outbox.Reason
	}{
		{"server error until attempts are exhausted", http.StatusInternalServerError, 3, outbox.Exhausted},
		{"callback gone 404", http.StatusNotFound, 1, outbox.Gone},
		{"callback gone 410", http.StatusGone, 1, outbox.Gone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore()
			rcv := newReceiver(t, func(int) int { return tt.status })
			ob, _ := start(t, st, outbox.Config{MaxAttempts: 3, BaseBackoff: 10 * time.Millisecond})
			ob.Enqueue(st.add(delivery(1, "a", rcv.srv.URL))...)

			require.Eventually(t, func() bool { return st.len() == 0 }, 10*time.Second, 5*time.Millisecond, "the delivery was not given up on")
			time.Sleep(200 * time.Millisecond) // nothing is retried after the drop: 5× the largest backoff
			require.Equal(t, tt.wantAttempts, rcv.count(), "got %d attempts; want %d", rcv.count(), tt.wantAttempts)
			outs := st.outcomes(1)
			last := outs[len(outs)-1]
			require.Equal(t, outbox.Dropped, last.Result)
			require.Equal(t, tt.wantReason, last.Reason, "got reason %v; want %v", last.Reason, tt.wantReason)
			require.Equal(t, tt.status, last.Status)
		})
	}
}

func TestDeniedCallbackDropped(t *testing.T) {
	st := newMemStore()
	rcv := newReceiver(t, nil)
	ob, _ := start(t, st, outbox.Config{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, BaseBackoff: time.Minute})
	ob.Enqueue(st.add(delivery(1, "a", rcv.srv.URL+"/cb"))...)

	require.Eventually(t, func() bool { return st.len() == 0 }, 5*time.Second, 5*time.Millisecond,
		"the delivery to a denied address stayed queued for a retry")
	require.Equal(t, 0, rcv.count(), "a denied callback was reached")
	outs := st.outcomes(1)
	require.Len(t, outs, 1)
	require.Equal(t, outbox.Denied, outs[0].Reason)
}

// TestSkipsDeletedSubscription: a delivery waiting for a retry whose subscription is deleted
// meanwhile is dropped, not sent.
func TestSkipsDeletedSubscription(t *testing.T) {
	st := newMemStore()
	rcv := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	ob, _ := start(t, st, outbox.Config{BaseBackoff: 300 * time.Millisecond})
	ob.Enqueue(st.add(delivery(1, "a", rcv.srv.URL))...)

	require.Eventually(t, func() bool { return rcv.count() == 1 }, 5*time.Second, 5*time.Millisecond)
	st.mu.Lock()
	st.deleted[1] = true
	st.mu.Unlock()
	require.Eventually(t, func() bool { return st.len() == 0 }, 5*time.Second, 5*time.Millisecond, "the deleted subscription's retry stayed queued")
	time.Sleep(400 * time.Millisecond) // past the retry's due time
	require.Equal(t, 1, rcv.count(), "a delivery was sent to a deleted subscription")
	outs := st.outcomes(1)
	require.Equal(t, outbox.Deleted, outs[len(outs)-1].Reason)
}

// TestEnqueueDoesNotBlock: Enqueue returns at once although every worker hangs on a callback.
func TestEnqueueDoesNotBlock(t *testing.T) {
	st := newMemStore()
	slow := hanging(t)
	ob, _ := start(t, st, outbox.Config{Workers: 2, Timeout: 2 * time.Second})
	for i := range 1000 {
		t0 := time.Now()
		ob.Enqueue(st.add(delivery(i, "a", slow))...)
		require.Less(t, time.Since(t0), 100*time.Millisecond, "Enqueue %d blocked", i)
	}
}

// TestHangingOwnerDoesNotStallOthers: once its callbacks failed, an owner whose callbacks
// all hang holds at most PerApp workers, so another owner's deliveries go out at once.
func TestHangingOwnerDoesNotStallOthers(t *testing.T) {
	st := newMemStore()
	ob, _ := start(t, st, outbox.Config{Workers: 8, PerApp: 2, Timeout: time.Second})
	id := 0
	for range 12 {
		url := hanging(t) + "/cb"
		for range 3 {
			id++
			ob.Enqueue(st.add(delivery(id, "bad", url))...)
		}
	}
	time.Sleep(1500 * time.Millisecond) // the first attempts time out: bad is at its cap
	good := newReceiver(t, nil)
	t0 := time.Now()
	ob.Enqueue(st.add(delivery(1000, "good", good.srv.URL))...)
	require.Eventually(t, func() bool { return good.count() == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Less(t, time.Since(t0), time.Second, "the good owner's delivery waited behind the hanging owner's")
}

// TestReload: a Reload queues only what the engine does not know yet (a taken-over row), and
// the rows it knows are not sent twice.
func TestReload(t *testing.T) {
	st := newMemStore()
	rcv := newReceiver(t, nil)
	ob, _ := start(t, st, outbox.Config{})
	for i := range 50 {
		ob.Enqueue(st.add(delivery(i, "a", rcv.srv.URL))...)
		if i%10 == 0 {
			_, err := ob.Reload(context.Background())
			require.NoError(t, err)
		}
	}
	require.Eventually(t, func() bool { return st.len() == 0 }, 5*time.Second, 5*time.Millisecond)
	st.add(delivery(100, "b", rcv.srv.URL)) // another process's row, claimed now
	n, err := ob.Reload(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n, "got %d deliveries reloaded; want 1", n)
	require.Eventually(t, func() bool { return st.len() == 0 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // a settle period: a duplicate would have gone out
	require.Equal(t, 51, rcv.count(), "got %d POSTs; want 51 (each delivery once)", rcv.count())
}

// TestStopKeepsUndelivered: deliveries not finished when Run ends stay pending, and a new
// Outbox on the same store delivers them with their attempt counts.
func TestStopKeepsUndelivered(t *testing.T) {
	st := newMemStore()
	var mu sync.Mutex
	healthy := false
	rcv := newReceiver(t, func(int) int {
		mu.Lock()
		defer mu.Unlock()
		if healthy {
			return http.StatusNoContent
		}
		return http.StatusServiceUnavailable
	})
	ob, stop := start(t, st, outbox.Config{BaseBackoff: time.Hour})
	ob.Enqueue(st.add(delivery(1, "a", rcv.srv.URL))...)
	require.Eventually(t, func() bool { return len(st.outcomes(1)) == 1 }, 5*time.Second, 5*time.Millisecond)
	stop()
	require.Equal(t, 1, st.len(), "an undelivered row left the store")

	st.mu.Lock()
	d := st.rows[1]
	require.Equal(t, 1, d.Attempts)
	d.Due = time.Time{} // due now rather than in an hour
	st.rows[1] = d
	st.mu.Unlock()
	mu.Lock()
	healthy = true
	mu.Unlock()
	start(t, st, outbox.Config{})
	require.Eventually(t, func() bool { return st.len() == 0 }, 5*time.Second, 5*time.Millisecond)
	outs := st.outcomes(1)
	require.Equal(t, outbox.Delivered, outs[len(outs)-1].Result)
	require.Equal(t, 1, outs[len(outs)-1].Attempts, "the attempt count of the first run was lost")
}
