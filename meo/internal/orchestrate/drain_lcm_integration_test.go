//go:build integration

package orchestrate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo"
	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/inventory"
	"github.com/edgemec/edgemec/meo/internal/inventory/record"
	"github.com/edgemec/edgemec/meo/internal/lcm"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/pkgm/pkgmtest"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

// dbSites is orchestrate.Sites over the inventory's records in PostgreSQL (cordons, usage)
// with the sites reached through real MEPs and fake VIMs.
type dbSites struct {
	st    *pgstore.Store
	mu    sync.Mutex
	conns map[string]reconcile.Site
}

func (s *dbSites) add(id string, site reconcile.Site) {
	s.mu.Lock()
	s.conns[id] = site
	s.mu.Unlock()
}

func (s *dbSites) Placement(ctx context.Context, ids ...string) ([]placement.Site, error) {
	usage, err := s.st.SiteUsage(ctx)
	if err != nil {
		return nil, err
	}
	var out []placement.Site
	for _, id := range s.ids() {
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		r, err := s.st.GetSite(ctx, id)
		if err != nil {
			return nil, err
		}
		conn, _ := s.Connect(ctx, id)
		caps, err := conn.VIM.Capabilities(ctx)
		out = append(out, placement.Site{ID: id, Name: r.Name, Schedulable: !r.Cordoned, MEPReachable: true, VIMReachable: err == nil,
			VIMKind: caps.Kind, Capabilities: caps, Committed: usage[id].Committed, Instances: usage[id].Instances})
	}
	return out, nil
}

func (s *dbSites) Connect(_ context.Context, id string) (reconcile.Site, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	if !ok {
		return reconcile.Site{}, fmt.Errorf("site %s unknown", id)
	}
	return c, nil
}

func (s *dbSites) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *dbSites) IDs(context.Context) ([]string, error) { return s.ids(), nil }

// lcmDrains is meo's wiring of orchestrate.Drains: the inventory and the LCM.
type lcmDrains struct {
	*inventory.Service
	lc *lcm.Service
}

func (d lcmDrains) Residents(ctx context.Context, id string) ([]orchestrate.Resident, error) {
	return d.lc.Residents(ctx, id)
}

func (d lcmDrains) Relocate(ctx context.Context, id, from string) (string, error) {
	return d.lc.Relocate(ctx, id, from)
}

