package outbox

import (
	"container/heap"
	"time"
)

// The scheduler. Deliveries not due yet wait in a heap by due time. A due delivery waits in
// the FIFO of its lane: its owner and its callback's host:port. Owners with work take turns
// (a ring); within an owner its lanes take turns (a ring per owner). A lane or owner that
// cannot start a delivery now is taken out of its ring and put back by the event that frees
// it (a delivery of that owner, lane or host landing), so the dispatcher never looks at a
// delivery it cannot start: its cost per delivery is O(log n) for the heap and O(1) for the
// rest, whatever the number of deliveries waiting.
//
// The caps that make it fair, all counted in deliveries in flight:
//
//   - per owner, PerApp: an owner whose callbacks are slow or hang holds at most that many
//     workers, so the others keep Workers−PerApp;
//   - per host:port, PerHost, over all owners: a dead ingress shared by several apps holds at
//     most that many; it is larger than PerApp, so that one owner alone cannot fill a host
//     that another owner's callbacks share;
//   - per lane, PerSuspect, until the lane has earned trust: a lane is trusted after an
//     attempt answered 2xx within SlowAfter (the time budget), and loses it with an attempt
//     that failed, timed out or took longer. One dead or slow endpoint of an app, new or
//     known, holds up its other endpoints by at most that much.

// laneState says where a lane is.
type laneState uint8

const (
	idle     laneState = iota // no due deliveries
	ready                     // in its owner's ring
	capped                    // untrusted at PerSuspect: back in the ring when one of its own lands
	hostWait                  // its host at PerHost: back in the ring when one to the host lands
)

type owner[K comparable] struct {
	inflight int
	lanes    deque[*lane[K]] // lanes in state ready
	inRing   bool
	nLanes   int
}

type host[K comparable] struct {
	inflight int
	waiting  []*lane[K] // lanes in state hostWait
	nLanes   int
}

type laneKey struct{ owner, host string }

type lane[K comparable] struct {
	key      laneKey
	o        *owner[K]
	h        *host[K]
	q        deque[*item[K]] // due deliveries, in the order they became due
	inflight int
	state    laneState
	trusted  bool // its last attempt answered 2xx within SlowAfter
	failing  bool // its last attempt did not: remembered while the lane is idle
}

// sched is the scheduler's state, guarded by Outbox.mu.
type sched[K comparable] struct {
	timers timerHeap[K]
	ring   deque[*owner[K]]
	owners map[string]*owner[K]
	hosts  map[string]*host[K]
	lanes  map[laneKey]*lane[K]
	busy   int // deliveries handed to the workers and not landed
	out    []job[K]
}

// schedule queues a delivery: in the heap when it is due later, else in its lane.
func (o *Outbox[K]) schedule(it *item[K], now time.Time) {
	if it.d.Due.After(now) {
		heap.Push(&o.s.timers, it)
		return
	}
	o.makeReady(it)
}

func (o *Outbox[K]) makeReady(it *item[K]) {
	s := &o.s
	k := laneKey{it.d.Owner, it.host}
	l := s.lanes[k]
	if l == nil {
		ow := s.owners[k.owner]
		if ow == nil {
			ow = &owner[K]{}
			s.owners[k.owner] = ow
		}
		h := s.hosts[k.host]
		if h == nil {
			h = &host[K]{}
			s.hosts[k.host] = h
		}
		ow.nLanes++
		h.nLanes++
		l = &lane[K]{key: k, o: ow, h: h}
		s.lanes[k] = l
	}
	l.q.push(it)
	if l.state == idle {
		l.state = ready
		l.o.lanes.push(l)
		o.wakeOwner(l.o)
	}
}

// wakeOwner puts an owner with ready lanes and a free slot into the ring.
func (o *Outbox[K]) wakeOwner(ow *owner[K]) {
	if !ow.inRing && ow.lanes.len() > 0 && ow.inflight < o.cfg.PerApp {
		ow.inRing = true
		o.s.ring.push(ow)
	}
}

