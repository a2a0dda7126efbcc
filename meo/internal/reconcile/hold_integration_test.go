//go:build integration

package reconcile_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

// TestMEPWaitsHold checks that the waits on the MEP hold their request there (Mm5 GET with
// whileState): an app that confirms ready late ends MEP_READY with one or two GETs, not one
// every PollInterval. A MEP that refuses the long poll (400, as a MEP from before whileState
// does) is polled instead, and the task still completes.
func TestMEPWaitsHold(t *testing.T) {
	const late = 700 * time.Millisecond
	for _, tc := range []struct {
		name             string
		refuse           bool
		minGets, maxGets int32
	}{
		{name: "held", minGets: 1, maxGets: 3},
		{name: "refused then polled", refuse: true, minGets: 8, maxGets: 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := meptest.Start(t, meptest.Options{})
			f := vimtest.New(vimtest.Config{Site: "site-h"})
			var gets, refused atomic.Int32
			target, err := url.Parse(m.Root)
			if err != nil {
				t.Fatal(err)
			}
			proxy := httputil.NewSingleHostReverseProxy(target)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/mepm/v1/app_instances/") {
					gets.Add(1)
					if tc.refuse && r.URL.Query().Has("whileState") {
						refused.Add(1)
						problem.Write(w, http.StatusBadRequest, "unknown query parameter whileState", r.URL.Path)
						return
					}
				}
				proxy.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			mep, err := mm5api.NewClientWithResponses(srv.URL+"/mepm/v1", mm5api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
				r.Header.Set("Authorization", "Bearer "+meptest.OperatorToken)
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}

			task := instantiateTask("hold")
			// The app confirms ready late after its workload runs.
			confirmed := make(chan time.Time, 1)
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			events, err := f.Watch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				for ev := range events {
					if ev.Deleted || ev.Status.Phase != vim.PhaseRunning || ev.Status.AppInstanceID != task.AppInstanceID {
						continue
					}
					in, _ := f.Instance(task.AppInstanceID)
					time.Sleep(late)
					if err := meptest.ConfirmReady(ctx, in.Request.MEP, task.AppInstanceID); err != nil {
						t.Errorf("confirm ready: %v", err)
					}
					confirmed <- time.Now()
					return
				}
			}()

			cfg := fastConfig()
			cfg.PollInterval = 30 * time.Millisecond
			var readyGets int32
			cfg.OnStep = func(_ context.Context, ev reconcile.StepEvent) {
				switch ev.Step {
				case reconcile.StepVIMRunning:
					readyGets = gets.Load()
				case reconcile.StepMEPReady:
					readyGets = gets.Load() - readyGets
				}
			}
			p, err := reconcile.New(reconcile.NewMemoryJournal(), cfg).Run(ctxT(t), reconcile.Site{Name: "site-h", MEP: mep, VIM: f}, task)
			if err != nil || p.Outcome != reconcile.Completed {
				t.Fatalf("instantiate: outcome %s, failure %+v, err %v; want COMPLETED", p.Outcome, p.Failure, err)
			}
			select {
			case <-confirmed:
			case <-time.After(10 * time.Second):
				t.Fatal("the app never confirmed")
			}
			if readyGets < tc.minGets || readyGets > tc.maxGets {
				t.Errorf("the wait for confirm_ready asked the MEP %d times; want %d to %d", readyGets, tc.minGets, tc.maxGets)
			}
			if tc.refuse && refused.Load() != 1 {
				t.Errorf("the long poll was tried %d times after the MEP refused it; want once", refused.Load())
			}
		})
	}
}
