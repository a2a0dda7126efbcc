package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// vimWait decides, from what the VIM says of an instance, whether a wait is over.
type vimWait interface {
	// observe takes a status, or the error Status gave instead (a Deleted event is
	// vim.ErrNotFound), and reports whether the wait is over and with what error.
	observe(st vim.Status, err error) (done bool, result error)
	// recheck is how soon the wait must ask again without news (0: no need).
	recheck() time.Duration
	// timeout is the error of a wait whose time ran out.
	timeout(d time.Duration) error
	// last is the last status observed.
	last() vim.Status
}

// waitVIM waits until w is over or d passes, asking v for Status. It follows the site's
// shared watch (feeds), which hands it the instance's latest status at once and every change
// after, and asks Status at the start while the watch is not open, whenever the watch
// (re)opens, and then every FeedResync while the watch is open or every PollInterval while
// it is not (or sooner when w asks for it). So a change the VIM reports ends the wait as it
// happens, and a VIM without a working watch is polled as before.
func (u *run) waitVIM(ctx context.Context, d time.Duration, v vim.VIM, w vimWait) (vim.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	c := u.r.cfg
	id := u.task.AppInstanceID
	// Subscribe before the first Status, so that no change falls between the two. The feed
	// is the site VIM's; v may wrap it for Status (guestAware).
	sub := u.r.feeds.subscribe(ctx, u.site.VIM, id)
	defer sub.close()
	// While the watch is open, the subscription starts with what it last said of the
	// instance, and Status is asked only as a safety net.
	live, _ := sub.live()
	ask := !live
	for {
		if ask {
			st, err := v.Status(ctx, id)
			if ctx.Err() != nil {
				return w.last(), w.timeout(d)
			}
			if done, res := w.observe(st, err); done {
				return w.last(), res
			}
		}
		live, opened := sub.live()
		next := c.PollInterval
		if live {
			next = c.FeedResync
		}
		if r := w.recheck(); r > 0 {
			next = min(next, r)
		}
		t := time.NewTimer(next)
		select {
		case ev := <-sub.ch:
			t.Stop()
			ask = false
			var err error
			if ev.Deleted {
				err = vim.Errorf("watch", id, vim.ErrNotFound, "the vim reports the instance deleted")
			}
			if done, res := w.observe(ev.Status, err); done {
				return w.last(), res
			}
		case <-opened:
			t.Stop()
			ask = true
		case <-t.C:
			ask = true
		case <-ctx.Done():
			t.Stop()
			return w.last(), w.timeout(d)
		}
	}
}

// phaseWait waits for one of phases, as vim.WaitPhase does: a Failed status ends it at once
// with the status's error, a blocked Pending after vim.PendingGrace; an instance not found
// yet (cache lag) or a VIM unavailable for a moment keeps it going.
type phaseWait struct {
	id           string
	phases       []vim.Phase
	poll         time.Duration // how soon to ask again while the VIM waits for the guest
	st           vim.Status
	lastErr      error
	blockedSince time.Time
}

func (p *phaseWait) observe(st vim.Status, err error) (bool, error) {
	switch {
	case err == nil:
		p.st, p.lastErr = st, nil
		for _, ph := range p.phases {
			if st.Phase == ph {
				return true, nil
			}
		}
		if serr := st.Err(); serr != nil {
			if st.Phase == vim.PhaseFailed {
				return true, serr
			}
			if p.blockedSince.IsZero() {
				p.blockedSince = time.Now()
			} else if time.Since(p.blockedSince) >= vim.PendingGrace {
				return true, serr
			}
		} else {
			p.blockedSince = time.Time{}
		}
	case errors.Is(err, vim.ErrNotFound) || errors.Is(err, vim.ErrUnavailable):
		p.lastErr = err // may appear later (cache lag) or come back
	default:
		return true, err
	}
	return false, nil
}

func (p *phaseWait) recheck() time.Duration {
	if p.st.WaitingForGuest() {
		// Only Status passes the app's confirm_ready on as the guest's heartbeat
		// (guestAware): the watch alone would not see the guest come up.
		return p.poll
	}
	if p.blockedSince.IsZero() {
		return 0
	}
	return max(vim.PendingGrace-time.Since(p.blockedSince), time.Millisecond)
}

func (p *phaseWait) timeout(d time.Duration) error {
	if p.lastErr != nil {
		return fmt.Errorf("%w after %v: wait for %s %v: %w (last error: %w)", ErrStepTimeout, d, p.id, p.phases, context.DeadlineExceeded, p.lastErr)
	}
	return fmt.Errorf("%w after %v: wait for %s %v: %w (last phase %s %v)", ErrStepTimeout, d, p.id, p.phases, context.DeadlineExceeded, p.st.Phase, p.st.Reasons)
}

func (p *phaseWait) last() vim.Status { return p.st }

// goneWait waits for the VIM to no longer know the instance. A temporary error (the VIM
// unreachable for a moment) keeps it going and is reported on timeout; another ends it.
type goneWait struct {
	lastErr error
}

func (g *goneWait) observe(_ vim.Status, err error) (bool, error) {
	switch {
	case errors.Is(err, vim.ErrNotFound):
		return true, nil
	case err != nil && !classify("", err).Temporary:
		return true, err
	}
	g.lastErr = err
	return false, nil
}

func (*goneWait) recheck() time.Duration { return 0 }

func (g *goneWait) timeout(d time.Duration) error {
	if g.lastErr != nil {
		return fmt.Errorf("%w after %v waiting for the vim to remove the instance: %w", ErrStepTimeout, d, g.lastErr)
	}
	return fmt.Errorf("%w after %v waiting for the vim to remove the instance", ErrStepTimeout, d)
}

func (*goneWait) last() vim.Status { return vim.Status{} }
