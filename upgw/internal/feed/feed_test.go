package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/upgw/internal/rules"
)

// fakeMEP plays the MEP side of the feed contract: bearer token, versioned snapshot, long
// poll held while after equals the current version, ProblemDetails errors.
type fakeMEP struct {
	t     *testing.T
	token string

	mu      sync.Mutex
	version int64
	rules   []mm5api.AppTrafficRule
	fail    int // answer 503 while > 0
	changed chan struct{}
	polls   []string
}

func newFakeMEP(t *testing.T, token string) *fakeMEP {
	return &fakeMEP{t: t, token: token, changed: make(chan struct{})}
}

func (m *fakeMEP) set(version int64, ids ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.version = version
	m.rules = nil
	for _, id := range ids {
		m.rules = append(m.rules, mm5api.AppTrafficRule{AppInstanceId: "app",
			TrafficRule: mp1api.TrafficRule{TrafficRuleId: id, State: mp1api.RuleStateACTIVE}})
	}
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *fakeMEP) setFail(n int) {
	m.mu.Lock()
	m.fail = n
	m.mu.Unlock()
}

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "detail": detail})
}

func (m *fakeMEP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		problem(w, 404, "no such path")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+m.token {
		problem(w, 401, "bad operator token")
		return
	}
	// Without after, the MEP answers at once with its current snapshot.
	immediate := !r.URL.Query().Has("after")
	after, err1 := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	timeout, err2 := strconv.Atoi(r.URL.Query().Get("timeout"))
	if !immediate && (err1 != nil || err2 != nil || timeout > 60) {
		problem(w, 400, "bad after or timeout")
		return
	}
	m.mu.Lock()
	m.polls = append(m.polls, r.URL.RawQuery)
	if m.fail > 0 {
		m.fail--
		m.mu.Unlock()
		problem(w, 503, "store unavailable")
		return
	}
	if !immediate && after == m.version {
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(time.Duration(timeout) * time.Second):
		case <-r.Context().Done():
			return
		}
		m.mu.Lock()
	}
	// The MEP serves the generated Mm5 type.
	snap := mm5api.TrafficRuleSnapshot{Version: m.version, Rules: m.rules}
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(snap)
}

type applied struct {
	mu    sync.Mutex
	got   []int64
	rules map[int64][]string // version → app/rule keys
	fail  error
	ch    chan int64
}

func (a *applied) apply(_ context.Context, s rules.Snapshot) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.got = append(a.got, s.Version)
	if a.rules == nil {
		a.rules = map[int64][]string{}
	}
	for _, r := range s.Rules {
		a.rules[s.Version] = append(a.rules[s.Version], r.Key()+" "+string(r.TrafficRule.State))
	}
	a.ch <- s.Version
	return nil
}

