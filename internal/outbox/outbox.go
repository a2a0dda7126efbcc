package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgemec/edgemec/internal/callback"
	"github.com/edgemec/edgemec/internal/obs/logkeys"
)

// Delivery is one notification body to be POSTed to one callback.
type Delivery[K comparable] struct {
	// ID identifies the delivery to the user's store; it is opaque to the engine.
	ID K
	// Owner is the fairness key: the app instance (or subscriber) whose subscription the
	// delivery serves.
	Owner string
	// URL is the callback.
	URL string
	// Body returns the bytes to POST (application/json). It is called once per attempt,
	// outside any lock, so that a body shared by many deliveries (one change fanned out to
	// its subscribers) can be kept once and completed per delivery.
	Body func() []byte
	// Created is when the change that queued the delivery committed (for the latency metric).
	Created time.Time
	// Attempts counts the failed attempts so far; the next one is due at Due (zero: at once).
	Attempts int
	Due      time.Time
}

// Result is what became of a delivery attempt.
type Result int

// Results of an attempt.
const (
	// Delivered: the subscriber answered 2xx. The delivery is finished.
	Delivered Result = iota + 1
	// Dropped: given up on (see Reason). The delivery is finished.
	Dropped
	// Retry: the attempt failed; Outcome.Attempts and Outcome.Due schedule the next one.
	Retry
)

// Reason says why a delivery was dropped.
type Reason int

// Reasons for dropping a delivery.
const (
	// Exhausted: MaxAttempts attempts failed.
	Exhausted Reason = iota + 1
	// Gone: the callback answered 404 or 410.
	Gone
	// Denied: the callback's address is in Config.Deny.
	Denied
	// Deleted: Store.Live reported the subscription deleted; nothing was sent.
	Deleted
)

// String returns the reason in words, for logs.
func (r Reason) String() string {
	switch r {
	case Exhausted:
		return "attempts exhausted"
	case Gone:
		return "callback gone"
	case Denied:
		return "callback address denied"
	case Deleted:
		return "subscription deleted"
	}
	return ""
}

// Outcome is the result of one attempt (or of the decision not to make one).
type Outcome[K comparable] struct {
	ID     K
	Result Result
	// Reason is set for Dropped.
	Reason Reason
	// Attempts counts the failed attempts, this one included; for Retry the next attempt is
	// due at Due.
	Attempts int
	Due      time.Time
	// Status is the subscriber's answer (0: none), Err the transport error, if any.
	Status int
	Err    error
}

// Store is the user's durable side of the outbox. See the package documentation for what
// its methods must guarantee.
type Store[K comparable] interface {
	// Pending returns the unfinished deliveries this process is to deliver.
	Pending(ctx context.Context) ([]Delivery[K], error)
	// Settle records outcomes durably; it is idempotent.
	Settle(ctx context.Context, outcomes []Outcome[K]) error
	// Live reports whether the subscription a delivery serves still exists. It must be cheap
	// and must not block.
	Live(d *Delivery[K]) bool
}

// Poster POSTs a JSON body to a callback URL and returns the response's status code.
// callback.Client is the implementation; a redirect is an answer like any other non-2xx.
type Poster interface {
	Post(ctx context.Context, url string, body []byte) (int, error)
}

