//go:build integration

package pgstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo/internal/inventory/record"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

func openSites(t *testing.T) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(t.Context(), pgtest.New(t), pgstore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func site(id string, labels map[string]string) *record.Site {
	return &record.Site{ID: id, Name: "Site " + id, Labels: labels, Generation: 1,
		Location: placement.Location{Lat: 1, Lon: 2, CountryCode: "FR",
			ServedAreas: []placement.ServedArea{{Area: placement.Area{TAC: "00a1"}, LatencyMs: 3}}},
		MEP: record.MEP{Endpoint: "http://mep/mepm/v1", Token: &record.Sealed{KeyID: "k1", Nonce: []byte{1, 2}, Ciphertext: []byte{3}, Fingerprint: "sha256:ab"}},
		VIM: record.VIM{Kind: vim.KindKubernetes, Kubeconfig: &record.Sealed{KeyID: "k1", Nonce: []byte{4}, Ciphertext: []byte{5}, Fingerprint: "sha256:cd"}}}
}

func TestSitesCRUD(t *testing.T) {
	s := openSites(t)
	ctx := t.Context()
	in := site("a", map[string]string{"zone": "z1"})
	in.Capacity = &vim.Capabilities{Kind: vim.KindKubernetes, Allocatable: vim.Resources{MilliCPU: 4000}}
	got, err := s.CreateSite(ctx, in, time.Minute)
	require.NoError(t, err)
	require.Equal(t, in.Location, got.Location)
	require.Equal(t, in.MEP.Token, got.MEP.Token)
	require.Equal(t, in.VIM.Kubeconfig, got.VIM.Kubeconfig)
	require.Equal(t, int64(4000), got.Capacity.Allocatable.MilliCPU)
	require.NotZero(t, got.Pos)

	_, err = s.CreateSite(ctx, site("a", nil), time.Minute)
	require.ErrorIs(t, err, store.ErrConflict)

	_, err = s.GetSite(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	up, err := s.UpdateSite(ctx, "a", func(r *record.Site) error {
		r.Cordoned, r.Draining, r.Name = true, true, "renamed"
		r.MEP.Token = nil
		return nil
	})
	require.NoError(t, err)
	require.True(t, up.Cordoned && up.Draining)
	require.Equal(t, "renamed", up.Name)
	require.Nil(t, up.MEP.Token)
	require.True(t, up.Updated.After(got.Updated) || up.Updated.Equal(got.Updated))

	boom := errors.New("boom")
	_, err = s.UpdateSite(ctx, "a", func(r *record.Site) error { r.Name = "lost"; return boom })
	require.ErrorIs(t, err, boom)
	again, err := s.GetSite(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "renamed", again.Name, "a failed change writes nothing")

	_, err = s.UpdateSite(ctx, "nope", func(*record.Site) error { return nil })
	require.ErrorIs(t, err, store.ErrNotFound)

	ids, err := s.SiteIDs(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, ids)

	require.NoError(t, s.DeleteSite(ctx, "a"))
	require.ErrorIs(t, s.DeleteSite(ctx, "a"), store.ErrNotFound)
}

func TestListSitesPagesAndLabels(t *testing.T) {
	s := openSites(t)
	ctx := t.Context()
	for i := range 5 {
		zone := "even"
		if i%2 == 1 {
			zone = "odd"
		}
		_, err := s.CreateSite(ctx, site(fmt.Sprintf("s%d", i), map[string]string{"zone": zone, "tier": "edge"}), time.Minute)
		require.NoError(t, err)
	}
	var ids []string
	q := record.ListQuery{Limit: 2}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 4)
		p, err := s.ListSites(ctx, q)
		require.NoError(t, err)
		for _, r := range p.Sites {
			ids = append(ids, r.ID)
		}
		if p.Next == 0 {
			break
		}
		q.After = p.Next
	}
	require.Equal(t, []string{"s0", "s1", "s2", "s3", "s4"}, ids)

	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   []string
	}{
		{"one label", map[string]string{"zone": "odd"}, []string{"s1", "s3"}},
		{"two labels", map[string]string{"zone": "even", "tier": "edge"}, []string{"s0", "s2", "s4"}},
		{"no match", map[string]string{"zone": "none"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.ListSites(ctx, record.ListQuery{Labels: tc.labels})
			require.NoError(t, err)
			var got []string
			for _, r := range p.Sites {
				got = append(got, r.ID)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func insertInstance(t *testing.T, s *pgstore.Store, id, appD, siteID, resources string) {
	t.Helper()
	_, err := s.Pool().Exec(t.Context(), `INSERT INTO app_instances (id, app_d_id, app_pkg_id, instantiation_state, site_id, resources, doc)
		VALUES ($1, $2, 'pkg', 'INSTANTIATED', $3, $4, '{}')`, id, appD, siteID, resources)
	require.NoError(t, err)
}

func TestSiteUsageAndDeleteInUse(t *testing.T) {
	s := openSites(t)
	ctx := t.Context()
	for _, id := range []string{"a", "b"} {
		_, err := s.CreateSite(ctx, site(id, nil), time.Minute)
		require.NoError(t, err)
	}
	insertInstance(t, s, "i1", "app1", "a", `{"milliCPU": 500, "memoryBytes": 1048576, "pods": 1}`)
	insertInstance(t, s, "i2", "app1", "a", `{"milliCPU": 250, "memoryBytes": 1024}`)
	insertInstance(t, s, "i3", "app2", "a", `{"milliCPU": 1000, "memoryBytes": 0, "pods": 2}`)
	_, err := s.Pool().Exec(ctx, `INSERT INTO app_instances (id, app_d_id, app_pkg_id, instantiation_state, doc)
		VALUES ('i4', 'app1', 'pkg', 'NOT_INSTANTIATED', '{}')`)
	require.NoError(t, err)

	u, err := s.SiteUsage(ctx)
	require.NoError(t, err)
	require.Equal(t, vim.Resources{MilliCPU: 1750, MemoryBytes: 1049600, Pods: 3}, u["a"].Committed)
	require.Equal(t, map[string]int{"app1": 2, "app2": 1}, u["a"].Instances)
	require.NotContains(t, u, "b")
	only, err := s.SiteUsage(ctx, "b")
	require.NoError(t, err)
	require.Empty(t, only, "usage of the sites named only")
	only, err = s.SiteUsage(ctx, "a", "b")
	require.NoError(t, err)
	require.Equal(t, u, only)

	err = s.DeleteSite(ctx, "a")
	require.ErrorIs(t, err, record.ErrInUse)
	require.ErrorContains(t, err, "3 app instances")
	_, err = s.GetSite(ctx, "a")
	require.NoError(t, err, "a site in use stays")
	require.NoError(t, s.DeleteSite(ctx, "b"))
}

// Replicas claiming at once each get a disjoint share of the due sites, and a claimed site is
// not due again before the interval.
func TestClaimProbesOncePerInterval(t *testing.T) {
	s := openSites(t)
	ctx := t.Context()
	const n = 40
	for i := range n {
		_, err := s.CreateSite(ctx, site(fmt.Sprintf("s%02d", i), nil), 0)
		require.NoError(t, err)
	}
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		wg     sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				got, err := s.ClaimProbes(ctx, 3, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, r := range got {
					counts[r.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, counts, n)
	for id, c := range counts {
		require.Equal(t, 1, c, "site %s claimed %d times", id, c)
	}
	got, err := s.ClaimProbes(ctx, 100, time.Hour)
	require.NoError(t, err)
	require.Empty(t, got, "nothing is due before the interval")
}

func TestSaveProbe(t *testing.T) {
	s := openSites(t)
	ctx := t.Context()
	in := site("a", nil)
	in.Capacity = &vim.Capabilities{Allocatable: vim.Resources{MilliCPU: 1000}}
	_, err := s.CreateSite(ctx, in, 0)
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Millisecond)
	yes, no := true, false

	counts, err := s.SiteHealth(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"unknown": 1}, counts)

	// A probe that reached both sides stores health and capacity.
	require.NoError(t, s.SaveProbe(ctx, "a", 1, record.Probe{At: now,
		MEP:      record.Health{Reachable: &yes, LastSeen: &now, CheckedAt: &now},
		VIM:      record.Health{Reachable: &yes, LastSeen: &now, CheckedAt: &now},
		Capacity: &vim.Capabilities{Allocatable: vim.Resources{MilliCPU: 2000}}}))
	got, err := s.GetSite(ctx, "a")
	require.NoError(t, err)
	require.True(t, *got.MEPHealth.Reachable)
	require.Equal(t, int64(2000), got.Capacity.Allocatable.MilliCPU)
	require.WithinDuration(t, now, *got.CapacityAt, time.Millisecond)
	counts, err = s.SiteHealth(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"healthy": 1}, counts)

	// A probe where the VIM failed keeps the last capacity.
	later := now.Add(time.Second)
	require.NoError(t, s.SaveProbe(ctx, "a", 1, record.Probe{At: later,
		MEP: record.Health{Reachable: &yes, LastSeen: &later, CheckedAt: &later},
		VIM: record.Health{Reachable: &no, LastSeen: &now, LastError: "vim: boom", CheckedAt: &later}}))
	got, err = s.GetSite(ctx, "a")
	require.NoError(t, err)
	require.False(t, *got.VIMHealth.Reachable)
	require.Equal(t, "vim: boom", got.VIMHealth.LastError)
	require.Equal(t, int64(2000), got.Capacity.Allocatable.MilliCPU)
	require.WithinDuration(t, now, *got.CapacityAt, time.Millisecond)
	counts, err = s.SiteHealth(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"unreachable": 1}, counts)

	// A probe of older connection settings is dropped.
	_, err = s.UpdateSite(ctx, "a", func(r *record.Site) error { r.Generation = 2; return nil })
	require.NoError(t, err)
	require.NoError(t, s.SaveProbe(ctx, "a", 1, record.Probe{At: later, MEP: record.Health{Reachable: &no, LastError: "stale"}}))
	got, err = s.GetSite(ctx, "a")
	require.NoError(t, err)
	require.True(t, *got.MEPHealth.Reachable, "stale probe ignored")
}
