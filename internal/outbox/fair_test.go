package outbox_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/outbox"
)

// slowServer answers 2xx after delay, except on /fast, where it answers at once. It records
// when each /fast request arrived, by the id in the query.
type slowServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	hit map[string]time.Time
}

func newSlowServer(t *testing.T, delay time.Duration) *slowServer {
	s := &slowServer{hit: map[string]time.Time{}}
	release := make(chan struct{})
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fast" {
			s.mu.Lock()
			s.hit[r.URL.RawQuery] = time.Now()
			s.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		select {
		case <-time.After(delay):
		case <-release:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	s.srv.Config.SetKeepAlivesEnabled(true)
	s.srv.Start()
	t.Cleanup(func() { close(release); s.srv.CloseClientConnections(); s.srv.Close() })
	return s
}

func (s *slowServer) arrived(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.hit[id]
	return at, ok
}

// victimLatencies enqueues n deliveries of the owner "victim" to url+"/fast?<id>", one every
// gap, and returns the time from each Enqueue to its arrival at srv (10 s when it never came).
func victimLatencies(t *testing.T, ob *outbox.Outbox[int], st *memStore, srv *slowServer, url string, n int, gap time.Duration) []time.Duration {
	t.Helper()
	sent := make([]time.Time, n)
	for i := range n {
		id := 1_000_000 + i
		sent[i] = time.Now()
		ob.Enqueue(st.add(delivery(id, "victim", url+"/fast?"+strconv.Itoa(id)))...)
		time.Sleep(gap)
	}
	lat := make([]time.Duration, n)
	deadline := time.Now().Add(10 * time.Second)
	for i := range n {
		for {
			if at, ok := srv.arrived(strconv.Itoa(1_000_000 + i)); ok {
				lat[i] = at.Sub(sent[i])
				break
			}
			if time.Now().After(deadline) {
				lat[i] = 10 * time.Second
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	slices.Sort(lat)
	return lat
}

// TestSlowSuccessfulCallbacksDoNotStallOthers: an owner whose 100 callbacks answer 2xx just
// under the timeout (never a failure) holds only its share of the workers, whether the
// victim's callback is on another host or on the same host:port (one ingress for both).
func TestSlowSuccessfulCallbacksDoNotStallOthers(t *testing.T) {
	for _, shared := range []bool{false, true} {
		name := "victim on its own host"
		if shared {
			name = "victim behind the attacker's host:port"
		}
		t.Run(name, func(t *testing.T) {
			const timeout = time.Second
			attacker := newSlowServer(t, timeout-100*time.Millisecond)
			victim := attacker
			if !shared {
				victim = newSlowServer(t, 0)
			}
			st := newMemStore()
			ob, _ := start(t, st, outbox.Config{Timeout: timeout})
			// The attacker's app has 100 subscriptions; each of its changes notifies all of them.
			for round := range 5 {
				for i := range 100 {
					id := round*100 + i
					ob.Enqueue(st.add(delivery(id, "attacker", attacker.srv.URL+"/slow/"+strconv.Itoa(i)))...)
				}
			}
			time.Sleep(200 * time.Millisecond) // the workers are busy with the attacker
			lat := victimLatencies(t, ob, st, victim, victim.srv.URL, 10, 50*time.Millisecond)
			t.Logf("victim latency p50 %v, max %v", lat[len(lat)/2], lat[len(lat)-1])
			require.Less(t, lat[len(lat)-1], 300*time.Millisecond,
				"the victim's slowest notification took %v; want < 300ms (all: %v)", lat[len(lat)-1], lat)
		})
	}
}

// TestDispatchCostIndependentOfWaiting: 100,000 deliveries waiting for a retry do not slow
// down anyone else's deliveries, nor cost CPU while they wait.
func TestDispatchCostIndependentOfWaiting(t *testing.T) {
	if testing.Short() {
		t.Skip("100k deliveries")
	}
	measure := func(t *testing.T, waiting int) (time.Duration, time.Duration) {
		st := newMemStore()
		failing := newReceiver(t, func(int) int { return http.StatusInternalServerError })
		for i := range waiting { // failed once, due in an hour
			d := delivery(i, "flood", failing.srv.URL)
			d.Attempts, d.Due = 1, time.Now().Add(time.Hour)
			st.add(d)
		}
		fast := newReceiver(t, nil)
		ob, _ := start(t, st, outbox.Config{})
		require.Eventually(t, func() bool { st.mu.Lock(); defer st.mu.Unlock(); return st.pendings > 0 }, 5*time.Second, time.Millisecond)
		cpu0, t0 := cpuTime(), time.Now()
		const n = 2000
		for i := range n {
			ob.Enqueue(st.add(delivery(waiting+i, "other", fast.srv.URL))...)
			if i%20 == 19 {
				time.Sleep(time.Millisecond) // arrivals over time, as commits come
			}
		}
		require.Eventually(t, func() bool { return fast.count() == n }, 60*time.Second, time.Millisecond)
		return time.Since(t0), cpuTime() - cpu0
	}
	wall0, cpu0 := measure(t, 0)
	wall, cpu := measure(t, 100_000)
	t.Logf("2000 deliveries: %v wall / %v CPU with none waiting; %v wall / %v CPU with 100k waiting", wall0, cpu0, wall, cpu)
	require.Less(t, cpu, 2*cpu0+200*time.Millisecond, "CPU with 100k deliveries waiting %v; without %v", cpu, cpu0)
}

// cpuTime returns the CPU time the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCapsHold: whatever is queued, no owner has more than PerApp deliveries in flight and no
// host more than PerHost, and the workers are used up to those caps.
func TestCapsHold(t *testing.T) {
	const perApp, perHost = 3, 5
	type counter struct{ cur, peak int }
	var mu sync.Mutex
	byOwner, byHost := map[string]*counter{}, map[string]*counter{}
	enter := func(m map[string]*counter, k string, d int) {
		c := m[k]
		if c == nil {
			c = &counter{}
			m[k] = c
		}
		c.cur += d
		c.peak = max(c.peak, c.cur)
	}
	var srvs []*httptest.Server
	for range 2 {
		var srv *httptest.Server
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			owner := r.URL.Query().Get("owner")
			mu.Lock()
			enter(byOwner, owner, 1)
			enter(byHost, srv.URL, 1)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			enter(byOwner, owner, -1)
			enter(byHost, srv.URL, -1)
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		srvs = append(srvs, srv)
	}
	st := newMemStore()
	ob, _ := start(t, st, outbox.Config{Workers: 16, PerApp: perApp, PerHost: perHost})
	id := 0
	for _, owner := range []string{"a", "b", "c", "d"} {
		for _, srv := range srvs {
			for range 20 {
				id++
				ob.Enqueue(st.add(delivery(id, owner, srv.URL+"/cb?owner="+owner))...)
			}
		}
	}
	require.Eventually(t, func() bool { return st.len() == 0 }, 20*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for k, c := range byOwner {
		require.LessOrEqual(t, c.peak, perApp, "owner %s had %d deliveries in flight; want ≤ %d", k, c.peak, perApp)
	}
	total := 0
	for k, c := range byHost {
		require.LessOrEqual(t, c.peak, perHost, "host %s had %d deliveries in flight; want ≤ %d", k, c.peak, perHost)
		total += c.peak
	}
	require.Greater(t, total, perApp, "the workers were not used beyond one owner's cap (peaks %d)", total)
}

// TestDeadEndpointDoesNotHoldOwnersOthers: once one endpoint of an owner hangs, it holds at
// most PerSuspect of the owner's PerApp slots, so the owner's other endpoints keep working.
func TestDeadEndpointDoesNotHoldOwnersOthers(t *testing.T) {
	st := newMemStore()
	ob, _ := start(t, st, outbox.Config{Workers: 8, PerApp: 4, Timeout: time.Second})
	dead := hanging(t)
	for i := range 40 {
		ob.Enqueue(st.add(delivery(i, "a", dead+"/cb"))...)
	}
	time.Sleep(1500 * time.Millisecond) // the first attempts time out: the lane is untrusted
	fine := newReceiver(t, nil)
	t0 := time.Now()
	ob.Enqueue(st.add(delivery(100, "a", fine.srv.URL))...)
	require.Eventually(t, func() bool { return fine.count() == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Less(t, time.Since(t0), 500*time.Millisecond, "the owner's healthy endpoint waited behind its dead one")
}
