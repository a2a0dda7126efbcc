//go:build integration

package inventory_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo/internal/inventory"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fakeMEP is a real HTTP server answering the Mm5 GET app_instances of any number of sites
// (one path prefix per site), counting the calls per site.
type fakeMEP struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls map[string]int
}

const mepToken = "mep-operator-token"

func newFakeMEP(t *testing.T) *fakeMEP {
	f := &fakeMEP{calls: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		site, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if rest != "mepm/v1/app_instances" || r.Header.Get("Authorization") != "Bearer "+mepToken {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		f.calls[site]++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("[]"))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMEP) endpoint(site string) string { return f.srv.URL + "/" + site + "/mepm/v1" }

func (f *fakeMEP) reset() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = map[string]int{}
	return out
}

func kubeconfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(testutil.RequireEnv(t, "EDGEMEC_TESTBED_KUBECONFIG"))
	require.NoError(t, err)
	return string(b)
}

func box(t *testing.T, b byte) *inventory.Box {
	t.Helper()
	bx, err := inventory.NewBox(bytes.Repeat([]byte{b}, inventory.KeySize))
	require.NoError(t, err)
	return bx
}

// replica is one MEO replica's inventory on the shared database.
func replica(t *testing.T, dsn string, bx *inventory.Box, interval time.Duration) (*inventory.Service, *pgstore.Store) {
	t.Helper()
	st, err := pgstore.Open(t.Context(), dsn, pgstore.Config{})
	require.NoError(t, err)
	s, err := inventory.New(inventory.Config{Box: bx, Interval: interval, ProbeTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)}, st)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(); st.Close() })
	return s, st
}

func spec(id, endpoint, kc string) inventory.Spec {
	return inventory.Spec{ID: id, MEP: inventory.MEPSpec{Endpoint: endpoint, Token: mepToken},
		VIM: inventory.VIMSpec{Kind: vim.KindKubernetes, Kubeconfig: kc}}
}

// Two replicas on one database probe each site once per interval between them, not once each.
func TestReplicasProbeEachSiteOncePerInterval(t *testing.T) {
	kc := kubeconfig(t)
	mep := newFakeMEP(t)
	dsn := pgtest.New(t)
	const interval = time.Second
	a, _ := replica(t, dsn, box(t, 1), interval)
	b, _ := replica(t, dsn, box(t, 1), interval)
	const sites = 4
	for i := range sites {
		_, err := a.Register(t.Context(), spec(fmt.Sprintf("s%d", i), mep.endpoint(fmt.Sprintf("s%d", i)), kc))
		require.NoError(t, err)
	}
	require.Len(t, mep.reset(), sites, "registration checks each MEP")

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	start := time.Now()
	for _, s := range []*inventory.Service{a, b} {
		wg.Go(func() { _ = s.Run(ctx) })
	}
	time.Sleep(3500 * time.Millisecond)
	cancel()
	wg.Wait()
	took := time.Since(start)
	calls := mep.reset()
	for i := range sites {
		id := fmt.Sprintf("s%d", i)
		// Due at registration+1 s, then every second: 3 probes in 3.5 s, give or take one
		// for the tick; one probe per replica would make 6 or 7.
		require.GreaterOrEqual(t, calls[id], 2, "site %s probed %d times in %v", id, calls[id], took)
		require.LessOrEqual(t, calls[id], 4, "site %s probed %d times in %v", id, calls[id], took)
	}
	v, err := b.Get(t.Context(), "s0")
	require.NoError(t, err)
	require.True(t, *v.State.MEP.Reachable && *v.State.VIM.Reachable)
	require.WithinDuration(t, time.Now(), *v.State.MEP.CheckedAt, 2*time.Second)
}

// A replica whose key cannot open a site's secrets may still rename it, but not change its
// connection, and its probes say why they cannot reach the site.
func TestWrongKey(t *testing.T) {
	kc := kubeconfig(t)
	mep := newFakeMEP(t)
	dsn := pgtest.New(t)
	a, _ := replica(t, dsn, box(t, 1), time.Hour)
	b, st := replica(t, dsn, box(t, 2), time.Hour)
	_, err := a.Register(t.Context(), spec("s1", mep.endpoint("s1"), kc))
	require.NoError(t, err)

	name := "renamed"
	v, err := b.Update(t.Context(), "s1", inventory.Patch{Name: &name})
	require.NoError(t, err)
	require.Equal(t, "renamed", v.Name)

	mp1 := "http://10.0.0.1/mep"
	_, err = b.Update(t.Context(), "s1", inventory.Patch{MP1Endpoint: &mp1})
	require.ErrorIs(t, err, inventory.ErrNoKey)

	_, err = b.Connect(t.Context(), "s1")
	require.ErrorIs(t, err, inventory.ErrSecret)

	_, err = st.Pool().Exec(t.Context(), `UPDATE sites SET probe_due = now()`)
	require.NoError(t, err)
	b.Refresh(t.Context())
	v, err = a.Get(t.Context(), "s1")
	require.NoError(t, err)
	require.False(t, *v.State.MEP.Reachable)
	require.Contains(t, v.State.MEP.LastError, "cannot open secret")

	// The replica with the key still reaches it.
	s, err := a.Connect(t.Context(), "s1")
	require.NoError(t, err)
	_, err = s.VIM.Capabilities(t.Context())
	require.NoError(t, err)
}