// Config tunes an Outbox. Zero values take the defaults.
type Config struct {
	// Workers bounds concurrent deliveries (default 32).
	Workers int
	// PerApp bounds the deliveries in flight per owner (default Workers/4, at least 1): an
	// app whose callbacks are slow or hang holds at most that many workers, and the other
	// apps' notifications keep flowing.
	PerApp int
	// PerHost bounds the deliveries in flight per callback host:port over all owners
	// (default Workers/2, at least PerApp+1 when Workers allows): a dead ingress shared by
	// several apps does not hold all workers, and one app alone does not fill a host that
	// other apps' callbacks share.
	PerHost int
	// A lane (one owner's deliveries to one host:port) has at most PerSuspect deliveries in
	// flight (default PerApp/2, at least 1) until it is trusted: after an attempt answered
	// 2xx within SlowAfter (default Timeout/4). An attempt that failed (an error, a timeout,
	// an answer other than 2xx) or took longer takes the trust away. So one dead or slow
	// endpoint of an app, new or known, does not hold up its other endpoints.
	PerSuspect int
	SlowAfter  time.Duration
	// Timeout bounds one delivery attempt (default 3 s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts before a delivery is dropped (default 10).
	MaxAttempts int
	// BaseBackoff is the first retry delay, doubled per attempt up to MaxBackoff (defaults
	// 250 ms, 2 min).
	BaseBackoff, MaxBackoff time.Duration
	// SettleEvery and SettleBatch bound how long and how many outcomes wait before they are
	// passed to Store.Settle (defaults 250 ms, 1024).
	SettleEvery time.Duration
	SettleBatch int
	// ReloadEvery makes Run call Reload periodically, for stores shared by several
	// processes (default 0: only at start).
	ReloadEvery time.Duration
	// Client sends the notifications (default: a callback.Client keeping up to Workers
	// connections per host, refusing the addresses in Deny, sending UserAgent).
	Client Poster
	// Deny lists the addresses the default Client never connects to (see callback.Config).
	// A delivery to one of them is dropped at once.
	Deny []netip.Prefix
	// UserAgent is the default Client's User-Agent (default "edgemec").
	UserAgent string
	// Namespace prefixes the metric names (e.g. "mep").
	Namespace string
}

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = 32
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.PerApp <= 0 {
		c.PerApp = max(c.Workers/4, 1)
	}
	if c.PerHost <= 0 {
		c.PerHost = max(c.Workers/2, min(c.PerApp+1, c.Workers), 1)
	}
	if c.PerSuspect <= 0 {
		c.PerSuspect = max(c.PerApp/2, 1)
	}
	if c.SlowAfter <= 0 {
		c.SlowAfter = c.Timeout / 4
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 2 * time.Minute
	}
	if c.SettleEvery <= 0 {
		c.SettleEvery = 250 * time.Millisecond
	}
	if c.SettleBatch <= 0 {
		c.SettleBatch = 1024
	}
}

// Outbox is the delivery engine. Enqueue and Reload may be called at any time, also before
// Run; deliveries start when Run does.
type Outbox[K comparable] struct {
	cfg Config
	st  Store[K]
	log *slog.Logger
	own *callback.Client // the default Client, closed when Run ends

	mu    sync.Mutex
	items map[K]*item[K] // known deliveries: queued, in flight, or finished but not yet settled
	s     sched[K]       // the deliveries waiting, not in flight (see dispatch.go)
	seq   uint64         // enqueue order
	open  int            // unfinished deliveries
	// reloading counts Reloads in progress; while there are any, recent holds the ids settled
	// meanwhile, which a Reload's (older) Pending result must not bring back.
	reloading int
	recent    map[K]bool
	wake      chan struct{}

	delivered, failed, dropped prometheus.Counter
	latency                    prometheus.Histogram
	depth                      prometheus.Gauge
}

// item is a delivery known to the engine. d.Attempts and d.Due are guarded by Outbox.mu;
// the rest is immutable.
type item[K comparable] struct {
	d    Delivery[K]
	host string // the callback's host:port
	seq  uint64
	done bool // finished; forgotten once settled
}

// New returns an Outbox over st, registering its metrics on reg.
func New[K comparable](cfg Config, st Store[K], reg prometheus.Registerer, log *slog.Logger) *Outbox[K] {
	cfg.setDefaults()
	var own *callback.Client
	if cfg.Client == nil {
		own = callback.New(callback.Config{MaxIdlePerHost: cfg.Workers, Deny: cfg.Deny, UserAgent: cfg.UserAgent})
		cfg.Client = own
	}
	ns := cfg.Namespace
	o := &Outbox[K]{cfg: cfg, st: st, log: log, own: own,
		items: map[K]*item[K]{}, recent: map[K]bool{}, wake: make(chan struct{}, 1),
		s:         sched[K]{owners: map[string]*owner[K]{}, hosts: map[string]*host[K]{}, lanes: map[laneKey]*lane[K]{}},
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "notifications_delivered_total", Help: "Notifications acknowledged by subscribers."}),
		failed:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "notification_attempts_failed_total", Help: "Delivery attempts that failed and will be retried or dropped."}),
		dropped:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "notifications_dropped_total", Help: "Notifications given up on (attempts exhausted or callback gone)."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "notification_latency_seconds",
			Help: "Time from the triggering change to the subscriber's acknowledgement.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "notification_queue_depth", Help: "Notification deliveries (one per subscriber) not finished yet."}),
	}
	reg.MustRegister(o.delivered, o.failed, o.dropped, o.latency, o.depth)
	return o
}

