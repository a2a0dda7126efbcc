//go:build integration

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/inventory/record"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/mm1api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Placements made at once on one site by several MEO processes, each deciding on the same
// free capacity, commit one after the other under the site's lock and never overcommit it:
// those that no longer fit are refused with orchestrate.ErrNoCapacity (the executor then
// places them again). Pinned placements (no decision) are the operator's call and are not
// refused.
func TestPlacementNeverOvercommits(t *testing.T) {
	e := newLCMEnv(t)
	ctx := t.Context()
	e.onboardSample()
	_, err := e.st.CreateSite(ctx, &record.Site{ID: "cap-site", Name: "cap", Generation: 1,
		Location: placement.Location{Lat: 1, Lon: 2, CountryCode: "FR"},
		MEP:      record.MEP{Endpoint: "http://mep/mepm/v1"},
		VIM:      record.VIM{Kind: vim.KindKubernetes},
		Capacity: &vim.Capabilities{Kind: vim.KindKubernetes, Allocatable: vim.Resources{MilliCPU: 2000, MemoryBytes: 8 << 30, Pods: 110}},
	}, time.Hour)
	require.NoError(t, err)

	const n = 7 // 7 × 500m on 2000m: 4 fit
	for range n {
		cr, err := e.client.CreateAppInstanceWithResponse(ctx, mm1api.CreateAppInstanceRequest{AppDId: "mecapp"})
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, cr.StatusCode(), "%s", cr.Body)
		ir, err := e.client.InstantiateAppInstanceWithResponse(ctx, cr.JSON201.Id, mm1api.InstantiateAppRequest{})
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, ir.StatusCode(), "%s", ir.Body)
	}
	ops, err := e.lc.Claim(ctx, "meo-1", time.Minute, 2*n)
	require.NoError(t, err)
	require.Len(t, ops, n)

	decision := json.RawMessage(`{"chosen":{"siteId":"cap-site","siteName":"cap"}}`)
	need := vim.Resources{MilliCPU: 500, MemoryBytes: 128 << 20, Pods: 1}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = e.lc.Placed(ctx, op.ID, "cap-site", decision, need)
		}()
	}
	close(start)
	wg.Wait()
	placed := 0
	for i, err := range errs {
		switch {
		case err == nil:
			placed++
		default:
			require.ErrorIs(t, err, orchestrate.ErrNoCapacity, "op %s", ops[i].ID)
			assert.Contains(t, err.Error(), "cpu: needs 500m, 0m free")
			assert.Equal(t, mm1api.OperationState("STARTING"), e.op(ops[i].ID).OperationState, "a refused placement leaves the op as it was")
		}
	}
	assert.Equal(t, 4, placed, "placements that fit")
	usage, err := e.st.SiteUsage(ctx, "cap-site")
	require.NoError(t, err)
	assert.Equal(t, int64(2000), usage["cap-site"].Committed.MilliCPU, "committed on the site")

	// Placing an op again on the site it is placed on (a resumed run) does not count it twice.
	for i, err := range errs {
		if err == nil {
			require.NoError(t, e.lc.Placed(ctx, ops[i].ID, "cap-site", decision, need))
			break
		}
	}
	// A pinned placement is taken as it comes.
	for i, err := range errs {
		if err != nil {
			require.NoError(t, e.lc.Placed(ctx, ops[i].ID, "cap-site", nil, need))
			break
		}
	}
}
