package platform

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgemec/edgemec/mep/internal/callback"
	"github.com/edgemec/edgemec/mep/internal/store"
)

// NotifierConfig tunes notification delivery.
type NotifierConfig struct {
	// Workers bounds concurrent deliveries (default 32).
	Workers int
	// A callback host:port whose last attempt failed (an error, a timeout or a non-2xx
	// answer) is suspect until an attempt to it succeeds, and so is, for its deliveries, the
	// app instance whose subscription it serves. PerApp bounds the deliveries in flight to
	// such an app's subscriptions (default Workers/4, at least 1), so that an app whose
	// callbacks hang holds at most that many workers and the other apps' notifications
	// keep flowing; PerHost bounds those to one suspect host (default PerApp/2, at least 1),
	// so that one dead endpoint of an app does not hold up its other endpoints either.
	// Apps and hosts without failures are bounded by Workers only.
	PerApp, PerHost int
	// Timeout bounds one delivery attempt (default 3 s).
	Timeout time.Duration
	// MaxAttempts bounds retries before a notification is dropped (default 10).
	MaxAttempts int
	// BaseBackoff is the first retry delay, doubled per attempt up to MaxBackoff (defaults 250 ms, 2 min).
	BaseBackoff, MaxBackoff time.Duration
	// Client sends the notifications (default: a callback.Client keeping up to Workers
	// connections per subscriber host, refusing the addresses in Deny).
	Client Poster
	// Deny lists the addresses the default Client never connects to (see callback.Config).
	// A notification to one of them is dropped at once.
	Deny []netip.Prefix
}

// Poster POSTs a JSON body to a callback URL and returns the response's status code.
// callback.Client is the implementation; a redirect is an answer like any other non-2xx.
type Poster interface {
	Post(ctx context.Context, url string, body []byte) (int, error)
}

// Notifier delivers queued notifications at least once: a target (one subscriber of a
// notification) is finished only after the subscriber answered 2xx, or after MaxAttempts, or
// on 404/410 (the callback is gone), and a notification leaves the outbox when all its
// targets are finished. Deliveries run on a bounded worker pool, so a slow subscriber delays
// nobody's API call; once an app's callbacks failed, at most PerApp deliveries to them are in
// flight, so an app whose callbacks hang delays only its own notifications. A target whose
// subscription was deleted (unsubscribed, or its app terminated) is dropped, not sent.
//
// The store's outbox is the durable copy; the Notifier works from an in-memory queue that is
// loaded from the store when Run starts and fed by every commit afterwards, so a delivery
// never waits for a store read.
type Notifier struct {
	cfg  NotifierConfig
	site *MEP
	st   store.Store
	log  *slog.Logger
	own  *callback.Client // the default Client, closed when Run ends

	mu      sync.Mutex
	notes   map[int64]*note            // queued notifications with unfinished targets
	queue   map[targetKey]bool         // targets waiting (due now or later), not in flight
	open    int                        // unfinished targets of all notes
	touched map[*note]bool             // notes with outcomes not yet stored (see settle)
	suspect map[string]bool            // callback hosts whose last attempt failed
	sick    map[string]map[string]bool // per app, its suspect hosts
	flying  map[string]int             // capped deliveries in flight, per subscribing app
	flyHost map[string]int             // deliveries in flight per suspect host
	blocked int                        // due targets the last dispatch held back for PerApp/PerHost
	wake    chan struct{}

	delivered, failed, dropped prometheus.Counter
	latency                    prometheus.Histogram
	depth                      prometheus.Gauge
}

// note is a queued notification in memory. The delivery state of its targets is guarded by
// Notifier.mu; the rest is immutable.
type note struct {
	store.Notification
	open  int          // targets not done
	dirty map[int]bool // targets whose state changed since it was last stored
}

type targetKey struct {
	id int64
	i  int
}