// Enqueue queues deliveries; the user calls it once the rows are durable. A delivery whose
// id the engine already knows is ignored. It does no I/O.
func (o *Outbox[K]) Enqueue(ds ...Delivery[K]) {
	o.add(ds, nil)
}

// add queues the deliveries not known yet, skipping the ids in skip.
func (o *Outbox[K]) add(ds []Delivery[K], skip map[K]bool) int {
	n := 0
	now := time.Now()
	o.mu.Lock()
	for _, d := range ds {
		if o.items[d.ID] != nil || skip[d.ID] {
			continue
		}
		o.seq++
		it := &item[K]{d: d, host: hostOf(d.URL), seq: o.seq}
		o.items[d.ID] = it
		o.schedule(it, now)
		o.open++
		n++
	}
	o.depth.Set(float64(o.open))
	o.mu.Unlock()
	if n > 0 {
		o.signal()
	}
	return n
}

// Reload queues the store's pending deliveries that the engine does not know yet: the
// deliveries of a store shared with other processes that this one has newly claimed (a dead
// replica's rows). Run calls it at start and every Config.ReloadEvery.
func (o *Outbox[K]) Reload(ctx context.Context) (int, error) {
	o.mu.Lock()
	o.reloading++
	o.mu.Unlock()
	ds, err := o.st.Pending(ctx)
	o.mu.Lock()
	skip := o.recent
	if o.reloading--; o.reloading == 0 {
		o.recent = map[K]bool{}
	} else {
		skip = cloneSet(skip)
	}
	o.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("load pending deliveries: %w", err)
	}
	return o.add(ds, skip), nil
}

func cloneSet[K comparable](m map[K]bool) map[K]bool {
	c := make(map[K]bool, len(m))
	for k := range m {
		c[k] = true
	}
	return c
}

func (o *Outbox[K]) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// job is one delivery attempt.
type job[K comparable] struct {
	it      *item[K]
	lane    *lane[K] // whose slots it holds
	attempt int      // 1-based
	gone    bool     // the subscription no longer exists: finish the delivery unsent
}

type result[K comparable] struct {
	job[K]
	out  Outcome[K]
	took time.Duration
}

// Run loads the store's pending deliveries and delivers until ctx ends. In-flight
// deliveries finish (bounded by Timeout) before it returns, and their outcomes are settled.
func (o *Outbox[K]) Run(ctx context.Context) error {
	n, err := o.Reload(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		o.log.InfoContext(ctx, "resuming queued notifications", logkeys.Count, n)
	}
	jobs := make(chan job[K], o.cfg.Workers)
	results := make(chan result[K], o.cfg.Workers)
	var wg sync.WaitGroup
	for range o.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				results <- o.deliver(j)
			}
		}()
	}
	settled := make(chan struct{})
	go func() { o.settle(results); close(settled) }()
	defer func() {
		close(jobs)
		wg.Wait()
		close(results)
		<-settled
		if o.own != nil {
			o.own.Close()
		}
	}()
	if o.cfg.ReloadEvery > 0 {
		reloaded := make(chan struct{})
		defer func() { <-reloaded }() // before the workers stop: a Reload may still add work
		go func() { o.reloadEvery(ctx); close(reloaded) }()
	}
	for {
		timer := time.NewTimer(o.dispatch(jobs))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-o.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// reloadEvery calls Reload every Config.ReloadEvery until ctx ends.
func (o *Outbox[K]) reloadEvery(ctx context.Context) {
	t := time.NewTicker(o.cfg.ReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := o.Reload(ctx); err != nil && ctx.Err() == nil {
				o.log.ErrorContext(ctx, "reload pending notifications", logkeys.Error, err)
			}
		}
	}
}

