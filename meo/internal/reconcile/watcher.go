package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// PhaseUnknown is reported for an instance whose site cannot be reached: the app is
// presumed to keep running (the site serves on its own), so it is not a failure.
const PhaseUnknown vim.Phase = "Unknown"

// Inventory lists what the MEO believes is deployed on a site: the instantiate tasks that
// completed and were not terminated since. An instance must leave the list before its
// terminate task starts, or the Watcher takes the removal for drift (and, with
// DriftRecreate, re-creates it).
type Inventory interface {
	Deployed(ctx context.Context, site string) ([]Task, error)
}

// DriftPolicy says what the Watcher does about an instance the inventory says is deployed
// and the VIM does not know (deleted behind the MEO's back).
type DriftPolicy string

// Drift policies.
const (
	// DriftReport only reports it (Observation.Drift).
	DriftReport DriftPolicy = "REPORT"
	// DriftRecreate reports it and submits the instance's instantiate task again under a
	// new task id (WatcherConfig.RecreateID): Mm5 PUT keeps the MEP's instance as it is,
	// and VIM Deploy makes the workload anew with the same MEP access.
	DriftRecreate DriftPolicy = "RECREATE"
)

// Observation is an observed change of one instance on a site.
type Observation struct {
	Site          string
	AppInstanceID string
	// Phase is the VIM's phase, PhaseUnknown when the site cannot be reached, or "" with
	// Deleted.
	Phase     vim.Phase
	Reasons   []vim.Reason
	Endpoints []vim.Endpoint
	// Deleted is set when the VIM no longer knows the instance.
	Deleted bool
	// Drift is set when the instance is deployed per the inventory but Deleted.
	Drift bool
	// Recreating is set when the Watcher submitted the instance's re-creation.
	Recreating bool
}

// WatcherConfig shapes a Watcher.
type WatcherConfig struct {
	// Site is the site to watch.
	Site Site
	// Inventory lists what should be there.
	Inventory Inventory
	// Policy is the drift policy. Default DriftReport.
	Policy DriftPolicy
	// Runner runs re-creations (required with DriftRecreate). When set, the Watcher follows
	// the site through the watch the Runner's tasks wait on (one vim.Watch per site in the
	// process, kept open while the Watcher runs), instead of a watch of its own.
	Runner *Runner
	// RecreateID returns the task id for re-creating t. Default: t.ID + "-recreate-" and
	// the time in Unix nanoseconds.
	RecreateID func(t Task) string
	// Observe receives every change, in order. Required.
	Observe func(ctx context.Context, o Observation)
	// Resync is how often the Watcher compares the inventory with the VIM's Status besides
	// following Watch, and how long it waits before opening a failed watch again.
	// Default 1m.
	Resync time.Duration
	// Logger. Default: discard.
	Logger *slog.Logger
}

// Watcher follows a site's VIM (Watch and periodic resync) and reports observed changes and
// drift.
type Watcher struct {
	cfg WatcherConfig

	mu         sync.Mutex
	last       map[string]string // app instance id → signature of the last observation
	recreating map[string]bool
}

