package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// RetryPolicy says how the Runner retries a task that ended FAILED_TEMP.
//
// A task is run; when it ends FAILED_TEMP the Runner waits Backoff(n) for the n-th such
// end (n = 1, 2, ...) and runs it again, resuming at the failed step, until it ends
// COMPLETED or FAILED or has ended FAILED_TEMP MaxAttempts times in this Submit; then the
// FAILED_TEMP stands and OnDone reports it (the LCM shows it; an operator's retry submits
// the task again with a fresh budget). When the failure says the site itself cannot be
// reached (MEP unreachable, VIM unavailable), the site's other tasks wait out the same
// backoff before they start, so an unreachable site is probed by one task at a time
// instead of by all of them. Other sites never wait.
type RetryPolicy struct {
	// MaxAttempts is how many FAILED_TEMP ends a Submit allows. Default 5; 1 disables
	// retries.
	MaxAttempts int
	// Initial is the first backoff. Default 1s.
	Initial time.Duration
	// Max caps the backoff. Default 1m.
	Max time.Duration
	// Jitter spreads each backoff uniformly over ±Jitter of its value, so tasks that failed
	// together do not retry together. Default 0.2; negative disables it.
	Jitter float64
}

func (p *RetryPolicy) defaults() {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.Initial <= 0 {
		p.Initial = time.Second
	}
	if p.Max <= 0 {
		p.Max = time.Minute
	}
	if p.Jitter == 0 {
		p.Jitter = 0.2
	}
}

// Backoff returns the wait before retry n (1-based): Initial·2^(n-1), capped at Max, then
// jittered.
func (p RetryPolicy) Backoff(n int) time.Duration {
	p.defaults()
	d := p.Initial
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if p.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + p.Jitter*(2*rand.Float64()-1)))
	}
	return d
}

// RunnerConfig shapes a Runner.
type RunnerConfig struct {
	// PerSite is how many tasks run at once on one site. Default 4.
	PerSite int
	// Retry is the retry policy for FAILED_TEMP.
	Retry RetryPolicy
	// OnDone, if set, is called once per Submit with the progress the task ended with
	// (COMPLETED, FAILED, or FAILED_TEMP after the retries), or with the error that kept it
	// from ending (journal failure, ctx ended; the task then resumes on the next Submit).
	OnDone func(ctx context.Context, site string, t Task, p Progress, err error)
	// Logger receives retry logs. Default: discard.
	Logger *slog.Logger
}

// Runner runs tasks for many sites: at most PerSite at once per site, retrying FAILED_TEMP
// with backoff per RetryPolicy, each site independent of the others.
type Runner struct {
	rec *Reconciler
	cfg RunnerConfig

	mu    sync.Mutex
	sites map[string]*siteState
	wg    sync.WaitGroup
}

type siteState struct {
	sem chan struct{}

	mu        sync.Mutex
	notBefore time.Time // while unreachable: no task starts before this
	failures  int       // consecutive unreachable ends
}

// NewRunner returns a Runner that runs tasks with rec.
func NewRunner(rec *Reconciler, cfg RunnerConfig) *Runner {
	if cfg.PerSite <= 0 {
		cfg.PerSite = 4
	}
	cfg.Retry.defaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{rec: rec, cfg: cfg, sites: map[string]*siteState{}}
}

func (r *Runner) site(name string) *siteState {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sites[name]
	if !ok {
		s = &siteState{sem: make(chan struct{}, r.cfg.PerSite)}
		r.sites[name] = s
	}
	return s
}

// Submit runs t on s in the background until it ends (see RunnerConfig.OnDone) or ctx
// ends. Submitting a task whose journal entry is finished reports that entry again without
// touching the site, so resubmitting every unfinished task after a restart is safe.
func (r *Runner) Submit(ctx context.Context, s Site, t Task) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		p, err := r.run(ctx, s, t)
		if r.cfg.OnDone != nil {
			r.cfg.OnDone(ctx, s.Name, t, p, err)
		}
	}()
}

// Wait waits for every submitted task to end.
func (r *Runner) Wait() { r.wg.Wait() }

func (r *Runner) run(ctx context.Context, s Site, t Task) (Progress, error) {
	ss := r.site(s.Name)
	log := r.cfg.Logger.With(logkeys.TaskID, t.ID, logkeys.Site, s.Name)
	for attempt := 1; ; attempt++ {
		if err := ss.waitReachable(ctx); err != nil {
			return Progress{}, err
		}
		select {
		case ss.sem <- struct{}{}:
		case <-ctx.Done():
			return Progress{}, ctx.Err()
		}
		p, err := r.rec.Run(ctx, s, t)
		<-ss.sem
		if err != nil || p.Outcome != FailedTemp {
			if err == nil {
				ss.reachable()
			}
			return p, err
		}
		unreachable := p.Failure != nil && siteUnreachable(p.Failure)
		if !unreachable {
			ss.reachable()
		}
		if attempt >= r.cfg.Retry.MaxAttempts {
			return p, nil
		}
		d := r.cfg.Retry.Backoff(attempt)
		if unreachable {
			d = ss.unreachable(r.cfg.Retry)
		}
		log.InfoContext(ctx, "reconcile retry", logkeys.Attempt, attempt, logkeys.Reason, p.Failure.Title, logkeys.DurationMS, d.Milliseconds())
		tm := time.NewTimer(d)
		select {
		case <-ctx.Done():
			tm.Stop()
			return p, ctx.Err()
		case <-tm.C:
		}
	}
}

// siteUnreachable reports whether a failure says the site (not the task) is the problem.
func siteUnreachable(f *Failure) bool {
	if f.err != nil {
		return errors.Is(f.err, ErrMEPUnreachable) || errors.Is(f.err, vim.ErrUnavailable)
	}
	return f.Title == "mep unreachable" || f.Title == "vim unavailable"
}

func (s *siteState) waitReachable(ctx context.Context) error {
	s.mu.Lock()
	d := time.Until(s.notBefore)
	s.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// unreachable records an unreachable end and returns the backoff the site now waits.
func (s *siteState) unreachable(p RetryPolicy) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures++
	d := p.Backoff(s.failures)
	if nb := time.Now().Add(d); nb.After(s.notBefore) {
		s.notBefore = nb
	}
	return time.Until(s.notBefore)
}

func (s *siteState) reachable() {
	s.mu.Lock()
	s.failures, s.notBefore = 0, time.Time{}
	s.mu.Unlock()
}
