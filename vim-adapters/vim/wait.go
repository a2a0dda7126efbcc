package vim

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PendingGrace is how long a Pending status with a blocking reason (unschedulable, quota)
// must persist before WaitPhase gives up on it. Schedulers retry, and a fresh node or quota
// may not be visible to them for a moment; a Failed status ends the wait at once.
var PendingGrace = 5 * time.Second

// WaitPhase polls v.Status every interval until the instance reaches one of phases, and
// returns the last status. It stops early with the status's typed error when the instance
// cannot get there on its own (Status.Err: at once when Failed, after PendingGrace when
// Pending), and with ctx's error when ctx ends.
func WaitPhase(ctx context.Context, v VIM, id string, interval time.Duration, phases ...Phase) (Status, error) {
	var last Status
	var lastErr error
	var blockedSince time.Time
	for {
		st, err := v.Status(ctx, id)
		switch {
		case err == nil:
			last, lastErr = st, nil
			for _, p := range phases {
				if st.Phase == p {
					return st, nil
				}
			}
			if serr := st.Err(); serr != nil {
				if st.Phase == PhaseFailed {
					return st, serr
				}
				if blockedSince.IsZero() {
					blockedSince = time.Now()
				} else if time.Since(blockedSince) >= PendingGrace {
					return st, serr
				}
			} else {
				blockedSince = time.Time{}
			}
		case errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable):
			lastErr = err // may appear later (cache lag) or come back
		default:
			return last, err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			if lastErr != nil {
				return last, fmt.Errorf("wait for %s %v: %w (last error: %w)", id, phases, ctx.Err(), lastErr)
			}
			return last, fmt.Errorf("wait for %s %v: %w (last phase %s %v)", id, phases, ctx.Err(), last.Phase, last.Reasons)
		case <-t.C:
		}
	}
}

// WaitRunning is WaitPhase for PhaseRunning with a 100 ms poll.
func WaitRunning(ctx context.Context, v VIM, id string) (Status, error) {
	return WaitPhase(ctx, v, id, 100*time.Millisecond, PhaseRunning)
}