// NewNotifier returns a Notifier for the site's outbox, registering its metrics on reg.
func NewNotifier(cfg NotifierConfig, s *MEP, reg prometheus.Registerer, log *slog.Logger) *Notifier {
	if cfg.Workers == 0 {
		cfg.Workers = 32
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.PerApp == 0 {
		cfg.PerApp = max(cfg.Workers/4, 1)
	}
	if cfg.PerHost == 0 {
		cfg.PerHost = max(cfg.PerApp/2, 1)
	}
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 2 * time.Minute
	}
	var own *callback.Client
	if cfg.Client == nil {
		own = callback.New(callback.Config{MaxIdlePerHost: cfg.Workers, Deny: cfg.Deny})
		cfg.Client = own
	}
	n := &Notifier{cfg: cfg, site: s, st: s.st, log: log, own: own,
		notes: map[int64]*note{}, queue: map[targetKey]bool{}, touched: map[*note]bool{}, flying: map[string]int{},
		flyHost: map[string]int{}, suspect: map[string]bool{}, sick: map[string]map[string]bool{},
		wake:      make(chan struct{}, 1),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mep", Name: "notifications_delivered_total", Help: "Notifications acknowledged by subscribers."}),
		failed:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mep", Name: "notification_attempts_failed_total", Help: "Delivery attempts that failed and will be retried or dropped."}),
		dropped:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mep", Name: "notifications_dropped_total", Help: "Notifications given up on (attempts exhausted or callback gone)."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "mep", Name: "notification_latency_seconds",
			Help: "Time from the triggering change to the subscriber's acknowledgement.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "mep", Name: "notification_queue_depth", Help: "Notification deliveries (one per subscriber) not finished yet."}),
	}
	reg.MustRegister(n.delivered, n.failed, n.dropped, n.latency, n.depth)
	return n
}

// push adds committed (or loaded) notifications to the queue and wakes the dispatcher. A
// notification already queued is kept as it is.
func (n *Notifier) push(ns []store.Notification) {
	n.mu.Lock()
	for _, x := range ns {
		if n.notes[x.ID] != nil {
			continue
		}
		e := &note{Notification: x, dirty: map[int]bool{}}
		n.notes[x.ID] = e
		for i, t := range x.Targets {
			if !t.Done {
				e.open++
				n.queue[targetKey{x.ID, i}] = true
			}
		}
		n.open += e.open
		if e.open == 0 { // nothing left to deliver: removed at the next settle
			n.touched[e] = true
		}
	}
	n.depth.Set(float64(n.open))
	n.mu.Unlock()
	n.signal()
}

