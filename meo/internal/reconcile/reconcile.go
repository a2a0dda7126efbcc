package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Config holds the per-step timeouts. Zero fields take the documented defaults.
type Config struct {
	// CallTimeout bounds each single call to the MEP. Default 10s.
	CallTimeout time.Duration
	// VIMCallTimeout bounds each call that changes the VIM (Deploy, Terminate, Stop,
	// Start). Such a call is several requests to the VIM's API (a Kubernetes deploy applies
	// the namespace, the secret and every object in turn), which an overloaded control plane
	// answers slowly but does answer: cutting it short only makes the retry do it again.
	// Default 2m.
	VIMCallTimeout time.Duration
	// RunningTimeout bounds the wait for the VIM to report Running (instantiate, start).
	// Default 5m.
	RunningTimeout time.Duration
	// ReadyTimeout bounds the wait for the app's confirm_ready on the MEP. Default 5m.
	ReadyTimeout time.Duration
	// StoppedTimeout bounds the wait for the VIM to report Stopped, added to the task's
	// graceful timeout. Default 2m.
	StoppedTimeout time.Duration
	// MEPGoneMargin is added to the task's graceful timeout (or, when the MEP's default
	// applies, to DefaultGracefulTimeout) to bound the wait for the MEP to finish the
	// termination flow. Default 30s.
	MEPGoneMargin time.Duration
	// DefaultGracefulTimeout is what the reconciler assumes the MEP's default graceful
	// timeout is, for bounding the wait. Default 60s.
	DefaultGracefulTimeout time.Duration
	// GoneTimeout bounds the wait for the VIM to remove the instance. Default 5m.
	GoneTimeout time.Duration
	// PollInterval is how often the waits for the VIM ask its Status while the site's
	// watch is not open (a VIM whose Watch fails), and the longest pause between the asks
	// of the MEP. Default 200ms.
	PollInterval time.Duration
	// FeedResync is how often a wait for the VIM asks its Status while the site's watch is
	// open and reports the instance's changes as they happen: a safety net for a change
	// the watch missed. Default 5s.
	FeedResync time.Duration
	// FeedLinger is how long a site's watch stays open after its last wait ended, so
	// that the next task on the site finds it open. Default 30s.
	FeedLinger time.Duration
	// Logger receives step logs. Default: discard.
	Logger *slog.Logger
	// OnStep, if set, is called after each step is recorded in the journal, in order. It
	// must not block for long: it runs on the task's goroutine.
	OnStep func(ctx context.Context, ev StepEvent)
	// Now returns the time for Progress.Updated. Default time.Now.
	Now func() time.Time
}