func (o *Outbox[K]) deliver(j job[K]) result[K] {
	d := &j.it.d // ID, URL and Body never change
	r := result[K]{job: j, out: Outcome[K]{ID: d.ID, Result: Dropped, Attempts: j.attempt}}
	if j.gone {
		r.out.Reason, r.out.Attempts = Deleted, j.attempt-1
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	code, err := o.cfg.Client.Post(ctx, d.URL, d.Body())
	r.took = time.Since(t0)
	r.out.Status, r.out.Err = code, err
	switch {
	case errors.Is(err, callback.ErrDenied):
		r.out.Reason = Denied
	case err != nil:
		o.log.Debug("notification attempt failed", logkeys.Callback, Redact(d.URL), logkeys.Attempt, j.attempt, logkeys.Error, err)
		r.out.Result = Retry
	case code >= 200 && code < 300:
		r.out.Result, r.out.Attempts = Delivered, j.attempt-1
	case code == http.StatusNotFound || code == http.StatusGone:
		r.out.Reason = Gone
	default:
		o.log.Debug("notification attempt rejected", logkeys.Callback, Redact(d.URL), logkeys.Attempt, j.attempt, logkeys.Status, code)
		r.out.Result = Retry
	}
	return r
}

// settle records outcomes in memory at once and passes them to the store in batches (see
// the package documentation). Retries are queued again once their outcome is settled.
func (o *Outbox[K]) settle(results <-chan result[K]) {
	var batch []Outcome[K]
	var retry []*item[K]
	flush := func() {
		if len(batch) > 0 {
			if err := o.st.Settle(context.Background(), batch); err != nil {
				o.log.Error("settle notification outcomes", logkeys.Error, err)
			}
			o.forget(batch)
		}
		if len(retry) > 0 {
			now := time.Now()
			o.mu.Lock()
			for _, it := range retry {
				o.schedule(it, now)
			}
			o.mu.Unlock()
			o.signal()
		}
		batch, retry = batch[:0], retry[:0]
	}
	tick := time.NewTicker(o.cfg.SettleEvery)
	defer tick.Stop()
	for {
		select {
		case r, ok := <-results:
			if !ok {
				flush()
				return
			}
			o.record(&r)
			batch = append(batch, r.out)
			if r.out.Result == Retry {
				retry = append(retry, r.it)
			}
			if len(batch) >= o.cfg.SettleBatch {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// forget drops the finished deliveries of a settled batch from memory.
func (o *Outbox[K]) forget(batch []Outcome[K]) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, out := range batch {
		if out.Result == Retry {
			continue
		}
		delete(o.items, out.ID)
		if o.reloading > 0 {
			o.recent[out.ID] = true
		}
	}
}

// record applies an outcome in memory: the delivery's attempts and due time, its slots and
// its lane's suspicion (see dispatch.go), the metrics.
func (o *Outbox[K]) record(r *result[K]) {
	it := r.it
	o.mu.Lock()
	defer o.mu.Unlock()
	var trusted *bool
	if r.out.Reason != Deleted {
		v := r.out.Result == Delivered && r.took <= o.cfg.SlowAfter
		trusted = &v
	}
	o.landed(r.job, trusted)
	switch {
	case r.out.Result == Delivered:
		o.delivered.Inc()
		o.latency.Observe(time.Since(it.d.Created).Seconds())
	case r.out.Result == Retry && r.out.Attempts < o.cfg.MaxAttempts:
		o.failed.Inc()
		it.d.Attempts = r.out.Attempts
		it.d.Due = time.Now().Add(o.backoff(r.out.Attempts))
		r.out.Due = it.d.Due
		return
	case r.out.Result == Retry:
		r.out.Result, r.out.Reason = Dropped, Exhausted
		o.failed.Inc()
		o.dropped.Inc()
	case r.out.Reason != Deleted:
		o.failed.Inc()
		o.dropped.Inc()
	}
	it.done = true
	o.open--
	o.depth.Set(float64(o.open))
}

func (o *Outbox[K]) backoff(attempt int) time.Duration {
	d := o.cfg.BaseBackoff << min(attempt-1, 20)
	return min(d, o.cfg.MaxBackoff)
}

// hostOf returns the host:port part of a callback URL.
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

// Redact returns the scheme and host of a callback URL, for logs: paths and user
// information may carry tokens.
func Redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		return u[:i+3] + hostOf(u)
	}
	return hostOf(u)
}
