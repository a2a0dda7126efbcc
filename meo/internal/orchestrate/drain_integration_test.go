//go:build integration

package orchestrate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/orchestrate/orchestratetest"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

// drainConfig is the env's configuration with drains over its ops and sites.
func (e *env) drainConfig(holder string, d *orchestratetest.Drains) orchestrate.Config {
	cfg := e.config(holder)
	cfg.Drains = d
	cfg.RetryDelay = func(int) time.Duration { return 2 * time.Second }
	return cfg
}

// onlyOn waits until the instance is recorded on site and its relocation ended.
func (e *env) onlyOn(id, site string, d time.Duration) orchestratetest.Instance {
	e.t.Helper()
	var in orchestratetest.Instance
	require.Eventually(e.t, func() bool {
		in, _ = e.ops.Instance(id)
		return in.SiteID == site
	}, d, 20*time.Millisecond, "instance %s never moved to %s", id, site)
	return in
}

// termApp plays an app that subscribed to its AppTerminationNotification on its MEP: it
// counts the notifications and confirms each.
type termApp struct {
	srv      *httptest.Server
	notified atomic.Int32
	mu       sync.Mutex
	errs     []string
}

// subscribeTermination subscribes the instance running on the fake VIM, with the Mp1 access
// the MEO gave it, to its termination notifications.
func subscribeTermination(t *testing.T, f *vimtest.Fake, id string) *termApp {
	t.Helper()
	in, ok := f.Instance(id)
	require.True(t, ok)
	access := in.Request.MEP
	tok := mp1Token(t, access)
	a := &termApp{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusNoContent)
		if !strings.Contains(string(body), "AppTerminationNotification") {
			return
		}
		a.notified.Add(1)
		go func() {
			req, _ := http.NewRequest(http.MethodPost, access.Endpoint+"/mec_app_support/v1/applications/"+id+"/confirm_termination",
				strings.NewReader(`{"operationAction":"TERMINATING"}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			a.mu.Lock()
			defer a.mu.Unlock()
			if err != nil {
				a.errs = append(a.errs, err.Error())
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNoContent {
				a.errs = append(a.errs, fmt.Sprintf("confirm_termination: HTTP %d", res.StatusCode))
			}
		}()
	}))
	t.Cleanup(a.srv.Close)
	body := fmt.Sprintf(`{"subscriptionType":"AppTerminationNotificationSubscription","callbackReference":%q,"appInstanceId":%q}`, a.srv.URL, id)
	req, err := http.NewRequest(http.MethodPost, access.Endpoint+"/mec_app_support/v1/applications/"+id+"/subscriptions", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode, "subscribe: %s", b)
	return a
}

func mp1Token(t *testing.T, m vim.MEPAccess) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {m.ClientID}, "client_secret": {m.ClientSecret}}
	res, err := http.Post(m.Endpoint+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tok))
	return tok.AccessToken
}

// Draining a site moves its instance to the other site: it runs and is READY there, the
// copy on the drained site went through the MEP's termination flow (the app was notified
// and confirmed) and is gone from its MEP and VIM, and the instance keeps its id.
func TestDrainMovesInstance(t *testing.T) {
	e := newEnv(t)
	a := e.addSite("site-a", node(4000))
	d := orchestratetest.NewDrains(e.ops, e.sites)
	r := e.start(e.drainConfig("meo-1", d))
	op := e.instantiated(r, 1000)
	id := op.AppInstanceID
	in, _ := e.ops.Instance(id)
	require.Equal(t, "site-a", in.SiteID)
	app := subscribeTermination(t, a.vim, id)

	b := e.addSite("site-b", node(4000))
	d.Drain("site-a")
	in = e.onlyOn(id, "site-b", 60*time.Second)

	assert.True(t, in.Instantiated)
	assert.Equal(t, "STARTED", in.Operational)
	assert.Equal(t, int64(1000), in.Resources.MilliCPU)
	assert.Equal(t, 1, e.ops.Relocations(id), "one relocation")
	assert.Equal(t, []string{id}, b.vim.IDs(), "runs on site-b")
	recs := b.mep.Instances(t)
	require.Len(t, recs, 1)
	assert.Equal(t, mm5api.READY, recs[0].State)
	assert.Empty(t, a.vim.IDs(), "no workload left on site-a")
	assert.Empty(t, a.mepInstances(t), "no MEP instance left on site-a")
	assert.Equal(t, int32(1), app.notified.Load(), "the app on site-a got its AppTerminationNotification")
	assert.Empty(t, app.errs)
	assert.Equal(t, 1, a.vim.Count(vimtest.OpTerminate, id))

	require.Eventually(t, func() bool {
		st, ok := d.Status("site-a")
		return ok && st.Pending == 0 && st.Moved == 1
	}, 10*time.Second, 50*time.Millisecond, "drain status: pending 0, moved 1")
	tasks, err := e.ops.Deployed(t.Context(), "site-b")
	require.NoError(t, err)
	require.Len(t, tasks, 1, "site-b's watcher follows it")
	tasks, err = e.ops.Deployed(t.Context(), "site-a")
	require.NoError(t, err)
	assert.Empty(t, tasks)
}

// No other site fits: the instance stays, the drain shows why (one line per site) and
// creates nothing round after round; uncordon stops further moves; a drain asked again once
// a site fits moves it.
func TestDrainNoFitThenUndrain(t *testing.T) {
	e := newEnv(t)
	a := e.addSite("site-a", node(4000))
	d := orchestratetest.NewDrains(e.ops, e.sites)
	r := e.start(e.drainConfig("meo-1", d))
	op := e.instantiated(r, 2000)
	id := op.AppInstanceID
	e.addSite("site-b", node(1000))

	d.Drain("site-a")
	var st orchestrate.DrainStatus
	require.Eventually(t, func() bool {
		var ok bool
		st, ok = d.Status("site-a")
		return ok && len(st.Stuck) == 1
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, id, st.Stuck[0].AppInstanceID)
	assert.Equal(t, []string{"site-b: cpu: needs 2000m, 1000m free"}, st.Stuck[0].Reasons)
	assert.Equal(t, 1, st.Pending)
	time.Sleep(1500 * time.Millisecond) // several rounds
	assert.Zero(t, e.ops.Relocations(id), "no relocation while nothing fits")
	in, _ := e.ops.Instance(id)
	assert.Equal(t, "site-a", in.SiteID)
	assert.Equal(t, []string{id}, a.vim.IDs())

	d.Uncordon("site-a")
	c := e.addSite("site-c", node(8000))
	time.Sleep(1500 * time.Millisecond)
	assert.Zero(t, e.ops.Relocations(id), "no move once uncordoned")
	_, ok := d.Status("site-a")
	assert.False(t, ok, "no drain status once uncordoned")

	d.Drain("site-a")
	e.onlyOn(id, "site-c", 60*time.Second)
	assert.Equal(t, []string{id}, c.vim.IDs())
	assert.Empty(t, a.vim.IDs())
}

// A process killed in the middle of a relocation (after a step of the deploy on the new
// site, or of the removal of the old copy) leaves it to another, which finishes it once: one
// copy, on the new site.
func TestDrainKilledMidRelocation(t *testing.T) {
	tests := []struct {
		site string // where the step runs
		step reconcile.Step
	}{
		{"site-b", reconcile.StepVIMDeployed},
		{"site-b", reconcile.StepMEPReady},
		{"site-a", reconcile.StepMEPGone},
		{"site-a", reconcile.StepVIMTerminating},
	}
	for _, tc := range tests {
		t.Run("killed after "+string(tc.step)+" on "+tc.site, func(t *testing.T) {
			e := newEnv(t)
			a := e.addSite("site-a", node(4000))
			d := orchestratetest.NewDrains(e.ops, e.sites)
			x0 := e.start(e.drainConfig("meo-0", d))
			op := e.instantiated(x0, 1000)
			id := op.AppInstanceID
			x0.wait()
			b := e.addSite("site-b", node(4000))

			cfg := e.drainConfig("meo-1", d)
			cfg.Ops, cfg.Leases = noRelease{e.ops}, noLeaseRelease{e.leases}
			var kill context.CancelFunc
			var killed atomic.Bool
			cfg.Reconcile.OnStep = func(_ context.Context, ev reconcile.StepEvent) {
				if ev.Site == tc.site && ev.Step == tc.step && ev.Task.AppInstanceID == id && !killed.Swap(true) {
					kill()
				}
			}
			x1, err := orchestrate.New(cfg, nil, nil)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			kill = cancel
			done := make(chan error, 1)
			go func() { done <- x1.Run(ctx) }()
			d.Drain("site-a")
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				cancel()
				t.Fatalf("the executor was not killed at %s", tc.step)
			}
			in, _ := e.ops.Instance(id)
			require.Equal(t, "site-a", in.SiteID, "still recorded on site-a after the kill")

			e.start(e.drainConfig("meo-2", d))
			in = e.onlyOn(id, "site-b", 60*time.Second)
			assert.True(t, in.Instantiated)
			assert.Equal(t, 1, e.ops.Relocations(id), "one relocation")
			var rec orchestratetest.OpRecord
			for i := 0; ; i++ {
				r, ok := e.ops.Get(fmt.Sprintf("%s-move-%d", id, i))
				if ok {
					rec = r
					break
				}
				require.Less(t, i, 100)
			}
			assert.Equal(t, orchestrate.Completed, rec.State)
			assert.Equal(t, 1, rec.Finishes, "finished once")
			assert.Equal(t, 2, rec.Claims)
			assert.Equal(t, []string{id}, b.vim.IDs(), "one copy, on site-b")
			assert.Equal(t, []string{id}, b.mepInstances(t))
			assert.Empty(t, a.vim.IDs(), "none left on site-a")
			assert.Empty(t, a.mepInstances(t))
			assert.Equal(t, 1, b.vim.Count(vimtest.OpDeploy, id), "VIM deploy calls on site-b")
			assert.LessOrEqual(t, a.vim.Count(vimtest.OpTerminate, id), 2, "VIM terminate calls on site-a")
		})
	}
}
