package cli

import (
	"context"
	"time"
)

// waitOptions shape a --wait: how long at most and how often to look.
type waitOptions struct {
	Timeout  time.Duration
	Interval time.Duration
}

// waitFor polls until done, reporting each new state through progress. poll returns the
// state, whether it is final, and an error that stops the wait. When the timeout runs out
// first, the error is a *TimeoutError (exit 6). This is the one follow loop: onboarding and
// the LCM's --wait/--watch on op occurrences use it.
func waitFor(ctx context.Context, w waitOptions, what string, poll func(context.Context) (state string, done bool, err error), progress func(state string)) error {
	if w.Interval <= 0 {
		w.Interval = 500 * time.Millisecond
	}
	deadline := time.Now().Add(w.Timeout)
	last := ""
	interval := min(w.Interval, 200*time.Millisecond)
	for {
		state, done, err := poll(ctx)
		if err != nil {
			return err
		}
		if state != last {
			if progress != nil {
				progress(state)
			}
			last = state
		}
		if done {
			return nil
		}
		if w.Timeout > 0 && time.Now().Add(interval).After(deadline) {
			return &TimeoutError{What: what, Last: last}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
		interval = min(interval*2, w.Interval)
	}
}
