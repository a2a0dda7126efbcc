//go:build integration

package meo_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// post posts a lifecycle task and returns its op occurrence URL.
func post(t *testing.T, root, id, name, body string) string {
	t.Helper()
	st, b, h, err := try("POST", root+"/app_lcm/v1/app_instances/"+id+"/"+name, []byte(body))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, st, "%s: %s", name, b)
	return h.Get("Location")
}

// waitOp polls an op occurrence until it is in one of states.
func waitOp(t *testing.T, url string, d time.Duration, states ...string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		op := getJSON(t, url)
		for _, s := range states {
			if op["operationState"] == s {
				return op
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("op occurrence %v after %v, want %v: %v", op["operationState"], d, states, op)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A site whose MEP or VIM cannot be reached during an operation ends the op occurrence
// FAILED_TEMP with the reason, the site's own words; once the site is back, a retry through
// Mm1 takes it to COMPLETED, and the site then holds what the MEO says.
func TestUnreachableSiteRetry(t *testing.T) {
	tests := []struct {
		name string
		// down makes the site unreachable after the instance is created; up brings it back.
		down, up func(t *testing.T)
		// task is what runs while the site is down (after an instantiate for terminate).
		task, body string
		title      string
	}{
		{name: "mep stopped during terminate", task: "terminate", body: `{"terminationType":"FORCEFUL"}`, title: "mep unreachable"},
	}
	a := newLCMSite(t, "site-a", "kubernetes", "EDGEMEC_TESTBED_KUBECONFIG")
	tests[0].down, tests[0].up = func(*testing.T) { a.mep.Stop() }, func(*testing.T) { a.mep.Start() }

	m := startSiteMEO(t)
	a.register(t, m.root, "00a1", 4)
	onboardSample(t, m.root)

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, body, _, err := try("POST", m.root+"/app_lcm/v1/app_instances", []byte(`{"appDId":"mecapp","appInstanceName":"web"}`))
			require.NoError(t, err)
			require.Equal(t, http.StatusCreated, st, "%s", body)
			var inst map[string]any
			require.NoError(t, json.Unmarshal(body, &inst))
			id := inst["id"].(string)
			a.playApp(t, id)
			if tc.task == "terminate" {
				op := waitOp(t, post(t, m.root, id, "instantiate", `{"selectedMECHostInfo":[{"hostId":"site-a"}]}`), 3*time.Minute, "COMPLETED", "FAILED", "FAILED_TEMP")
				require.Equal(t, "COMPLETED", op["operationState"], "instantiate: %v", op)
			}

			tc.down(t)
			url := post(t, m.root, id, tc.task, tc.body)
			op := waitOp(t, url, 3*time.Minute, "COMPLETED", "FAILED", "FAILED_TEMP")
			tc.up(t)
			require.Equal(t, "FAILED_TEMP", op["operationState"], "with the site down: %v", op)
			e, _ := op["error"].(map[string]any)
			assert.Equal(t, tc.title, e["title"], "error %v", e)
			assert.NotEmpty(t, e["detail"])
			assert.Equal(t, http.StatusServiceUnavailable, int(e["status"].(float64)))

			// The executor retries on its own later; a client's retry runs it now (or finds it
			// already resumed).
			st, b, _, err := try("POST", url+"/retry", nil)
			require.NoError(t, err)
			require.Contains(t, []int{http.StatusAccepted, http.StatusConflict}, st, "retry: %s", b)
			op = waitOp(t, url, 3*time.Minute, "COMPLETED", "FAILED")
			require.Equal(t, "COMPLETED", op["operationState"], "after the retry: %v", op)

			inst = getJSON(t, m.root+"/app_lcm/v1/app_instances/"+id)
			onMEP := false
			for _, r := range a.mep.Instances(t) {
				onMEP = onMEP || r.AppInstanceId == id
			}
			_, err = a.adapter.Status(t.Context(), id)
			if tc.task == "terminate" {
				assert.Equal(t, "NOT_INSTANTIATED", inst["instantiationState"])
				assert.False(t, onMEP, "the MEP forgot the app")
				assert.ErrorIs(t, err, vim.ErrNotFound, "the workload is gone")
				return
			}
			assert.Equal(t, "INSTANTIATED", inst["instantiationState"])
			assert.True(t, onMEP, "the MEP knows the app")
			assert.NoError(t, err, "the workload runs")
		})
	}
}
