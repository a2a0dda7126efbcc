package outbox

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// dispatch hands every due delivery to the workers, oldest first, and returns how long to
// sleep before the next one is due (at most 1 s). A delivery whose owner already has PerApp
// deliveries to suspect hosts in flight, or whose suspect host PerHost, stays queued; the
// end of one of them wakes the dispatcher. ok is false when ctx ended.
func (o *Outbox[K]) dispatch(ctx context.Context, jobs chan<- job[K]) (time.Duration, bool) {
	now := time.Now()
	sleep := time.Second
	o.mu.Lock()
	var due []job[K]
	for it := range o.queue {
		if d := it.d.Due.Sub(now); d > 0 {
			sleep = min(sleep, d)
			continue
		}
		due = append(due, job[K]{it: it, attempt: it.d.Attempts + 1})
		delete(o.queue, it)
	}
	o.mu.Unlock()
	slices.SortFunc(due, func(a, b job[K]) int { return cmp.Compare(a.it.seq, b.it.seq) })
	// Liveness comes from the user, outside o.mu (the user may hold its own lock while it
	// calls Enqueue).
	for i := range due {
		due[i].gone = !o.st.Live(&due[i].it.d)
	}
	o.mu.Lock()
	send := due[:0]
	o.blocked = 0
	for _, j := range due {
		if !j.gone && !o.free(j) {
			o.queue[j.it] = true
			o.blocked++
			continue
		}
		send = append(send, j)
	}
	o.mu.Unlock()
	due = send
	for i, j := range due {
		select {
		case jobs <- j:
		case <-ctx.Done():
			o.mu.Lock() // not handed out: back to the queue (the store still has them)
			for _, j := range due[i:] {
				o.queue[j.it] = true
			}
			o.mu.Unlock()
			return 0, false
		}
	}
	return sleep, true
}

// free reports whether a delivery of j may start now. An owner with a suspect host (its
// other endpoints may hang the same way) has at most PerApp deliveries in flight, and a
// suspect host at most PerHost; the rest is bounded by Workers only. The caller holds o.mu.
func (o *Outbox[K]) free(j job[K]) bool {
	owner, host := j.it.d.Owner, j.it.host
	appSick, hostSick := len(o.sick[owner]) > 0, o.suspect[host]
	switch {
	case !appSick && !hostSick:
		return true
	case o.flying[owner] >= o.cfg.PerApp:
		return false
	default:
		return !hostSick || o.flyHost[host] < o.cfg.PerHost
	}
}

// admit takes the slots a delivery of j needs (see free), or reports that it must wait: a
// host can turn suspect between dispatch and delivery.
func (o *Outbox[K]) admit(j *job[K]) bool {
	if j.gone {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.free(*j) {
		return false
	}
	owner, host := j.it.d.Owner, j.it.host
	if len(o.sick[owner]) > 0 || o.suspect[host] {
		o.flying[owner]++
		j.capped = true
	}
	if o.suspect[host] {
		o.flyHost[host]++
		j.hostCap = true
	}
	return true
}

// landed releases a delivery's owner and host slots, if it held any. The caller holds o.mu.
func (o *Outbox[K]) landed(j job[K]) {
	owner, host := j.it.d.Owner, j.it.host
	if j.capped {
		if o.flying[owner]--; o.flying[owner] <= 0 {
			delete(o.flying, owner)
		}
	}
	if j.hostCap {
		if o.flyHost[host]--; o.flyHost[host] <= 0 {
			delete(o.flyHost, host)
		}
	}
}
