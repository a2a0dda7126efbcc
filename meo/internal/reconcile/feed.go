package reconcile

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// feeds shares one vim.Watch per VIM among the reconciler's waits, so that a task waiting for
// Running (or Stopped, or gone) learns it from the site's watch the moment the VIM reports it
// instead of polling Status. A feed opens with its first waiter and closes FeedLinger after
// its last one left; a watch that fails is opened again after a pause. While a feed's watch
// is not open, the waits poll at PollInterval; while it is, they resync at FeedResync only,
// as a safety net for an event the watch might have missed.
type feeds struct {
	linger time.Duration
	log    *slog.Logger

	mu sync.Mutex
	m  map[vim.VIM]*feed
}

// feed is the shared watch of one VIM.
type feed struct {
	fs     *feeds
	v      vim.VIM
	cancel context.CancelFunc

	mu      sync.Mutex
	subs    map[string]map[*subscription]struct{} // app instance id → its waiters
	all     map[*stream]struct{}                  // followers of every instance
	last    map[string]vim.Event                  // the latest event of each instance known
	n       int                                   // waiters and followers
	open    bool                                  // the watch is open and streaming
	openCh  chan struct{}                         // closed when the watch opens next
	triedCh chan struct{}                         // closed when an open of the watch fails next
	idle    *time.Timer                           // closes the feed after its last waiter left
	stopped bool
}

// subscription receives the events of one instance. ch holds the latest event only: a
// waiter evaluates the newest status, never a backlog.
type subscription struct {
	f  *feed
	id string
	ch chan vim.Event
}

func newFeeds(linger time.Duration, log *slog.Logger) *feeds {
	return &feeds{linger: linger, log: log, m: map[vim.VIM]*feed{}}
}

// subscribe returns a subscription to the events of instance id on v, opening v's feed if
// none is open.
func (fs *feeds) subscribe(ctx context.Context, v vim.VIM, id string) *subscription {
	fs.mu.Lock()
	f := fs.acquire(ctx, v)
	s := &subscription{f: f, id: id, ch: make(chan vim.Event, 1)}
	if f.subs[id] == nil {
		f.subs[id] = map[*subscription]struct{}{}
	}
	f.subs[id][s] = struct{}{}
	f.n++
	// What the watch said of the instance before: a change that came before the waiter
	// is not lost.
	if ev, ok := f.last[id]; ok && f.open {
		s.ch <- ev
	}
	f.mu.Unlock()
	fs.mu.Unlock()
	return s
}

// acquire returns v's feed, opening it if none is open, with f.mu held and its idle close
// called off. The caller holds fs.mu. The feed is shared by every waiter of the site and
// outlives the caller: it keeps ctx's values but not its cancellation, and ends FeedLinger
// after its last user.
func (fs *feeds) acquire(ctx context.Context, v vim.VIM) *feed {
	f := fs.m[v]
	if f == nil {
		ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &feed{fs: fs, v: v, cancel: cancel, subs: map[string]map[*subscription]struct{}{}, all: map[*stream]struct{}{},
			last: map[string]vim.Event{}, openCh: make(chan struct{}), triedCh: make(chan struct{})}
		fs.m[v] = f
		go f.run(ctx)
	}
	f.mu.Lock()
	if f.idle != nil {
		f.idle.Stop()
		f.idle = nil
	}
	return f
}

// close ends the subscription; the feed closes FeedLinger after its last one.
func (s *subscription) close() {
	s.f.release(func() bool {
		m := s.f.subs[s.id]
		if _, ok := m[s]; !ok {
			return false
		}
		delete(m, s)
		if len(m) == 0 {
			delete(s.f.subs, s.id)
		}
		return true
	})
}

// release drops a waiter or follower (drop reports whether it was there) and, after the
// last, closes the feed FeedLinger later unless a new one comes.
func (f *feed) release(drop func() bool) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !drop() {
		return
	}
	f.n--
	if f.n == 0 && !f.stopped {
		f.idle = time.AfterFunc(f.fs.linger, f.stopIdle)
	}
}

