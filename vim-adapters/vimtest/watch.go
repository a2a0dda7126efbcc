package vimtest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Watch implements vim.VIM: first the current status of every instance (in id order), then
// every change, in order. A slow reader never blocks the Fake: events queue per watcher. The
// channel closes when ctx ends or CloseWatches is called.
func (f *Fake) Watch(ctx context.Context) (_ <-chan vim.Event, err error) {
	defer f.record(OpWatch, "", nil, &err)
	if err := f.enter(ctx, OpWatch, ""); err != nil {
		return nil, err
	}
	w := &watcher{wake: make(chan struct{}, 1), closed: make(chan struct{})}
	out := make(chan vim.Event)
	f.mu.Lock()
	ids := make([]string, 0, len(f.instances))
	for id := range f.instances {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	now := time.Now()
	for _, id := range ids {
		st := cloneStatus(f.instances[id].st)
		st.Observed = now
		w.queue = append(w.queue, vim.Event{Status: st})
	}
	f.watchers[w] = struct{}{}
	f.mu.Unlock()
	go func() {
		defer close(out)
		defer func() {
			f.mu.Lock()
			delete(f.watchers, w)
			f.mu.Unlock()
		}()
		for {
			ev, ok := w.next()
			if !ok {
				select {
				case <-ctx.Done():
					return
				case <-w.closed:
					return
				case <-w.wake:
					continue
				}
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			case <-w.closed:
				return
			}
		}
	}()
	return out, nil
}

// CloseWatches ends every open watch, as a watch that fails for good: the channels close.
func (f *Fake) CloseWatches() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watchers {
		w.close()
		delete(f.watchers, w)
	}
}

// Watchers returns how many watches are open.
func (f *Fake) Watchers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watchers)
}

// broadcast queues ev for every watcher. f.mu is held.
func (f *Fake) broadcast(ev vim.Event) {
	for w := range f.watchers {
		w.push(ev)
	}
}

// watcher is one open Watch: an unbounded queue drained by its goroutine.
type watcher struct {
	mu     sync.Mutex
	queue  []vim.Event
	wake   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (w *watcher) push(ev vim.Event) {
	ev.Status = cloneStatus(ev.Status)
	w.mu.Lock()
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) next() (vim.Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return vim.Event{}, false
	}
	ev := w.queue[0]
	w.queue = w.queue[1:]
	return ev, true
}

func (w *watcher) close() { w.once.Do(func() { close(w.closed) }) }