// NewWatcher returns a Watcher for cfg.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	var errs []error
	if cfg.Site.VIM == nil {
		errs = append(errs, errors.New("watcher: site has no vim"))
	}
	if cfg.Inventory == nil {
		errs = append(errs, errors.New("watcher: no inventory"))
	}
	if cfg.Observe == nil {
		errs = append(errs, errors.New("watcher: no observe func"))
	}
	if cfg.Policy == "" {
		cfg.Policy = DriftReport
	}
	if cfg.Policy != DriftReport && cfg.Policy != DriftRecreate {
		errs = append(errs, fmt.Errorf("watcher: unknown drift policy %q", cfg.Policy))
	}
	if cfg.Policy == DriftRecreate && cfg.Runner == nil {
		errs = append(errs, errors.New("watcher: drift policy RECREATE needs a runner"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.RecreateID == nil {
		cfg.RecreateID = func(t Task) string { return fmt.Sprintf("%s-recreate-%d", t.ID, time.Now().UnixNano()) }
	}
	if cfg.Resync <= 0 {
		cfg.Resync = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{cfg: cfg, last: map[string]string{}, recreating: map[string]bool{}}, nil
}

// Run follows the site until ctx ends: a resync at once and every Resync, and the VIM's
// Watch in between, opened again after a Resync pause when it fails. It returns ctx's error.
func (w *Watcher) Run(ctx context.Context) error {
	log := w.cfg.Logger.With(logkeys.Site, w.cfg.Site.Name)
	tick := time.NewTicker(w.cfg.Resync)
	defer tick.Stop()
	for {
		var events <-chan vim.Event
		if r := w.cfg.Runner; r != nil {
			// The shared watch streams the status of every instance it knows, first what it
			// knows now: the resync asks Status only of the others.
			events = r.rec.feeds.follow(ctx, w.cfg.Site.VIM)
			w.resync(ctx, func(id string) bool { return r.rec.feeds.knows(w.cfg.Site.VIM, id) })
		} else {
			w.Resync(ctx)
			var err error
			if events, err = w.cfg.Site.VIM.Watch(ctx); err != nil {
				log.WarnContext(ctx, "vim watch failed", logkeys.Error, err.Error())
			}
		}
	watch:
		for events != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case ev, ok := <-events:
				if !ok {
					break watch
				}
				w.event(ctx, ev)
			case <-tick.C:
				w.Resync(ctx)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Resync compares the inventory with the VIM's Status of each instance once: drift for the
// ones the VIM does not know, PhaseUnknown for all when the VIM cannot be reached.
func (w *Watcher) Resync(ctx context.Context) { w.resync(ctx, func(string) bool { return false }) }

// resync is Resync for the instances skip does not report (those whose status comes
// otherwise).
func (w *Watcher) resync(ctx context.Context, skip func(id string) bool) {
	tasks, err := w.cfg.Inventory.Deployed(ctx, w.cfg.Site.Name)
	if err != nil {
		w.cfg.Logger.WarnContext(ctx, "inventory list failed", logkeys.Site, w.cfg.Site.Name, logkeys.Error, err.Error())
		return
	}
	for _, t := range tasks {
		if skip(t.AppInstanceID) {
			continue
		}
		st, err := w.cfg.Site.VIM.Status(ctx, t.AppInstanceID)
		switch {
		case err == nil:
			w.event(ctx, vim.Event{Status: st})
		case errors.Is(err, vim.ErrNotFound):
			w.event(ctx, vim.Event{Status: vim.Status{AppInstanceID: t.AppInstanceID}, Deleted: true})
		case ctx.Err() != nil:
			return
		default:
			w.report(ctx, Observation{Site: w.cfg.Site.Name, AppInstanceID: t.AppInstanceID, Phase: PhaseUnknown})
		}
	}
}

func (w *Watcher) event(ctx context.Context, ev vim.Event) {
	o := Observation{Site: w.cfg.Site.Name, AppInstanceID: ev.Status.AppInstanceID, Deleted: ev.Deleted}
	if !ev.Deleted {
		o.Phase, o.Reasons, o.Endpoints = ev.Status.Phase, ev.Status.Reasons, ev.Status.Endpoints
		if o.Phase == vim.PhaseRunning {
			w.mu.Lock()
			delete(w.recreating, o.AppInstanceID)
			w.mu.Unlock()
		}
		w.report(ctx, o)
		return
	}
	tasks, err := w.cfg.Inventory.Deployed(ctx, w.cfg.Site.Name)
	if err != nil {
		w.cfg.Logger.WarnContext(ctx, "inventory list failed", logkeys.Site, w.cfg.Site.Name, logkeys.Error, err.Error())
	}
	i := slices.IndexFunc(tasks, func(t Task) bool { return t.AppInstanceID == o.AppInstanceID })
	if i < 0 {
		w.report(ctx, o)
		return
	}
	o.Drift = true
	if w.cfg.Policy == DriftRecreate {
		w.mu.Lock()
		first := !w.recreating[o.AppInstanceID]
		w.recreating[o.AppInstanceID] = true
		w.mu.Unlock()
		o.Recreating = true
		if first {
			t := tasks[i]
			t.ID = w.cfg.RecreateID(t)
			t.Kind = KindInstantiate
			w.cfg.Logger.WarnContext(ctx, "instance drifted, re-creating", logkeys.Site, w.cfg.Site.Name, logkeys.AppInstanceID, o.AppInstanceID, logkeys.TaskID, t.ID)
			w.cfg.Runner.Submit(ctx, w.cfg.Site, t)
		}
	} else {
		w.cfg.Logger.WarnContext(ctx, "instance drifted", logkeys.Site, w.cfg.Site.Name, logkeys.AppInstanceID, o.AppInstanceID)
	}
	w.report(ctx, o)
}

// report passes o on unless it repeats the last observation of its instance.
func (w *Watcher) report(ctx context.Context, o Observation) {
	sig := fmt.Sprintf("%s|%v|%v|%v|%v|%v", o.Phase, o.Deleted, o.Drift, o.Recreating, o.Reasons, o.Endpoints)
	w.mu.Lock()
	same := w.last[o.AppInstanceID] == sig
	w.last[o.AppInstanceID] = sig
	w.mu.Unlock()
	if !same {
		w.cfg.Observe(ctx, o)
	}
}
