package feed

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/upgw/internal/rules"
)

// TestFollowerSameVersionOtherRules: a rule set restored from the state file whose version
// equals the MEP's current one but whose rules differ is replaced at once: a version alone
// does not identify a rule set.
func TestFollowerSameVersionOtherRules(t *testing.T) {
	mep := newFakeMEP(t, "tok")
	mep.set(3, "from-mep")
	srv := httptest.NewServer(mep)
	t.Cleanup(srv.Close)
	a := &applied{ch: make(chan int64, 10)}
	f := &Follower{BaseURL: srv.URL, Token: "tok", Timeout: 5 * time.Second, Apply: a.apply, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stale := rules.Snapshot{Version: 3, Rules: []rules.AppRule{{AppInstanceID: "app",
		TrafficRule: mp1api.TrafficRule{TrafficRuleId: "stale", State: mp1api.RuleStateACTIVE}}}}
	go f.Run(ctx, 3, stale.Digest()) //nolint:errcheck
	select {
	case v := <-a.ch:
		a.mu.Lock()
		got := a.rules[v]
		a.mu.Unlock()
		if v != 3 || len(got) != 1 || got[0] != "app/from-mep ACTIVE" {
			t.Errorf("applied version %d rules %v; want 3 with app/from-mep", v, got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the MEP's rules under the same version were not applied within 2 s")
	}
}

// TestFollowerConnectedOnlyWhileLive: connected turns true with the first answer (not after
// a whole long poll) and false once a poll is overdue, while the MEP hangs.
func TestFollowerConnectedOnlyWhileLive(t *testing.T) {
	var frozen atomic.Bool
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if frozen.Load() || r.URL.Query().Has("after") {
			select { // a frozen MEP, or a long poll with nothing new
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":2,"rules":[]}`))
	}))
	t.Cleanup(srv.Close)
	a := &applied{ch: make(chan int64, 10)}
	f := &Follower{BaseURL: srv.URL, Token: "t", Timeout: time.Second, Apply: a.apply, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go f.Run(ctx, 2, rules.Snapshot{}.Digest()) //nolint:errcheck
	waitFor(t, "connected after the first answer", func() bool { return f.Status().Connected })
	frozen.Store(true)
	start := time.Now()
	waitFor(t, "disconnected while the MEP hangs", func() bool { return !f.Status().Connected })
	// The poll that hangs may start up to MinPollInterval after the freeze (the follower
	// paces polls that bring nothing new); it is overdue after the timeout plus LiveGrace.
	if d, most := time.Since(start), MinPollInterval+time.Second+LiveGrace+500*time.Millisecond; d > most {
		t.Errorf("connected for %s while the MEP hung; want at most %s", d, most)
	}
}

// TestFollowerReconnectsPromptly: after an outage of several seconds, a change made once
// the MEP is back arrives within about a second, not after a backoff grown to tens of
// seconds.
func TestFollowerReconnectsPromptly(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	mep := newFakeMEP(t, "tok")
	mep.set(1, "r1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			problem(w, 503, "store unavailable")
			return
		}
		mep.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a := &applied{ch: make(chan int64, 10)}
	f := &Follower{BaseURL: srv.URL, Token: "tok", Timeout: 5 * time.Second, Apply: a.apply, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go f.Run(ctx, 0, "")        //nolint:errcheck
	time.Sleep(4 * time.Second) // the outage: default backoffs only
	down.Store(false)
	start := time.Now()
	waitVersion(t, a.ch, 1)
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("first snapshot after the outage took %s; want at most about 1 s", d)
	}
}
