//go:build integration

package pgstore_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// A relocation through the LCM on the real store: the instance stays on its site, left out
// of the site's deployed tasks, and counts on both sites until the relocation completes;
// then it is on the new site only. A failed relocation leaves it where it was and shows as
// the resident's last failure. The drain progress is kept only while the site drains.
func TestRelocation(t *testing.T) {
	st, _, lc, _ := lcmStore(t)
	ctx := t.Context()
	for _, id := range []string{"a", "b"} {
		_, err := st.CreateSite(ctx, site(id, nil), time.Minute)
		require.NoError(t, err)
	}
	res := vim.Resources{MilliCPU: 500, MemoryBytes: 1 << 20}
	opID := instantiating(t, lc, 1)[0]
	_, err := lc.Claim(ctx, "meo-1", time.Minute, 10)
	require.NoError(t, err)
	require.NoError(t, lc.Placed(ctx, opID, "a", json.RawMessage(`{"chosen":{"siteId":"a","siteName":"Site a"}}`), res))
	require.NoError(t, lc.Finished(ctx, "meo-1", opID, orchestrate.Completed, nil, time.Time{}))
	op, err := lc.GetOp(ctx, opID)
	require.NoError(t, err)
	id := op.AppInstanceID

	_, err = lc.Relocate(ctx, id, "b")
	require.Error(t, err, "the instance is not on b")
	move, err := lc.Relocate(ctx, id, "a")
	require.NoError(t, err)
	_, err = lc.Relocate(ctx, id, "a")
	require.Error(t, err, "one op at a time")

	rs, err := lc.Residents(ctx, "a")
	require.NoError(t, err)
	require.Len(t, rs, 1)
	require.NotNil(t, rs[0].Active)
	assert.Equal(t, move, rs[0].Active.ID)
	assert.Equal(t, "a", rs[0].Active.RelocateFrom)
	assert.Equal(t, "app", rs[0].Placement.AppDID, "the placement request of its instantiate")
	deployed, err := lc.Deployed(ctx, "a")
	require.NoError(t, err)
	assert.Empty(t, deployed, "left out of site a's watcher while it moves")

	ops, err := lc.Claim(ctx, "meo-1", time.Minute, 10)
	require.NoError(t, err)
	require.Len(t, ops, 1)
	require.NotNil(t, ops[0].Relocation)
	assert.Equal(t, "a", ops[0].Relocation.From)
	assert.Equal(t, orchestrate.OpInstantiate, ops[0].Operation)
	assert.Equal(t, id, ops[0].Task.AppInstanceID)
	require.NoError(t, lc.Placed(ctx, move, "b", json.RawMessage(`{"chosen":{"siteId":"b","siteName":"Site b"}}`), res))
	in, err := lc.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "a", in.SiteID, "still on a while it moves")
	u, err := st.SiteUsage(ctx)
	require.NoError(t, err)
	assert.Equal(t, res, u["a"].Committed)
	assert.Equal(t, res, u["b"].Committed, "b counts it from the placement on")

	require.NoError(t, lc.Finished(ctx, "meo-1", move, orchestrate.Completed, nil, time.Time{}))
	in, err = lc.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "b", in.SiteID)
	assert.Equal(t, &store.HostInfo{HostID: "b", HostName: "Site b"}, in.MECHostInformation)
	assert.Equal(t, store.Instantiated, in.InstantiationState)
	assert.Equal(t, store.Started, in.InstantiatedAppState.OperationalState)
	u, err = st.SiteUsage(ctx)
	require.NoError(t, err)
	assert.NotContains(t, u, "a")
	assert.Equal(t, res, u["b"].Committed)
	deployed, err = lc.Deployed(ctx, "b")
	require.NoError(t, err)
	require.Len(t, deployed, 1)
	assert.Equal(t, move, deployed[0].ID)

	// A relocation that fails leaves the instance where it is.
	back, err := lc.Relocate(ctx, id, "b")
	require.NoError(t, err)
	_, err = lc.Claim(ctx, "meo-1", time.Minute, 10)
	require.NoError(t, err)
	require.NoError(t, lc.Finished(ctx, "meo-1", back, orchestrate.Failed, &problem.Details{Title: "no edge site fits", Status: 422,
		Detail: "no edge site fits: 1 site rejected\na: not schedulable (cordoned)"}, time.Time{}))
	in, err = lc.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "b", in.SiteID)
	rs, err = lc.Residents(ctx, "b")
	require.NoError(t, err)
	require.Len(t, rs, 1)
	assert.Nil(t, rs[0].Active)
	require.NotNil(t, rs[0].LastFailed)
	assert.Equal(t, back, rs[0].LastFailed.ID)

	// The drain progress is kept while the site drains only.
	require.NoError(t, st.SaveSiteDrain(ctx, "a", json.RawMessage(`{"pending":1}`)))
	got, err := st.SiteDrain(ctx, "a")
	require.NoError(t, err)
	assert.Nil(t, got, "not draining: nothing kept")
	_, err = st.Pool().Exec(ctx, `UPDATE sites SET draining = true, cordoned = true WHERE id = 'a'`)
	require.NoError(t, err)
	ids, err := st.DrainingSites(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, ids)
	require.NoError(t, st.SaveSiteDrain(ctx, "a", json.RawMessage(`{"pending":1}`)))
	all, err := st.SiteDrains(ctx, "a", "b")
	require.NoError(t, err)
	assert.JSONEq(t, `{"pending":1}`, string(all["a"]))
	require.NoError(t, st.ClearSiteDrain(ctx, "a"))
	got, err = st.SiteDrain(ctx, "a")
	require.NoError(t, err)
	assert.Nil(t, got)
}