// The drain through the real LCM, store and inventory: the relocation is an INSTANTIATE op
// occurrence of the instance with operationParams.relocation, COMPLETED; the instance is on
// site-b (mecHostInformation), runs and is READY there only; site-a holds no instance, no
// workload and no MEP instance, and its state.drain says one moved.
func TestDrainThroughTheLCM(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	st, err := pgstore.Open(ctx, pgtest.New(t), pgstore.Config{LCMRouter: lcm.Router("http://meo")})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	pk := pkgm.New(pkgm.Config{APIRoot: "http://meo", Reader: meo.PackageReader(apppkg.DefaultLimits())}, st, log)
	t.Cleanup(pk.Close)
	content := pkgmtest.Package("app", "app")
	p, err := pk.Create(ctx, pkgm.CreateInput{AppPkgName: "app", AppPkgVersion: "1",
		Checksum: store.Checksum{Algorithm: "SHA-256", Hash: pkgmtest.SHA256(content)}})
	require.NoError(t, err)
	require.NoError(t, pk.Upload(ctx, p.ID, bytes.NewReader(content)))
	lc := lcm.New(lcm.Config{Apps: meo.PackageApp}, st, log)
	inv, err := inventory.New(inventory.Config{Logger: log}, st)
	require.NoError(t, err)

	sites := &dbSites{st: st, conns: map[string]reconcile.Site{}}
	type siteProcs struct {
		mep *meptest.Proc
		vim *vimtest.Fake
	}
	procs := map[string]siteProcs{}
	addSite := func(id string) {
		_, err := st.CreateSite(ctx, &record.Site{ID: id, Name: id, Generation: 1, MEP: record.MEP{Endpoint: "http://mep/mepm/v1"},
			VIM: record.VIM{Kind: vim.KindKubernetes}}, time.Hour)
		require.NoError(t, err)
		m := meptest.Start(t, meptest.Options{})
		f := vimtest.New(vimtest.Config{Site: id, Nodes: node(8000)})
		meptest.RunApps(t, f, func(iid string) (vim.DeployRequest, bool) {
			in, ok := f.Instance(iid)
			return in.Request, ok
		})
		sites.add(id, reconcile.Site{Name: id, MEP: m.Client(t), VIM: f})
		procs[id] = siteProcs{mep: m, vim: f}
	}
	addSite("site-a")

	e := newEnv(t)
	cfg := e.config("meo-1")
	cfg.Ops, cfg.Sites, cfg.Journal, cfg.Leases = lc, sites, st.Journal(), st.Leases()
	cfg.Drains = lcmDrains{inv, lc}
	e.start(cfg)

	in, err := lc.Create(ctx, lcm.CreateInput{AppDID: "app"})
	require.NoError(t, err)
	id := in.ID
	op, err := lc.Instantiate(ctx, id, lcm.InstantiateInput{})
	require.NoError(t, err)
	waitOp := func(opID string) *store.OpOcc {
		t.Helper()
		var o *store.OpOcc
		require.Eventually(t, func() bool {
			o, err = lc.GetOp(ctx, opID)
			require.NoError(t, err)
			return o.OperationState == store.OpCompleted || o.OperationState == store.OpFailed
		}, 60*time.Second, 50*time.Millisecond)
		require.Equal(t, store.OpCompleted, o.OperationState, "error %+v", o.Error)
		return o
	}
	waitOp(op.ID)

	addSite("site-b")
	_, err = inv.Drain(ctx, "site-a")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		in, err = lc.Get(ctx, id)
		require.NoError(t, err)
		return in.SiteID == "site-b"
	}, 60*time.Second, 50*time.Millisecond, "moved to site-b")
	assert.Equal(t, &store.HostInfo{HostID: "site-b", HostName: "site-b"}, in.MECHostInformation)
	assert.Equal(t, store.Instantiated, in.InstantiationState)

	page, err := lc.ListOps(ctx, store.LCMListQuery{})
	require.NoError(t, err)
	require.Len(t, page.Ops, 2)
	move := page.Ops[1]
	assert.Equal(t, store.OpInstantiate, move.LcmOperation)
	assert.Equal(t, store.OpCompleted, move.OperationState)
	assert.Equal(t, id, move.AppInstanceID)
	assert.Equal(t, "site-b", move.SiteID)
	var params struct {
		Relocation struct {
			From string `json:"fromSiteId"`
		} `json:"relocation"`
	}
	require.NoError(t, json.Unmarshal(move.OperationParams, &params))
	assert.Equal(t, "site-a", params.Relocation.From)

	assert.Equal(t, []string{id}, procs["site-b"].vim.IDs())
	recs := procs["site-b"].mep.Instances(t)
	require.Len(t, recs, 1)
	assert.Equal(t, mm5api.READY, recs[0].State)
	assert.Empty(t, procs["site-a"].vim.IDs(), "no workload on site-a")
	assert.Empty(t, procs["site-a"].mep.Instances(t), "no MEP instance on site-a")

	require.Eventually(t, func() bool {
		v, err := inv.Get(ctx, "site-a")
		require.NoError(t, err)
		var d orchestrate.DrainStatus
		return len(v.State.Instances) == 0 && len(v.State.Drain) > 0 && json.Unmarshal(v.State.Drain, &d) == nil && d.Pending == 0 && d.Moved == 1
	}, 10*time.Second, 50*time.Millisecond, "site-a: no instance, state.drain moved 1")
	v, err := inv.Uncordon(ctx, "site-a")
	require.NoError(t, err)
	assert.Empty(t, v.State.Drain, "no drain progress once uncordoned")
}
