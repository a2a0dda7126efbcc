//go:build integration

package feed

import (
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/upgw/internal/rules"
)

// TestFollowerFrozenMEP freezes a real mep process (SIGSTOP) while the follower waits in a
// 30 s long poll: the feed stops counting as connected within a few seconds (the readiness
// probe), not at the end of the long poll, and is connected again soon after SIGCONT.
func TestFollowerFrozenMEP(t *testing.T) {
	m := meptest.Start(t, meptest.Options{})
	a := &applied{ch: make(chan int64, 10)}
	f := &Follower{BaseURL: m.Root, Token: meptest.OperatorToken, Timeout: 30 * time.Second, Apply: a.apply,
		Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go f.Run(ctx, 0, rules.Snapshot{}.Digest()) //nolint:errcheck
	waitFor(t, "connected", func() bool { return f.Status().Connected })
	time.Sleep(2500 * time.Millisecond) // into the long poll
	if !f.Status().Connected {
		t.Fatal("not connected while a long poll waits on a healthy MEP")
	}
	if err := m.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	thawed := false
	defer func() {
		if !thawed {
			_ = m.Signal(syscall.SIGCONT)
		}
	}()
	waitFor(t, "disconnected while the MEP is frozen", func() bool { return !f.Status().Connected })
	if d := time.Since(frozen); d > 5*time.Second {
		t.Errorf("connected for %s while the MEP was frozen; want at most 5 s (probe every 2 s, 1 s timeout)", d)
	}
	if err := m.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	thawed = true
	back := time.Now()
	waitFor(t, "connected after SIGCONT", func() bool { return f.Status().Connected })
	if d := time.Since(back); d > 3*time.Second {
		t.Errorf("connected again %s after SIGCONT; want within about the retry backoff (1 s)", d)
	}
}
