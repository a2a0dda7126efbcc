package ruleset

import (
	"context"
	"sync"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
)

// SessionCounter is what the session watcher needs from the data plane.
type SessionCounter interface {
	CountSessions() (int, error)
	SessionCapacity() int
	PathStats() ([]dataplane.Counter, error)
}

// SessionStats is what the session watcher last counted.
type SessionStats struct {
	// Count is the number of UEs whose downlink tunnel the sessions map holds: the UEs
	// whose app replies can be re-encapsulated.
	Count int
	// Capacity is the size of the sessions map.
	Capacity int
	// Evicted counts the sessions the map evicted (least recently used first) since the
	// agent started, to make room for new UEs: their replies are lost until their next
	// downlink packet is learned again.
	Evicted uint64
	// CountedAt is when Count was taken (zero before the first count).
	CountedAt time.Time
}

// SessionWatcher counts the learned sessions in the background, so that the status and
// /metrics read a number instead of walking the map, and derives the evictions: the data
// plane counts every session it creates for a UE the map did not hold (dl_new), so the
// sessions created since the start minus the growth of the map are the ones the map
// evicted.
type SessionWatcher struct {
	dp     SessionCounter
	logger interface {
		WarnContext(ctx context.Context, msg string, args ...any)
	}

	mu         sync.Mutex
	st         SessionStats
	base       bool
	new0       uint64 // dl_new at the first count
	count0     int    // sessions at the first count
	lastLogged uint64
}

// NewSessionWatcher returns a watcher; call Run to count.
func NewSessionWatcher(dp SessionCounter, logger interface {
	WarnContext(ctx context.Context, msg string, args ...any)
}) *SessionWatcher {
	return &SessionWatcher{dp: dp, logger: logger, st: SessionStats{Capacity: dp.SessionCapacity()}}
}

// Stats returns the last count.
func (w *SessionWatcher) Stats() SessionStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// Run counts now and then every interval until ctx ends.
func (w *SessionWatcher) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		w.Scan(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Scan counts once, and logs new evictions.
func (w *SessionWatcher) Scan(ctx context.Context) {
	ps, err := w.dp.PathStats()
	if err != nil || len(ps) <= int(dataplane.StatDLNew) {
		return
	}
	created := ps[dataplane.StatDLNew].Packets
	n, err := w.dp.CountSessions()
	if err != nil {
		return
	}
	w.mu.Lock()
	if !w.base {
		w.base, w.new0, w.count0 = true, created, n
	}
	grown := int64(n) - int64(w.count0)
	if ev := int64(created-w.new0) - grown; ev > int64(w.st.Evicted) {
		w.st.Evicted = uint64(ev)
	}
	w.st.Count, w.st.CountedAt = n, time.Now()
	ev, delta := w.st.Evicted, w.st.Evicted-w.lastLogged
	w.lastLogged = ev
	w.mu.Unlock()
	if delta > 0 {
		w.logger.WarnContext(ctx, "sessions evicted: the sessions map is full; evicted UEs lose their replies until their next downlink packet",
			logkeys.Count, delta, "evicted_total", ev, "sessions", n, "capacity", w.st.Capacity)
	}
}