// stream is a follower of every instance of a feed: a site watcher. Events queue without
// bound, so a slow follower never holds the feed up.
type stream struct {
	mu    sync.Mutex
	queue []vim.Event
	wake  chan struct{}
}

func (st *stream) push(ev vim.Event) {
	st.mu.Lock()
	st.queue = append(st.queue, ev)
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// follow returns the events of every instance on v as its shared watch reports them, first
// the latest known status of each, until ctx ends. It returns once the watch is open or
// failed to open. The channel stays
// open while the watch is opened again after a failure (the new watch reports every
// instance's current status again).
func (fs *feeds) follow(ctx context.Context, v vim.VIM) <-chan vim.Event {
	st := &stream{wake: make(chan struct{}, 1)}
	fs.mu.Lock()
	f := fs.acquire(ctx, v)
	f.all[st] = struct{}{}
	f.n++
	opened, tried := f.openCh, f.triedCh
	if f.open {
		opened = nil
		ids := make([]string, 0, len(f.last))
		for id := range f.last {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			st.queue = append(st.queue, f.last[id])
		}
	}
	f.mu.Unlock()
	fs.mu.Unlock()
	// As vim.Watch does, return once the watch is open (or failed to open), so that what
	// changes after the call is in the stream.
	if opened != nil {
		select {
		case <-opened:
		case <-tried:
		case <-ctx.Done():
		}
	}
	out := make(chan vim.Event)
	go func() {
		defer close(out)
		defer f.release(func() bool {
			_, ok := f.all[st]
			delete(f.all, st)
			return ok
		})
		for {
			st.mu.Lock()
			var ev vim.Event
			ok := len(st.queue) > 0
			if ok {
				ev = st.queue[0]
				st.queue[0] = vim.Event{}
				st.queue = st.queue[1:]
			}
			st.mu.Unlock()
			if !ok {
				select {
				case <-ctx.Done():
					return
				case <-st.wake:
					continue
				}
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// stopIdle closes the feed unless a waiter came meanwhile.
func (f *feed) stopIdle() {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 || f.stopped {
		return
	}
	f.stopped = true
	f.cancel()
	if f.fs.m[f.v] == f {
		delete(f.fs.m, f.v)
	}
}

// knows reports whether v's watch is open and reported instance id (and not its deletion).
func (fs *feeds) knows(v vim.VIM, id string) bool {
	fs.mu.Lock()
	f := fs.m[v]
	fs.mu.Unlock()
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.last[id]
	return f.open && ok
}

// live reports whether the feed's watch is open, and returns a channel closed when it opens
// next (nil while open).
func (s *subscription) live() (bool, <-chan struct{}) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if s.f.open {
		return true, nil
	}
	return false, s.f.openCh
}

// run follows the VIM's watch until ctx ends, opening it again after a pause when it fails
// or closes.
func (f *feed) run(ctx context.Context) {
	pause := 200 * time.Millisecond
	for ctx.Err() == nil {
		events, err := f.v.Watch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.fs.log.DebugContext(ctx, "vim watch for waits failed", logkeys.Error, err.Error())
			}
			f.mu.Lock()
			close(f.triedCh)
			f.triedCh = make(chan struct{})
			f.mu.Unlock()
		} else {
			f.setOpen(true)
			pause = 200 * time.Millisecond
			for ev := range events {
				f.deliver(ev)
			}
			f.setOpen(false)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Second)
	}
}

func (f *feed) setOpen(open bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open == open {
		return
	}
	f.open = open
	if open {
		close(f.openCh)
	} else {
		// What the closed watch said may go stale; the next reports every instance anew.
		clear(f.last)
		f.openCh = make(chan struct{})
	}
}

// deliver records ev as its instance's latest, queues it for the followers and hands it to
// the waiters of its instance, replacing an event they have not read.
func (f *feed) deliver(ev vim.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := ev.Status.AppInstanceID
	if ev.Deleted {
		delete(f.last, id)
	} else {
		f.last[id] = ev
	}
	for st := range f.all {
		st.push(ev)
	}
	for s := range f.subs[id] {
		select {
		case <-s.ch:
		default:
		}
		s.ch <- ev
	}
}
