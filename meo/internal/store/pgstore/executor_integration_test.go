//go:build integration

package pgstore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
)

func openStore(t *testing.T) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(t.Context(), pgtest.New(t), pgstore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// The journal keeps what the reconciler saves, across Journal values (processes) on one
// database, and a task never saved loads as the zero Progress.
func TestJournal(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	j := s.Journal()

	p, err := j.Load(ctx, "op-none")
	require.NoError(t, err)
	assert.Equal(t, reconcile.Progress{}, p)

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := reconcile.Progress{Kind: reconcile.KindInstantiate, AppInstanceID: "web-1", Done: reconcile.StepVIMDeployed,
		Attempts: 2, Outcome: reconcile.FailedTemp, Updated: at,
		Failure: &reconcile.Failure{Step: reconcile.StepVIMRunning, Temporary: true, Title: "vim unavailable", Detail: "site down", Status: 503}}
	require.NoError(t, j.Save(ctx, "op-1", want))
	got, err := pgstore.NewJournal(s.Pool()).Load(ctx, "op-1")
	require.NoError(t, err)
	assert.Equal(t, want, got)

	want.Done, want.Outcome, want.Failure = reconcile.StepMEPReady, reconcile.Completed, nil
	require.NoError(t, j.Save(ctx, "op-1", want))
	got, err = j.Load(ctx, "op-1")
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.True(t, got.Finished())

	require.NoError(t, j.Delete(ctx, "op-1"))
	got, err = j.Load(ctx, "op-1")
	require.NoError(t, err)
	assert.Equal(t, reconcile.Progress{}, got)
}

// A reconciler run against the PostgreSQL journal resumes a finished task without
// touching the site (the site here has no MEP or VIM at all).
func TestJournalFinishedTaskSkipsSite(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	task := reconcile.Task{ID: "op-2", Kind: reconcile.KindTerminate, AppInstanceID: "web-2"}
	require.NoError(t, s.Journal().Save(ctx, task.ID, reconcile.Progress{Kind: task.Kind, AppInstanceID: task.AppInstanceID,
		Done: reconcile.StepVIMGone, Outcome: reconcile.Completed}))
	p, err := reconcile.New(s.Journal(), reconcile.Config{}).Run(ctx, reconcile.Site{Name: "nowhere"}, task)
	require.NoError(t, err)
	assert.Equal(t, reconcile.Completed, p.Outcome)
}

func TestLeases(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	l := s.Leases()
	sites := []string{"site-c", "site-a", "site-b", "site-a"}

	tests := []struct {
		name   string
		holder string
		sites  []string
		d      time.Duration
		want   []string
	}{
		{"first holder takes every free site", "meo-1", sites, time.Minute, []string{"site-a", "site-b", "site-c"}},
		{"second holder gets none of them", "meo-2", sites, time.Minute, nil},
		{"second holder takes a new site", "meo-2", []string{"site-b", "site-d"}, time.Minute, []string{"site-d"}},
		{"first holder renews its own", "meo-1", []string{"site-a", "site-d"}, time.Minute, []string{"site-a"}},
		{"nothing asked, nothing held", "meo-1", nil, time.Minute, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.Acquire(ctx, tc.holder, tc.sites, tc.d)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	h, err := l.Holders(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"site-a": "meo-1", "site-b": "meo-1", "site-c": "meo-1", "site-d": "meo-2"}, h)

	// Release of some, then of all: the other holder takes them at once.
	require.NoError(t, l.Release(ctx, "meo-1", []string{"site-b"}))
	got, err := l.Acquire(ctx, "meo-2", sites, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, []string{"site-b"}, got)
	require.NoError(t, l.Release(ctx, "meo-1", nil))
	got, err = l.Acquire(ctx, "meo-2", sites, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, []string{"site-a", "site-b", "site-c"}, got)
}

// A lapsed lease goes to the next holder that asks; the old holder cannot renew it then.
func TestLeaseLapses(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	l := s.Leases()
	got, err := l.Acquire(ctx, "meo-1", []string{"site-a"}, 300*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, []string{"site-a"}, got)
	got, err = l.Acquire(ctx, "meo-2", []string{"site-a"}, time.Minute)
	require.NoError(t, err)
	require.Empty(t, got, "taken while the lease runs")

	time.Sleep(400 * time.Millisecond)
	got, err = l.Acquire(ctx, "meo-2", []string{"site-a"}, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, []string{"site-a"}, got, "lapsed lease not taken over")
	got, err = l.Acquire(ctx, "meo-1", []string{"site-a"}, time.Minute)
	require.NoError(t, err)
	assert.Empty(t, got, "the old holder renewed a lease it lost")
}

// Holders racing for the same lapsed leases never hold one site at the same time: each
// round, each site is won by exactly one holder.
func TestLeasesExclusive(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	l := s.Leases()
	sites := make([]string, 20)
	for i := range sites {
		sites[i] = fmt.Sprintf("site-%02d", i)
	}
	const holders, rounds = 6, 15
	for round := range rounds {
		// Every lease of the last round lapses, so every site is up for grabs.
		_, err := s.Pool().Exec(ctx, "UPDATE site_leases SET lease_until = now() - interval '1 second'")
		require.NoError(t, err)
		won := make([][]string, holders)
		var wg sync.WaitGroup
		for h := range holders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := l.Acquire(ctx, fmt.Sprintf("meo-%d", h), sites, time.Minute)
				assert.NoError(t, err)
				won[h] = got
			}()
		}
		wg.Wait()
		count := map[string]int{}
		for _, w := range won {
			for _, id := range w {
				count[id]++
			}
		}
		for _, id := range sites {
			require.Equal(t, 1, count[id], "round %d: site %s won by %d holders", round, id, count[id])
		}
	}
}