func waitVersion(t *testing.T, ch chan int64, want int64) {
	t.Helper()
	select {
	case v := <-ch:
		if v != want {
			t.Fatalf("applied version %d; want %d", v, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("version %d never applied", want)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFollower(t *testing.T) {
	mep := newFakeMEP(t, "s3cret")
	mep.set(1, "r1")
	srv := httptest.NewServer(mep)
	t.Cleanup(srv.Close)
	a := &applied{ch: make(chan int64, 10)}
	f := &Follower{BaseURL: srv.URL, Token: "s3cret", Timeout: 2 * time.Second, MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, Apply: a.apply, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, 0, "") }()

	// 1. First poll gets the current snapshot.
	waitVersion(t, a.ch, 1)
	// 2. The next poll is held (after=1) and answered when the version changes.
	waitFor(t, "a held poll", func() bool {
		mep.mu.Lock()
		defer mep.mu.Unlock()
		return len(mep.polls) >= 2
	})
	mep.set(2, "r1", "r2")
	waitVersion(t, a.ch, 2)
	a.mu.Lock()
	if got, want := fmt.Sprint(a.rules[2]), "[app/r1 ACTIVE app/r2 ACTIVE]"; got != want {
		t.Errorf("version 2 applied rules %s; want %s", got, want)
	}
	a.mu.Unlock()
	// 3. The MEP fails: nothing is applied, the status shows the problem. The version changes
	// only once a poll has failed: a poll admitted before the failure would legitimately be
	// answered with it.
	mep.setFail(1000)
	waitFor(t, "a failed poll", func() bool { return !f.Status().Connected && f.Status().LastError != "" })
	mep.set(3, "r3")
	if got := f.Status().LastError; !contains(got, "503") || !contains(got, "store unavailable") {
		t.Errorf("last error %q; want the 503 ProblemDetails detail", got)
	}
	select {
	case v := <-a.ch:
		t.Fatalf("applied version %d while the MEP was failing", v)
	case <-time.After(100 * time.Millisecond):
	}
	// 4. The MEP recovers: the newest version is applied.
	mep.setFail(0)
	waitVersion(t, a.ch, 3)
	waitFor(t, "connected", func() bool { return f.Status().Connected && f.Status().Version == 3 })

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v; want context.Canceled", err)
	}
}

func TestFollowerBadTokenAndApplyFailure(t *testing.T) {
	mep := newFakeMEP(t, "right")
	mep.set(5, "r")
	srv := httptest.NewServer(mep)
	t.Cleanup(srv.Close)
	a := &applied{ch: make(chan int64, 10), fail: errors.New("swap failed")}
	f := &Follower{BaseURL: srv.URL, Token: "wrong", Timeout: time.Second, MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 10 * time.Millisecond, Apply: a.apply, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go f.Run(ctx, 4, "") //nolint:errcheck
	waitFor(t, "401", func() bool { return contains(f.Status().LastError, "401") })

	// With the right token, a failing apply keeps the version unapplied and retries.
	cancel()
	a2 := &applied{ch: make(chan int64, 10), fail: errors.New("swap failed")}
	f2 := &Follower{BaseURL: srv.URL, Token: "right", Timeout: time.Second, MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 10 * time.Millisecond, Apply: a2.apply, Logger: slog.New(slog.DiscardHandler)}
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	go f2.Run(ctx2, 4, "") //nolint:errcheck
	waitFor(t, "apply error", func() bool { return contains(f2.Status().LastError, "swap failed") })
	a2.mu.Lock()
	a2.fail = nil
	a2.mu.Unlock()
	waitVersion(t, a2.ch, 5)
	mep.mu.Lock()
	defer mep.mu.Unlock()
	for _, q := range mep.polls {
		if q != "" && !contains(q, "timeout=1") { // "": the first poll asks for the current snapshot
			t.Errorf("poll %q; want timeout=1", q)
		}
	}
}

// TestFollowerPollFloor: a MEP (or a proxy in front of it) that answers every poll at once
// with the unchanged version must not drive the follower into a tight loop.
func TestFollowerPollFloor(t *testing.T) {
	var mu sync.Mutex
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		polls++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":7,"rules":[]}`))
	}))
	t.Cleanup(srv.Close)
	a := &applied{ch: make(chan int64, 10)}
	f := &Follower{BaseURL: srv.URL, Token: "t", Timeout: time.Second, Apply: a.apply, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := f.Run(ctx, 7, rules.Snapshot{}.Digest()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run returned %v; want context.DeadlineExceeded", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if polls < 1 || int64(polls) > int64(2*time.Second/MinPollInterval)+1 {
		t.Errorf("%d polls in 2 s against a MEP answering at once; want at most one per %s", polls, MinPollInterval)
	}
	if !f.Status().Connected {
		t.Errorf("status %+v; want connected", f.Status())
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestFollowerDecodesBothDstInterfaceShapes: a MEP that serves a rule's dstInterface as a
// V2.1.1 object (which mm5api.TrafficRuleSnapshot cannot hold) is followed like one that
// serves the V2.2.1 array; the applied rule always holds an array.
func TestFollowerDecodesBothDstInterfaceShapes(t *testing.T) {
	tests := []struct {
		name, dstInterface string
	}{
		{"v2.1.1 object", `{"interfaceType":"IP","dstIpAddress":"192.0.2.10"}`},
		{"v2.2.1 array", `[{"interfaceType":"IP","dstIpAddress":"192.0.2.10"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != Path || r.Header.Get("Authorization") != "Bearer t" {
					problem(w, 404, "unexpected request "+r.URL.Path)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"version":3,"rules":[{"appInstanceId":"app","trafficRule":{"trafficRuleId":"r",` +
					`"filterType":"FLOW","priority":1,"action":"FORWARD_DECAPSULATED","state":"ACTIVE",` +
					`"dstInterface":` + tt.dstInterface + `,"trafficFilter":[{"dstPort":["80"]}]}}]}`))
			}))
			t.Cleanup(srv.Close)
			got := make(chan rules.Snapshot, 1)
			f := &Follower{BaseURL: srv.URL + "/", Token: "t", Timeout: time.Second, Logger: slog.New(slog.DiscardHandler),
				Apply: func(_ context.Context, s rules.Snapshot) error {
					select {
					case got <- s:
					default:
					}
					return nil
				}}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go f.Run(ctx, 0, "") //nolint:errcheck
			var s rules.Snapshot
			select {
			case s = <-got:
			case <-time.After(10 * time.Second):
				t.Fatalf("nothing applied; status %+v", f.Status())
			}
			if len(s.Rules) != 1 {
				t.Fatalf("applied %+v; want one rule", s)
			}
			di := s.Rules[0].TrafficRule.DstInterface
			if s.Version != 3 || di == nil || len(*di) != 1 || (*di)[0].DstIpAddress == nil || *(*di)[0].DstIpAddress != "192.0.2.10" {
				t.Errorf("applied version %d, dstInterface %+v; want version 3 and one IP interface 192.0.2.10", s.Version, di)
			}
		})
	}
}
