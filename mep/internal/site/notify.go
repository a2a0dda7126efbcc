package site

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgemec/edgemec/mep/internal/store"
)

// NotifierConfig tunes notification delivery.
type NotifierConfig struct {
	// Workers bounds concurrent deliveries (default 32).
	Workers int
	// Timeout bounds one delivery attempt (default 3 s).
	Timeout time.Duration
	// MaxAttempts bounds retries before a notification is dropped (default 10).
	MaxAttempts int
	// BaseBackoff is the first retry delay, doubled per attempt up to MaxBackoff (defaults 250 ms, 2 min).
	BaseBackoff, MaxBackoff time.Duration
	// Client sends the notifications (default: an HTTP client with Timeout).
	Client *http.Client
}

// Notifier delivers queued notifications at least once: an outbox entry is removed only
// after the subscriber answered 2xx, or after MaxAttempts, or on 404/410 (the callback is
// gone). Deliveries run on a bounded worker pool, so a slow subscriber delays nobody's API
// call and at most Workers deliveries.
//
// The store's outbox is the durable copy; the Notifier works from an in-memory queue that is
// loaded from the store when Run starts and fed by every commit afterwards, so a delivery
// never waits for a store read.
type Notifier struct {
	cfg  NotifierConfig
	site *Site
	st   store.Store
	log  *slog.Logger

	mu       sync.Mutex
	queue    map[int64]store.Notification // waiting (due now or later), not in flight
	inflight map[int64]bool
	wake     chan struct{}

	delivered, failed, dropped prometheus.Counter
	latency                    prometheus.Histogram
	depth                      prometheus.Gauge
}

// NewNotifier returns a Notifier for the site's outbox, registering its metrics on reg.
func NewNotifier(cfg NotifierConfig, s *Site, reg prometheus.Registerer, log *slog.Logger) *Notifier {
	if cfg.Workers == 0 {
		cfg.Workers = 32
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 2 * time.Minute
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{
			MaxIdleConns: 4 * cfg.Workers, MaxIdleConnsPerHost: cfg.Workers, IdleConnTimeout: 90 * time.Second,
			DisableCompression: true, // notifications are small; skip Accept-Encoding negotiation
		}}
	}
	n := &Notifier{cfg: cfg, site: s, st: s.st, log: log, queue: map[int64]store.Notification{}, inflight: map[int64]bool{},
		wake:      make(chan struct{}, 1),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mep", Name: "notifications_delivered_total", Help: "Notifications acknowledged by subscribers."}),
		failed:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mep", Name: "notification_attempts_failed_total", Help: "Delivery attempts that failed and will be retried or dropped."}),
		dropped:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mep", Name: "notifications_dropped_total", Help: "Notifications given up on (attempts exhausted or callback gone)."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "mep", Name: "notification_latency_seconds",
			Help: "Time from the triggering change to the subscriber's acknowledgement.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "mep", Name: "notification_queue_depth", Help: "Notifications waiting for delivery."}),
	}
	reg.MustRegister(n.delivered, n.failed, n.dropped, n.latency, n.depth)
	return n
}

// push adds committed notifications to the queue and wakes the dispatcher.
func (n *Notifier) push(ns []store.Notification) {
	n.mu.Lock()
	for _, x := range ns {
		if !n.inflight[x.ID] {
			n.queue[x.ID] = x
		}
	}
	n.depth.Set(float64(len(n.queue) + len(n.inflight)))
	n.mu.Unlock()
	n.signal()
}

func (n *Notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

type outcome struct {
	n     store.Notification
	ok    bool
	retry bool
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

	jobs := make(chan store.Notification, n.cfg.Workers)
	results := make(chan outcome, n.cfg.Workers)
	var wg sync.WaitGroup
	for range n.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
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

// dispatch hands every due notification to the workers, oldest first, and returns how long
// to sleep before the next one is due (at most 1 s). ok is false when ctx ended.
func (n *Notifier) dispatch(ctx context.Context, jobs chan<- store.Notification) (time.Duration, bool) {
	now := time.Now()
	sleep := time.Second
	n.mu.Lock()
	var due []store.Notification
	for id, x := range n.queue {
		if d := x.NextAt.Sub(now); d > 0 {
			sleep = min(sleep, d)
			continue
		}
		due = append(due, x)
		delete(n.queue, id)
		n.inflight[id] = true
	}
	n.mu.Unlock()
	slices.SortFunc(due, func(a, b store.Notification) int { return cmp.Compare(a.ID, b.ID) })
	for i, x := range due {
		select {
		case jobs <- x:
		case <-ctx.Done():
			n.mu.Lock() // not handed out: back to the queue (the store still has them)
			for _, y := range due[i:] {
				delete(n.inflight, y.ID)
				n.queue[y.ID] = y
			}
			n.mu.Unlock()
			return 0, false
		}
	}
	return sleep, true
}

func (n *Notifier) deliver(p store.Notification) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(p.Body))
	if err != nil {
		return outcome{n: p}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		n.log.Debug("notification attempt failed", "subscription_id", p.SubscriptionID, "attempt", p.Attempts+1, "error", err)
		return outcome{n: p, retry: true}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return outcome{n: p, ok: true}
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		n.log.Warn("notification callback is gone", "subscription_id", p.SubscriptionID, "status", resp.StatusCode)
		return outcome{n: p}
	}
	n.log.Debug("notification attempt rejected", "subscription_id", p.SubscriptionID, "status", resp.StatusCode)
	return outcome{n: p, retry: true}
}

// settle records outcomes in batches: one store transaction per 250 ms (or 1024 outcomes).
// Recording late is safe — at worst a crash re-sends a delivered notification, which
// at-least-once delivery allows — and it keeps the store free for the commits that
// produce notifications.
func (n *Notifier) settle(results <-chan outcome) {
	var done []int64
	var retry []store.Notification
	flush := func() {
		if len(done) == 0 && len(retry) == 0 {
			return
		}
		if err := n.st.Settle(context.Background(), done, retry); err != nil {
			n.log.Error("settle outbox", "error", err)
		}
		n.mu.Lock()
		for _, id := range done {
			delete(n.inflight, id)
		}
		for _, r := range retry {
			delete(n.inflight, r.ID)
			n.queue[r.ID] = r
		}
		n.depth.Set(float64(len(n.queue) + len(n.inflight)))
		n.mu.Unlock()
		if len(retry) > 0 {
			n.signal()
		}
		done, retry = done[:0], retry[:0]
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
			n.record(o, &done, &retry)
			if len(done)+len(retry) >= 1024 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

func (n *Notifier) record(o outcome, done *[]int64, retry *[]store.Notification) {
	switch {
	case o.ok:
		n.delivered.Inc()
		n.latency.Observe(time.Since(o.n.CreatedAt).Seconds())
		*done = append(*done, o.n.ID)
	case o.retry && o.n.Attempts+1 < n.cfg.MaxAttempts:
		n.failed.Inc()
		o.n.Attempts++
		o.n.NextAt = time.Now().Add(n.backoff(o.n.Attempts))
		*retry = append(*retry, o.n)
	default:
		n.failed.Inc()
		n.dropped.Inc()
		n.log.Warn("notification dropped", "subscription_id", o.n.SubscriptionID, "attempts", o.n.Attempts+1,
			"callback", redact(o.n.URL))
		*done = append(*done, o.n.ID)
	}
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