func (n *Notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// job is one delivery attempt to target i of a notification.
type job struct {
	n       *note
	i       int
	attempt int    // 1-based
	app     string // the app instance that owns the target's subscription
	host    string // the callback's host:port
	gone    bool   // the subscription no longer exists: finish the target unsent
	capped  bool   // counted in flying (its app or host was suspect when admitted)
	hostCap bool   // counted in flyHost (its host was suspect when admitted)
}

type outcome struct {
	job
	ok       bool
	retry    bool
	deferred bool // not attempted: its suspect host or app had no free slot (see admit)
}

// Run delivers until ctx ends. In-flight deliveries finish (bounded by Timeout) before it
// returns, and their outcomes are recorded.
func (n *Notifier) Run(ctx context.Context) error {
	// Hook into commits first, then load what is already queued: a notification committed in
	// between is in both, and push/load keep one copy by id.
	n.site.mu.Lock()
	n.site.outbox = n.push
	n.site.mu.Unlock()
	defer func() {
		n.site.mu.Lock()
		n.site.outbox = nil
		n.site.mu.Unlock()
	}()
	pending, err := n.st.Pending(ctx, 1<<20)
	if err != nil {
		return fmt.Errorf("load outbox: %w", err)
	}
	n.push(pending)
	if len(pending) > 0 {
		n.log.InfoContext(ctx, "resuming queued notifications", "count", len(pending))
	}

	jobs := make(chan job, n.cfg.Workers)
	results := make(chan outcome, n.cfg.Workers)
	var wg sync.WaitGroup
	for range n.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				if !n.admit(&job) {
					results <- outcome{job: job, deferred: true}
					continue
				}
				results <- n.deliver(job)
			}
		}()
	}
	settled := make(chan struct{})
	go func() { n.settle(results); close(settled) }()
	defer func() {
		close(jobs)
		wg.Wait()
		close(results)
		<-settled
		if n.own != nil {
			n.own.Close()
		}
	}()
	for {
		next, ok := n.dispatch(ctx, jobs)
		if !ok {
			return nil
		}
		timer := time.NewTimer(next)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-n.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// dispatch hands every due target to the workers, oldest notification first, and returns
// how long to sleep before the next one is due (at most 1 s). A target whose app already
// has PerApp deliveries to suspect hosts in flight, or whose suspect host PerHost, stays
// queued; the end of one of them wakes the dispatcher.
// ok is false when ctx ended.
func (n *Notifier) dispatch(ctx context.Context, jobs chan<- job) (time.Duration, bool) {
	now := time.Now()
	sleep := time.Second
	n.mu.Lock()
	var due []job
	for k := range n.queue {
		e := n.notes[k.id]
		t := &e.Targets[k.i]
		if d := t.NextAt.Sub(now); d > 0 {
			sleep = min(sleep, d)
			continue
		}
		due = append(due, job{n: e, i: k.i, attempt: t.Attempts + 1})
		delete(n.queue, k)
	}
	n.mu.Unlock()
	slices.SortFunc(due, func(a, b job) int { return cmp.Or(cmp.Compare(a.n.ID, b.n.ID), cmp.Compare(a.i, b.i)) })
	// Owners come from the site, outside n.mu (a commit holds the site's lock when it
	// pushes to the Notifier).
	for i := range due {
		t := &due[i].n.Targets[due[i].i]
		app, ok := n.site.subscriptionOwner(t.SubscriptionID)
		due[i].app, due[i].host, due[i].gone = app, hostOf(t.URL), !ok
	}
	n.mu.Lock()
	send := due[:0]
	n.blocked = 0
	for _, j := range due {
		if !j.gone && !n.free(j) {
			n.queue[targetKey{j.n.ID, j.i}] = true
			n.blocked++
			continue
		}
		send = append(send, j)
	}
	n.mu.Unlock()
	due = send
	for i, j := range due {
		select {
		case jobs <- j:
		case <-ctx.Done():
			n.mu.Lock() // not handed out: back to the queue (the store still has them)
			for _, j := range due[i:] {
				n.queue[targetKey{j.n.ID, j.i}] = true
			}
			n.mu.Unlock()
			return 0, false
		}
	}
	return sleep, true
}

func (n *Notifier) deliver(j job) outcome {
	t := &j.n.Targets[j.i] // SubscriptionID, URL and Link never change
	if j.gone {
		return outcome{job: j}
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	defer cancel()
	code, err := n.cfg.Client.Post(ctx, t.URL, j.n.BodyFor(j.i))
	switch {
	case errors.Is(err, callback.ErrDenied):
		n.log.Warn("notification callback address is denied", "subscription_id", t.SubscriptionID, "error", err)
		return outcome{job: j}
	case err != nil:
		n.log.Debug("notification attempt failed", "subscription_id", t.SubscriptionID, "attempt", j.attempt, "error", err)
		return outcome{job: j, retry: true}
	case code >= 200 && code < 300:
		return outcome{job: j, ok: true}
	case code == http.StatusNotFound || code == http.StatusGone:
		n.log.Warn("notification callback is gone", "subscription_id", t.SubscriptionID, "status", code)
		return outcome{job: j}
	}
	n.log.Debug("notification attempt rejected", "subscription_id", t.SubscriptionID, "status", code)
	return outcome{job: j, retry: true}
}

// settle records outcomes in memory at once and in the store in batches: one transaction per
// 250 ms (or 1024 outcomes). A notification whose targets are all finished is deleted; the
// state of single targets is stored only for notifications with a target waiting for a
// retry — while the others are merely in flight (bounded by Timeout) it waits for the
// notification to finish, which is then one DELETE. Recording late is safe: at worst a
// crash re-sends a delivered notification, which at-least-once delivery allows, and it keeps
// the store free for the commits that produce notifications.
func (n *Notifier) settle(results <-chan outcome) {
	var retry []targetKey
	pending := 0
	flush := func() {
		finished, states := n.collect()
		if len(finished) > 0 || len(states) > 0 {
			if err := n.st.Settle(context.Background(), finished, states); err != nil {
				n.log.Error("settle outbox", "error", err)
			}
		}
		if len(retry) > 0 {
			n.mu.Lock()
			for _, k := range retry {
				n.queue[k] = true
			}
			n.mu.Unlock()
			n.signal()
		}
		retry, pending = retry[:0], 0
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case o, ok := <-results:
			if !ok {
				flush()
				return
			}
			if n.record(o) {
				retry = append(retry, targetKey{o.n.ID, o.i})
			}
			if pending++; pending >= 1024 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// record applies an outcome to the target's state and reports whether it is to be retried.
func (n *Notifier) record(o outcome) bool {
	e := o.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if o.deferred { // back to the queue, unattempted; dispatch holds it until a slot frees
		n.queue[targetKey{e.ID, o.i}] = true
		n.signal()
		return false
	}
	t := &e.Targets[o.i]
	e.dirty[o.i] = true
	n.touched[e] = true
	n.landed(o.job)
	if !o.gone {
		if o.ok {
			delete(n.suspect, o.host)
			if delete(n.sick[o.app], o.host); len(n.sick[o.app]) == 0 {
				delete(n.sick, o.app)
			}
		} else if o.retry {
			n.suspect[o.host] = true
			if n.sick[o.app] == nil {
				n.sick[o.app] = map[string]bool{}
			}
			n.sick[o.app][o.host] = true
		}
		if n.blocked > 0 {
			n.signal() // targets may wait for this app's or host's slot
		}
	}
	switch {
	case o.gone:
		n.log.Debug("notification not sent: the subscription was deleted", "subscription_id", t.SubscriptionID)
	case o.ok:
		n.delivered.Inc()
		n.latency.Observe(time.Since(e.CreatedAt).Seconds())
	case o.retry && t.Attempts+1 < n.cfg.MaxAttempts:
		n.failed.Inc()
		t.Attempts++
		t.NextAt = time.Now().Add(n.backoff(t.Attempts))
		return true
	default:
		n.failed.Inc()
		n.dropped.Inc()
		n.log.Warn("notification dropped", "subscription_id", t.SubscriptionID, "attempts", t.Attempts+1,
			"callback", redact(t.URL))
	}
	t.Done = true
	e.open--
	n.open--
	n.depth.Set(float64(n.open))
	return false
}

// collect returns the notifications that are finished (and forgets them) and the target
// states to store (see settle).
func (n *Notifier) collect() (finished []int64, states []store.TargetState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for e := range n.touched {
		if e.open == 0 {
			finished = append(finished, e.ID)
			delete(n.notes, e.ID)
			delete(n.touched, e)
			continue
		}
		if !slices.ContainsFunc(e.Targets, func(t store.Target) bool { return t.Attempts > 0 && !t.Done }) {
			continue // only in flight: wait for the notification to finish
		}
		for i := range e.dirty {
			t := &e.Targets[i]
			states = append(states, store.TargetState{ID: e.ID, Target: i, Attempts: t.Attempts, NextAt: t.NextAt, Done: t.Done})
		}
		clear(e.dirty)
		delete(n.touched, e)
	}
	return finished, states
}

// free reports whether a delivery of j may start now. An app with a suspect host (its
// other endpoints may hang the same way) has at most PerApp deliveries in flight, and a
// suspect host at most PerHost; the rest is bounded by Workers only. The caller holds n.mu.
func (n *Notifier) free(j job) bool {
	appSick, hostSick := len(n.sick[j.app]) > 0, n.suspect[j.host]
	switch {
	case !appSick && !hostSick:
		return true
	case n.flying[j.app] >= n.cfg.PerApp:
		return false
	default:
		return !hostSick || n.flyHost[j.host] < n.cfg.PerHost
	}
}

// admit takes the slots a delivery of j needs (see free), or reports that it must wait: a
// host can turn suspect between dispatch and delivery.
func (n *Notifier) admit(j *job) bool {
	if j.gone {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.free(*j) {
		return false
	}
	if len(n.sick[j.app]) > 0 || n.suspect[j.host] {
		n.flying[j.app]++
		j.capped = true
	}
	if n.suspect[j.host] {
		n.flyHost[j.host]++
		j.hostCap = true
	}
	return true
}

// landed releases a delivery's app and host slots, if it held any. The caller holds n.mu.
func (n *Notifier) landed(j job) {
	if j.capped {
		if n.flying[j.app]--; n.flying[j.app] <= 0 {
			delete(n.flying, j.app)
		}
	}
	if j.hostCap {
		if n.flyHost[j.host]--; n.flyHost[j.host] <= 0 {
			delete(n.flyHost, j.host)
		}
	}
}

// hostOf returns the host:port part of a callback URL (the URL was validated on subscribe).
func hostOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	return u
}

func (n *Notifier) backoff(attempt int) time.Duration {
	d := n.cfg.BaseBackoff << min(attempt-1, 20)
	return min(d, n.cfg.MaxBackoff)
}

// redact keeps scheme and host of a callback URL for logs; paths may carry tokens.
func redact(u string) string {
	for i := len("https://"); i < len(u); i++ {
		if u[i] == '/' {
			return u[:i] + "/…"
		}
	}
	return fmt.Sprint(u)
}