// dispatch hands due deliveries to free workers, owners taking turns, and returns how long
// to sleep before the next delivery is due (at most 1 s).
func (o *Outbox[K]) dispatch(jobs chan<- job[K]) time.Duration {
	now := time.Now()
	s := &o.s
	o.mu.Lock()
	for len(s.timers) > 0 && !s.timers[0].d.Due.After(now) {
		o.makeReady(heap.Pop(&s.timers).(*item[K]))
	}
	sleep := time.Second
	if len(s.timers) > 0 {
		sleep = min(sleep, s.timers[0].d.Due.Sub(now))
	}
	out := s.out[:0]
	for s.busy < o.cfg.Workers && s.ring.len() > 0 {
		ow := s.ring.front()
		if ow.inflight >= o.cfg.PerApp || ow.lanes.len() == 0 {
			s.ring.pop()
			ow.inRing = false
			continue // the owner is collected with its last lane
		}
		l := ow.lanes.pop()
		switch {
		case l.q.len() == 0:
			l.state = idle
			o.collect(l)
			continue
		case !l.trusted && l.inflight >= o.cfg.PerSuspect:
			l.state = capped
			continue
		case l.h.inflight >= o.cfg.PerHost:
			l.state = hostWait
			l.h.waiting = append(l.h.waiting, l)
			continue
		}
		it := l.q.pop()
		s.busy++
		ow.inflight++
		l.inflight++
		l.h.inflight++
		out = append(out, job[K]{it: it, lane: l, attempt: it.d.Attempts + 1})
		if l.q.len() > 0 {
			ow.lanes.push(l)
		} else {
			l.state = idle
		}
		s.ring.pop()
		if ow.lanes.len() > 0 && ow.inflight < o.cfg.PerApp {
			s.ring.push(ow)
		} else {
			ow.inRing = false
		}
	}
	s.out = out[:0]
	o.mu.Unlock()
	// Liveness comes from the user, outside o.mu (the user may hold its own lock while it
	// calls Enqueue). The channel holds Workers jobs and at most Workers are out: no wait.
	for _, j := range out {
		j.gone = !o.st.Live(&j.it.d)
		jobs <- j
	}
	clear(out)
	return sleep
}

// landed releases a delivery's slots and puts back what they held up. trusted is the lane's
// new state (nil: unchanged). The caller holds o.mu.
func (o *Outbox[K]) landed(j job[K], trusted *bool) {
	s := &o.s
	l := j.lane
	ow, h := l.o, l.h
	s.busy--
	ow.inflight--
	l.inflight--
	h.inflight--
	if trusted != nil {
		l.trusted, l.failing = *trusted, !*trusted
	}
	if l.state == capped {
		l.state = ready
		ow.lanes.push(l)
	}
	if len(h.waiting) > 0 && h.inflight < o.cfg.PerHost {
		for _, w := range h.waiting {
			if w.state == hostWait {
				w.state = ready
				w.o.lanes.push(w)
				o.wakeOwner(w.o)
			}
		}
		clear(h.waiting)
		h.waiting = h.waiting[:0]
	}
	o.wakeOwner(ow)
	o.collect(l)
	o.signal()
}

// collect forgets a lane that holds nothing, and its owner and host once no lane refers to
// them. The caller holds o.mu.
func (o *Outbox[K]) collect(l *lane[K]) {
	if l.state != idle || l.q.len() > 0 || l.inflight > 0 || l.failing {
		return
	}
	s := &o.s
	delete(s.lanes, l.key)
	if l.o.nLanes--; l.o.nLanes == 0 { // a stale ring entry is dropped when it comes up
		delete(s.owners, l.key.owner)
	}
	if l.h.nLanes--; l.h.nLanes == 0 {
		delete(s.hosts, l.key.host)
	}
}

// timerHeap orders deliveries by due time, then enqueue order.
type timerHeap[K comparable] []*item[K]

func (h timerHeap[K]) Len() int { return len(h) }
func (h timerHeap[K]) Less(i, j int) bool {
	if !h[i].d.Due.Equal(h[j].d.Due) {
		return h[i].d.Due.Before(h[j].d.Due)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap[K]) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap[K]) Push(x any)   { *h = append(*h, x.(*item[K])) }
func (h *timerHeap[K]) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

// deque is a FIFO on a growing ring buffer.
type deque[T any] struct {
	buf     []T
	head, n int
}

func (d *deque[T]) len() int { return d.n }

func (d *deque[T]) push(v T) {
	if d.n == len(d.buf) {
		nb := make([]T, max(2*len(d.buf), 4))
		for i := range d.n {
			nb[i] = d.buf[(d.head+i)%len(d.buf)]
		}
		d.buf, d.head = nb, 0
	}
	d.buf[(d.head+d.n)%len(d.buf)] = v
	d.n++
}

func (d *deque[T]) front() T { return d.buf[d.head] }

func (d *deque[T]) pop() T {
	var zero T
	v := d.buf[d.head]
	d.buf[d.head] = zero
	d.head = (d.head + 1) % len(d.buf)
	d.n--
	if d.n == 0 {
		d.head = 0
		if len(d.buf) > 64 { // a burst is over: give the memory back
			d.buf = nil
		}
	}
	return v
}
