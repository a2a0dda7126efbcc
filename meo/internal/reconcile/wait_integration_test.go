//go:build integration

package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

// TestWaitsFollowTheWatch checks that the waits for the VIM end on the site's watch, not on
// a poll: with the Status polls far apart, instantiate and terminate still end as soon as
// the VIM reports Running and gone, asking Status about once per wait. With the watch
// failing, the waits poll Status at PollInterval instead and still end.
func TestWaitsFollowTheWatch(t *testing.T) {
	const delay = 300 * time.Millisecond
	for _, tc := range []struct {
		name         string
		brokenWatch  bool
		poll         time.Duration
		maxTook      time.Duration
		minStatus    int
		maxStatus    int
		statusReason string
	}{
		// Two waits (Running, gone), each asking Status at most at its start, while the
		// shared watch is not open yet, and once more when it opens; a wait that finds the
		// watch open asks nothing.
		{name: "watch drives the waits", poll: 10 * time.Second, maxTook: 3 * time.Second, minStatus: 0, maxStatus: 4},
		// Without a watch, each wait polls through the start and terminate delays.
		{name: "broken watch falls back to polling", brokenWatch: true, poll: 30 * time.Millisecond,
			maxTook: 5 * time.Second, minStatus: 8, maxStatus: 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := meptest.Start(t, meptest.Options{})
			f := vimtest.New(vimtest.Config{Site: "site-w", StartDelay: delay, TerminateDelay: delay})
			apps := meptest.RunApps(t, f, func(id string) (vim.DeployRequest, bool) {
				in, ok := f.Instance(id)
				return in.Request, ok
			})
			if tc.brokenWatch {
				f.Inject(vimtest.Fault{Op: vimtest.OpWatch, Err: vim.ErrUnavailable})
			}
			site := reconcile.Site{Name: "site-w", MEP: m.Client(t), VIM: f}
			cfg := fastConfig()
			cfg.PollInterval, cfg.FeedResync = tc.poll, 30*time.Second
			rec := reconcile.New(reconcile.NewMemoryJournal(), cfg)

			task := instantiateTask("w")
			t0 := time.Now()
			p, err := rec.Run(ctxT(t), site, task)
			if err != nil || p.Outcome != reconcile.Completed {
				t.Fatalf("instantiate: outcome %s, failure %+v, err %v; want COMPLETED", p.Outcome, p.Failure, err)
			}
			term := reconcile.Task{ID: task.ID + "-term", Kind: reconcile.KindTerminate, AppInstanceID: task.AppInstanceID, StopType: reconcile.StopForceful}
			p, err = rec.Run(ctxT(t), site, term)
			if err != nil || p.Outcome != reconcile.Completed {
				t.Fatalf("terminate: outcome %s, failure %+v, err %v; want COMPLETED", p.Outcome, p.Failure, err)
			}
			took := time.Since(t0)
			if took > tc.maxTook {
				t.Errorf("instantiate and terminate took %v; want at most %v", took, tc.maxTook)
			}
			if n := apps.Confirmations(task.AppInstanceID); n != 1 {
				t.Errorf("app confirmed ready %d times; want 1", n)
			}
			if n := f.Count(vimtest.OpStatus, task.AppInstanceID); n < tc.minStatus || n > tc.maxStatus {
				t.Errorf("vim Status asked %d times; want %d to %d", n, tc.minStatus, tc.maxStatus)
			}
		})
	}
}

// TestWatcherSharesTheWatch checks that a site's Watcher and the waits of the Runner's tasks
// on the site use one VIM watch between them, and that the Watcher sees what the tasks did.
func TestWatcherSharesTheWatch(t *testing.T) {
	s := newSite(t, "site-s") // the apps hold a watch of their own
	base := s.vim.Watchers()
	ended := make(chan reconcile.Progress, 1)
	r := reconcile.NewRunner(reconcile.New(reconcile.NewMemoryJournal(), fastConfig()), reconcile.RunnerConfig{
		OnDone: func(_ context.Context, _ string, _ reconcile.Task, p reconcile.Progress, _ error) { ended <- p }})
	obs := make(chan reconcile.Observation, 100)
	w, err := reconcile.NewWatcher(reconcile.WatcherConfig{Site: s.site, Inventory: &inventory{}, Runner: r, Resync: time.Hour,
		Observe: func(_ context.Context, o reconcile.Observation) { obs <- o }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done; r.Wait() }()
	task := instantiateTask("s")
	r.Submit(ctx, s.site, task)
	if p := <-ended; p.Outcome != reconcile.Completed {
		t.Fatalf("task %s %+v; want COMPLETED", p.Outcome, p.Failure)
	}
	if n := s.vim.Watchers() - base; n != 1 {
		t.Fatalf("%d vim watches besides the apps'; want 1 shared by the watcher and the waits", n)
	}
	for {
		select {
		case o := <-obs:
			if o.AppInstanceID == task.AppInstanceID && o.Phase == vim.PhaseRunning {
				return
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the watcher did not observe the instance Running")
		}
	}
}