// StepEvent reports a step recorded for a task, so the LCM can update the op occurrence
// and the AppInstanceInfo.
type StepEvent struct {
	Site   string
	Task   Task
	Step   Step
	Index  int // 1-based position of Step in Steps(Task.Kind)
	Of     int // len(Steps(Task.Kind))
	Status *vim.Status
	// Took is the time from the step's start to its record in the journal.
	Took time.Duration
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.CallTimeout, 10*time.Second)
	def(&c.VIMCallTimeout, 2*time.Minute)
	def(&c.RunningTimeout, 5*time.Minute)
	def(&c.ReadyTimeout, 5*time.Minute)
	def(&c.StoppedTimeout, 2*time.Minute)
	def(&c.MEPGoneMargin, 30*time.Second)
	def(&c.DefaultGracefulTimeout, 60*time.Second)
	def(&c.GoneTimeout, 5*time.Minute)
	def(&c.PollInterval, 200*time.Millisecond)
	def(&c.FeedResync, 5*time.Second)
	def(&c.FeedLinger, 30*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Reconciler runs the steps of one task on one site, recording each in a Journal.
type Reconciler struct {
	cfg     Config
	journal Journal
	feeds   *feeds
}

// New returns a Reconciler that records progress in j.
func New(j Journal, cfg Config) *Reconciler {
	cfg.defaults()
	return &Reconciler{cfg: cfg, journal: j, feeds: newFeeds(cfg.FeedLinger, cfg.Logger)}
}

// Run runs task t on site s from the step after the last one recorded, and returns the
// progress it recorded last. A task already finished returns its recorded progress without
// touching the site. The error is non-nil only when Run could not reach an outcome: the
// journal failed or ctx ended (the task then resumes on the next Run). A step that fails
// ends the task FAILED or FAILED_TEMP, recorded with a Failure and a nil error.
func (r *Reconciler) Run(ctx context.Context, s Site, t Task) (Progress, error) {
	if t.Kind == KindInstantiate {
		t.Deploy.AppInstanceID = t.AppInstanceID
	}
	if err := t.Validate(); err != nil {
		return Progress{}, fmt.Errorf("task %s: %w", t.ID, err)
	}
	p, err := r.journal.Load(ctx, t.ID)
	if err != nil {
		return Progress{}, fmt.Errorf("load task %s: %w", t.ID, err)
	}
	if p.Kind == "" {
		p = Progress{Kind: t.Kind, AppInstanceID: t.AppInstanceID}
	} else if p.Kind != t.Kind || p.AppInstanceID != t.AppInstanceID {
		return p, fmt.Errorf("task %s: journal holds %s of %s, not %s of %s", t.ID, p.Kind, p.AppInstanceID, t.Kind, t.AppInstanceID)
	}
	if p.Finished() {
		return p, nil
	}
	p.Outcome, p.Failure = "", nil
	seq := steps(t.Kind)
	next := 0
	for i, st := range seq {
		if st == p.Done {
			next = i + 1
		}
	}
	run := &run{r: r, site: s, task: t}
	log := r.cfg.Logger.With(logkeys.TaskID, t.ID, logkeys.Site, s.Name, logkeys.AppInstanceID, t.AppInstanceID)
	for i := next; i < len(seq); i++ {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		step := seq[i]
		began := time.Now()
		status, err := run.do(ctx, step)
		if err != nil {
			if ctx.Err() != nil {
				// Stopped from outside: not the step's fault; resume later.
				return p, ctx.Err()
			}
			f := classify(step, err)
			p.Failure, p.Outcome = f, f.Outcome()
			if f.Temporary {
				p.Attempts++
			}
			log.WarnContext(ctx, "reconcile step failed", logkeys.Step, string(step), logkeys.Reason, f.Title, logkeys.Error, f.Detail)
			if err := r.save(ctx, t.ID, &p); err != nil {
				return p, err
			}
			return p, nil
		}
		p.Done = step
		if i == len(seq)-1 {
			p.Outcome = Completed
		}
		if err := r.save(ctx, t.ID, &p); err != nil {
			return p, err
		}
		took := time.Since(began)
		log.DebugContext(ctx, "reconcile step done", logkeys.Step, string(step), logkeys.DurationMS, took.Milliseconds())
		if r.cfg.OnStep != nil {
			r.cfg.OnStep(ctx, StepEvent{Site: s.Name, Task: t, Step: step, Index: i + 1, Of: len(seq), Status: status, Took: took})
		}
	}
	return p, nil
}

func (r *Reconciler) save(ctx context.Context, id string, p *Progress) error {
	p.Updated = r.cfg.Now()
	if err := r.journal.Save(ctx, id, *p); err != nil {
		return fmt.Errorf("save task %s: %w", id, err)
	}
	return nil
}

// run carries what steps of one Run share. creds lives in memory only: the client secret
// never goes to the journal; a resumed run asks the MEP again (PUT is idempotent and the
// MEP derives the secret from the instance id, so it answers the same).
type run struct {
	r     *Reconciler
	site  Site
	task  Task
	creds *mm5api.AppInstanceRecord
	// noHold is set once the MEP refused a long poll (a MEP from before whileState): the
	// waits then ask it without one.
	noHold bool
}

// do runs one step and returns the VIM status it observed, if any.
func (u *run) do(ctx context.Context, step Step) (*vim.Status, error) {
	c := u.r.cfg
	id := u.task.AppInstanceID
	v := u.site.VIM
	switch step {
	case StepMEPProvisioned:
		return nil, u.put(ctx)
	case StepVIMDeployed:
		if u.creds == nil {
			if err := u.put(ctx); err != nil {
				return nil, err
			}
		}
		req := u.task.Deploy
		req.MEP = vim.MEPAccess{Endpoint: u.creds.Mp1Root, ClientID: u.creds.Credentials.ClientId, ClientSecret: u.creds.Credentials.ClientSecret}
		if u.site.MEPEndpoint != "" {
			req.MEP.Endpoint = u.site.MEPEndpoint
		}
		return nil, call(ctx, c.VIMCallTimeout, func(ctx context.Context) error { return v.Deploy(ctx, req) })
	case StepVIMRunning, StepVIMStarted:
		return u.waitPhase(ctx, c.RunningTimeout, vim.PhaseRunning)
	case StepMEPReady:
		return nil, u.poll(ctx, c.ReadyTimeout, "confirm_ready", func(ctx context.Context) (bool, error) {
			rec, code, err := u.get(ctx, mm5api.INSTANTIATED)
			if err != nil {
				return false, err
			}
			if code == http.StatusNotFound {
				return false, fmt.Errorf("mm5 get: %w: the instance is gone from the mep", ErrMEPRefused)
			}
			return rec.State == mm5api.READY, nil
		})
	case StepMEPTerminating:
		return nil, call(ctx, c.CallTimeout, func(ctx context.Context) error {
			secs := u.gracefulSeconds()
			resp, err := u.site.MEP.DeleteAppInstanceWithResponse(ctx, id, &mm5api.DeleteAppInstanceParams{GracefulTimeout: secs})
			if err != nil {
				return transportError("delete", err)
			}
			switch resp.StatusCode() {
			case http.StatusAccepted, http.StatusNotFound: // gone already counts as done
				return nil
			case http.StatusConflict: // a termination already under way
				return nil
			}
			return mepError("delete", resp.StatusCode(), resp.Body, firstProblem(resp.ApplicationproblemJSON400, resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON403))
		})
	case StepMEPGone:
		return nil, u.poll(ctx, u.flowWait(), "the mep to finish the termination", func(ctx context.Context) (bool, error) {
			_, code, err := u.get(ctx, mm5api.TERMINATING)
			return err == nil && code == http.StatusNotFound, err
		})
	case StepVIMTerminating:
		return nil, call(ctx, c.VIMCallTimeout, func(ctx context.Context) error { return v.Terminate(ctx, id) })
	case StepVIMGone:
		_, err := u.waitVIM(ctx, c.GoneTimeout, v, &goneWait{})
		return nil, err
	case StepMEPStopping:
		return nil, call(ctx, c.CallTimeout, func(ctx context.Context) error {
			resp, err := u.site.MEP.StopAppInstanceWithResponse(ctx, id, &mm5api.StopAppInstanceParams{GracefulTimeout: u.gracefulSeconds()})
			if err != nil {
				return transportError("stop", err)
			}
			switch resp.StatusCode() {
			case http.StatusAccepted, http.StatusNotFound: // nothing on the MEP to stop counts as done
				return nil
			}
			return mepError("stop", resp.StatusCode(), resp.Body, firstProblem(resp.ApplicationproblemJSON400, resp.ApplicationproblemJSON401,
				resp.ApplicationproblemJSON403, resp.ApplicationproblemJSON409))
		})
	case StepMEPStopped:
		return nil, u.poll(ctx, u.flowWait(), "the mep to finish the stop", func(ctx context.Context) (bool, error) {
			rec, code, err := u.get(ctx, mm5api.STOPPING)
			return err == nil && (code == http.StatusNotFound || rec.State != mm5api.STOPPING), err
		})
	case StepVIMStopping:
		return nil, call(ctx, c.VIMCallTimeout, func(ctx context.Context) error { return v.Stop(ctx, id) })
	case StepVIMStopped:
		return u.waitPhase(ctx, u.task.GracefulTimeout+c.StoppedTimeout, vim.PhaseStopped)
	case StepVIMStarting:
		return nil, call(ctx, c.VIMCallTimeout, func(ctx context.Context) error { return v.Start(ctx, id) })
	}
	return nil, fmt.Errorf("unknown step %s", step)
}

// put sends the Mm5 PUT and keeps the answer (with the credentials) in memory.
func (u *run) put(ctx context.Context) error {
	return call(ctx, u.r.cfg.CallTimeout, func(ctx context.Context) error {
		resp, err := u.site.MEP.PutAppInstanceWithResponse(ctx, u.task.AppInstanceID, u.task.App)
		if err != nil {
			return transportError("put", err)
		}
		rec := resp.JSON201
		if rec == nil {
			rec = resp.JSON200
		}
		if rec == nil {
			return mepError("put", resp.StatusCode(), resp.Body, firstProblem(resp.ApplicationproblemJSON400, resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON403, resp.ApplicationproblemJSON409))
		}
		if rec.Credentials.ClientId == "" || rec.Credentials.ClientSecret == "" {
			return fmt.Errorf("mm5 put: %w: the answer carries no credentials", ErrMEPRefused)
		}
		u.creds = rec
		return nil
	})
}

// get reads the instance on the MEP; a 404 is an answer (code 404, no error). The MEP holds
// the request while the instance's state is while, up to holdFor (a long poll), so that a
// wait learns of the change at once instead of at its next poll (while "": no hold); a MEP
// that refuses the long poll is asked without one from then on.
func (u *run) get(ctx context.Context, while mm5api.AppInstanceState) (*mm5api.AppInstanceRecord, int, error) {
	var rec *mm5api.AppInstanceRecord
	var code int
	err := call(ctx, u.r.cfg.CallTimeout, func(ctx context.Context) error {
		var params *mm5api.GetAppInstanceParams
		if while != "" && !u.noHold {
			secs := int(min(holdFor, u.r.cfg.CallTimeout/2) / time.Second)
			if secs > 0 {
				params = &mm5api.GetAppInstanceParams{WhileState: &while, Timeout: &secs}
			}
		}
		resp, err := u.site.MEP.GetAppInstanceWithResponse(ctx, u.task.AppInstanceID, params)
		if err != nil {
			return transportError("get", err)
		}
		code = resp.StatusCode()
		if code == http.StatusBadRequest && params != nil {
			u.noHold = true
			u.r.cfg.Logger.DebugContext(ctx, "mep refused the long poll; asking without", logkeys.Site, u.site.Name)
			if resp, err = u.site.MEP.GetAppInstanceWithResponse(ctx, u.task.AppInstanceID, nil); err != nil {
				return transportError("get", err)
			}
			code = resp.StatusCode()
		}
		if code == http.StatusNotFound {
			return nil
		}
		if resp.JSON200 == nil {
			return mepError("get", code, resp.Body, firstProblem(resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON403))
		}
		rec = resp.JSON200
		return nil
	})
	return rec, code, err
}

func (u *run) gracefulSeconds() *int {
	if u.task.StopType == StopForceful {
		z := 0
		return &z
	}
	if u.task.GracefulTimeout <= 0 {
		return nil // the MEP's default
	}
	s := int(u.task.GracefulTimeout / time.Second)
	return &s
}

// flowWait bounds the wait for the MEP's termination or stop flow: its graceful timeout
// (the task's, or the MEP's default) and a margin.
func (u *run) flowWait() time.Duration {
	wait := u.r.cfg.DefaultGracefulTimeout
	if s := u.gracefulSeconds(); s != nil {
		wait = time.Duration(*s) * time.Second
	}
	return wait + u.r.cfg.MEPGoneMargin
}

// waitPhase waits for the VIM to report one of phases. A VIM that cannot be reached keeps
// the wait going until the step's time is up (as vim.WaitPhase).
func (u *run) waitPhase(ctx context.Context, d time.Duration, phases ...vim.Phase) (*vim.Status, error) {
	v := u.site.VIM
	if hb, ok := v.(vim.GuestHeartbeater); ok {
		v = guestAware{VIM: v, hb: hb, u: u}
	}
	st, err := u.waitVIM(ctx, d, v, &phaseWait{id: u.task.AppInstanceID, phases: phases, poll: u.r.cfg.PollInterval})
	return &st, err
}

// guestAware is the site's VIM as the Running waits see it when the VIM implements
// vim.GuestHeartbeater: while the VIM reports the guest not up yet
// (vim.Status.WaitingForGuest), each Status asks the MEP (Mm5 GET) whether the app confirmed
// ready and, when it did, passes that on as the guest's heartbeat and reads the status again.
// An operate STOPPED runs the MEP's stop flow first, which makes the MEP forget the READY, so
// after a Start the heartbeat comes from the app of this boot.
type guestAware struct {
	vim.VIM
	hb vim.GuestHeartbeater
	u  *run
}

// Status implements vim.VIM.
func (g guestAware) Status(ctx context.Context, id string) (vim.Status, error) {
	st, err := g.VIM.Status(ctx, id)
	if err != nil || !st.WaitingForGuest() {
		return st, err
	}
	rec, code, gerr := g.u.get(ctx, "")
	if gerr != nil || code != http.StatusOK || rec == nil || rec.State != mm5api.READY {
		return st, nil // not ready yet, or the MEP is away for a moment: keep waiting
	}
	if err := g.hb.GuestHeartbeat(ctx, id); err != nil {
		return st, nil // the domain stopped meanwhile, or the VIM is away: the next poll sees it
	}
	return g.VIM.Status(ctx, id)
}

// holdFor is how long the MEP holds a wait's request while nothing changes.
const holdFor = 5 * time.Second

// poll calls check until it reports done, fails with an error that is not temporary, or d
// passes. It asks again after 20ms at first, the pause growing by half each time up to
// PollInterval: what the MEP waits for (the app's confirm_ready, the end of a termination)
// mostly comes within moments of the step before. Temporary errors (the MEP or VIM
// unreachable for a moment) keep the poll going; the last one is reported on timeout.
func (u *run) poll(ctx context.Context, d time.Duration, what string, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var last error
	pause := min(20*time.Millisecond, u.r.cfg.PollInterval)
	for {
		done, err := check(ctx)
		if err == nil && done {
			return nil
		}
		if err != nil {
			if ctx.Err() == nil && !classify("", err).Temporary {
				return err
			}
			last = err
		}
		t := time.NewTimer(pause)
		pause = min(pause*3/2, u.r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			if last != nil {
				return fmt.Errorf("%w after %v waiting for %s: %w", ErrStepTimeout, d, what, last)
			}
			return fmt.Errorf("%w after %v waiting for %s", ErrStepTimeout, d, what)
		case <-t.C:
		}
	}
}

// call runs f with its own timeout; a timeout of the call (not of the parent) is
// ErrStepTimeout.
func call(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := f(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w after %v: %w", ErrStepTimeout, d, err)
	}
	return err
}

func firstProblem(ps ...*mm5api.Problem) *mm5api.Problem {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}
