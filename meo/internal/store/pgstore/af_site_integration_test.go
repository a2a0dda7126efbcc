//go:build integration

package pgstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/store"
)

// SteeringOfSite returns the records of one site's instances only, by instance id, and
// none for a site without any.
func TestSteeringOfSite(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	for _, r := range []struct{ inst, site string }{{"inst-b", "site-1"}, {"inst-a", "site-1"}, {"inst-c", "site-2"}} {
		require.NoError(t, s.UpdateSteering(ctx, r.inst, func(cur *store.Steering) (*store.Steering, error) {
			require.Nil(t, cur)
			return &store.Steering{AppInstanceID: r.inst, SiteID: r.site, Doc: []byte(`{"state":"ACTIVE"}`),
				View: []byte(`{}`), Due: time.Now().Add(time.Hour)}, nil
		}))
	}
	got, err := s.SteeringOfSite(ctx, "site-1")
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "inst-a", got[0].AppInstanceID)
	assert.Equal(t, "inst-b", got[1].AppInstanceID)
	assert.Equal(t, "site-1", got[0].SiteID)
	assert.JSONEq(t, `{"state":"ACTIVE"}`, string(got[0].Doc))

	got, err = s.SteeringOfSite(ctx, "site-9")
	require.NoError(t, err)
	assert.Empty(t, got)
}
