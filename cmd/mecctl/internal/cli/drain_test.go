package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/edgemec/edgemec/meo/meoapi"
)

// drainingSite serves one site of the inventory API whose drain progresses by a script:
// each GET after the drain takes the next step (the last one repeats).
type drainingSite struct {
	mu    sync.Mutex
	site  meoapi.Site
	steps []func(s *meoapi.Site, state map[string]any)
	gets  int
}

func (d *drainingSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	base := "/inventory/v1/sites/" + d.site.Id
	state := map[string]any{}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == base+"/drain":
		d.site.State.Schedulable, d.site.State.Draining = false, true
	case r.Method == http.MethodGet && r.URL.Path == base:
		if d.site.State.Draining && len(d.steps) > 0 {
			d.steps[min(d.gets, len(d.steps)-1)](&d.site, state)
			d.gets++
		}
	default:
		http.NotFound(w, r)
		return
	}
	b, _ := json.Marshal(d.site)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k, v := range state {
		m["state"].(map[string]any)[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(m)
}

func newDrainingSite(t *testing.T, steps ...func(s *meoapi.Site, state map[string]any)) env {
	t.Helper()
	yes := true
	s := meoapi.Site{Id: "edge-1", Name: "edge-1", Created: applied, Updated: applied, Labels: meoapi.Labels{}}
	s.Vim.Kind = "kubernetes"
	s.State.Schedulable, s.State.Mep.Reachable, s.State.Vim.Reachable = true, &yes, &yes
	s.State.Instances = &map[string]int{"mecapp": 2}
	srv := httptest.NewServer(&drainingSite{site: s, steps: steps})
	t.Cleanup(srv.Close)
	e := newEnv(t)
	ok(t, e, "", "config", "set-context", "lab", "--meo", srv.URL, "--token", "meo-token")
	return e
}

func instances(n int) func(s *meoapi.Site, state map[string]any) {
	return func(s *meoapi.Site, state map[string]any) {
		s.State.Instances = &map[string]int{"mecapp": n}
		if n == 0 {
			s.State.Instances = &map[string]int{}
		}
		state["drain"] = map[string]any{"pending": n, "moved": 2 - n,
			"moving": []map[string]any{{"appInstanceId": "i-1", "appLcmOpOccId": "op-1", "operationState": "PROCESSING"}}}
	}
}

func TestSiteDrainWait(t *testing.T) {
	t.Run("drained", func(t *testing.T) {
		e := newDrainingSite(t, instances(2), instances(1), instances(0))
		r := run(t, e, "", "site", "drain", "edge-1", "--wait", "--interval", "10ms", "--timeout", "10s")
		assert.Equal(t, 0, r.code, r.err)
		assert.Contains(t, r.err, "site/edge-1 2 instance(s) on the site, 1 moving, 0 moved, 0 stuck\n")
		assert.Contains(t, r.err, "site/edge-1 1 instance(s) on the site, 1 moving, 1 moved, 0 stuck\n")
		assert.Contains(t, r.err, "site/edge-1 drained\n")
		assert.Regexp(t, `(?m)^edge-1\s+edge-1\s+kubernetes\s+Draining\s+reachable\s+reachable\s+0$`, r.out)
	})
	t.Run("stuck at the timeout", func(t *testing.T) {
		e := newDrainingSite(t, func(s *meoapi.Site, state map[string]any) {
			state["drain"] = map[string]any{"pending": 2, "moved": 0,
				"moving": []map[string]any{{"appInstanceId": "i-2", "appLcmOpOccId": "op-2", "operationState": "FAILED_TEMP",
					"reasons": []string{"site-b: unhealthy: MEP unreachable"}}},
				"stuck": []map[string]any{{"appInstanceId": "i-1", "reasons": []string{"site-b: cpu: needs 2000m, 1200m free",
					"site-c: location: not in area 00a1"}}}}
		})
		r := run(t, e, "", "site", "drain", "edge-1", "--wait", "--interval", "10ms", "--timeout", "300ms")
		assert.Equal(t, ExitTimeout, r.code, r.err)
		assert.Contains(t, r.err, "site/edge-1: app instance i-1 stays:\n  site-b: cpu: needs 2000m, 1200m free\n  site-c: location: not in area 00a1\n")
		assert.Contains(t, r.err, "site/edge-1: app instance i-2 moving (op occurrence op-2, FAILED_TEMP): site-b: unhealthy: MEP unreachable\n")
		assert.Contains(t, r.err, "timed out waiting for the drain of site edge-1")
		assert.Empty(t, r.out)
	})
	t.Run("uncordoned meanwhile", func(t *testing.T) {
		e := newDrainingSite(t, instances(2), func(s *meoapi.Site, state map[string]any) {
			s.State.Schedulable, s.State.Draining = true, false
		})
		r := run(t, e, "", "site", "drain", "edge-1", "--wait", "--interval", "10ms", "--timeout", "10s")
		assert.Equal(t, ExitRefused, r.code, r.err)
		assert.True(t, strings.Contains(r.err, "the site no longer drains"), r.err)
	})
	t.Run("without --wait", func(t *testing.T) {
		e := newDrainingSite(t, instances(2))
		out := ok(t, e, "", "site", "drain", "edge-1")
		assert.Regexp(t, `(?m)^edge-1\s+edge-1\s+kubernetes\s+Draining\s+reachable\s+reachable\s+2$`, out)
	})
}
