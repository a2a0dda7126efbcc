package vim

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WaitPhase polls v.Status every interval until the instance reaches one of phases, and
// returns the last status. It stops early with the status's typed error when the instance
// cannot get there on its own (Status.Err), and with ctx's error when ctx ends.
func WaitPhase(ctx context.Context, v VIM, id string, interval time.Duration, phases ...Phase) (Status, error) {
	var last Status
	var lastErr error
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
				return st, serr
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
