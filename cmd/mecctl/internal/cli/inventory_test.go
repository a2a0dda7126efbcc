package cli

import (
	"context"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/meoapi"
)

// inventory is the MEO's inventory API as its generated server (meoapi) serves it, over
// sites held in memory: registering a real site needs a reachable VIM, which these tests do
// not run (meo/internal/inventory has those tests). It pages one site at a time, so that
// the lists follow the Link header.
type inventory struct {
	mu    sync.Mutex
	sites map[string]meoapi.Site
}

var _ meoapi.StrictServerInterface = (*inventory)(nil)

func notFound(id string) meoapi.NotFoundApplicationProblemPlusJSONResponse {
	st, d := 404, "site "+id+" is not registered"
	return meoapi.NotFoundApplicationProblemPlusJSONResponse{Status: &st, Detail: &d}
}

func (v *inventory) ListSites(_ context.Context, r meoapi.ListSitesRequestObject) (meoapi.ListSitesResponseObject, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var ids []string
	for id, s := range v.sites {
		if sel := r.Params.LabelSelector; sel != nil {
			k, val, _ := strings.Cut(*sel, "=")
			if s.Labels[k] != val {
				continue
			}
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	after := ""
	if r.Params.NextpageOpaqueMarker != nil {
		after = *r.Params.NextpageOpaqueMarker
	}
	var page []meoapi.Site
	var link *string
	for _, id := range ids {
		if id <= after {
			continue
		}
		if len(page) == 1 {
			l := `</inventory/v1/sites?nextpage_opaque_marker=` + page[0].Id + `>; rel="next"`
			link = &l
			break
		}
		page = append(page, v.sites[id])
	}
	return meoapi.ListSites200JSONResponse{Body: nonNil(page), Headers: meoapi.ListSites200ResponseHeaders{Link: link}}, nil
}

func (v *inventory) RegisterSite(_ context.Context, r meoapi.RegisterSiteRequestObject) (meoapi.RegisterSiteResponseObject, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	id := str(r.Body.Id)
	s := meoapi.Site{Id: id, Name: strOr(r.Body.Name, id), Created: applied, Updated: applied, Labels: meoapi.Labels{}}
	if r.Body.Labels != nil {
		s.Labels = *r.Body.Labels
	}
	if r.Body.Mep != nil {
		s.Mep.Endpoint = str(r.Body.Mep.Endpoint)
		s.Mep.Token = meoapi.Secret{Set: r.Body.Mep.Token != nil}
	}
	if r.Body.Vim != nil && r.Body.Vim.Kind != nil {
		s.Vim.Kind = string(*r.Body.Vim.Kind)
		s.Vim.Kubeconfig = &meoapi.Secret{Set: r.Body.Vim.Kubeconfig != nil}
	}
	yes := true
	milli := int64(250)
	s.State.Schedulable, s.State.Mep.Reachable, s.State.Vim.Reachable = true, &yes, &yes
	s.State.Committed.MilliCPU = &milli
	s.State.Instances = &map[string]int{"mecapp": 2}
	v.sites[id] = s
	return meoapi.RegisterSite201JSONResponse{Body: s}, nil
}

func (v *inventory) DeleteSite(_ context.Context, r meoapi.DeleteSiteRequestObject) (meoapi.DeleteSiteResponseObject, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.sites[r.SiteId]; !ok {
		return meoapi.DeleteSite404ApplicationProblemPlusJSONResponse{NotFoundApplicationProblemPlusJSONResponse: notFound(r.SiteId)}, nil
	}
	delete(v.sites, r.SiteId)
	return meoapi.DeleteSite204Response{}, nil
}

func (v *inventory) GetSite(_ context.Context, r meoapi.GetSiteRequestObject) (meoapi.GetSiteResponseObject, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.sites[r.SiteId]
	if !ok {
		return meoapi.GetSite404ApplicationProblemPlusJSONResponse{NotFoundApplicationProblemPlusJSONResponse: notFound(r.SiteId)}, nil
	}
	return meoapi.GetSite200JSONResponse(s), nil
}

func (v *inventory) UpdateSite(context.Context, meoapi.UpdateSiteRequestObject) (meoapi.UpdateSiteResponseObject, error) {
	return meoapi.UpdateSite409ApplicationProblemPlusJSONResponse{}, nil
}

func (v *inventory) set(id string, f func(*meoapi.Site)) meoapi.SiteJSONResponse {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.sites[id]
	f(&s)
	v.sites[id] = s
	return meoapi.SiteJSONResponse(s)
}

func (v *inventory) CordonSite(_ context.Context, r meoapi.CordonSiteRequestObject) (meoapi.CordonSiteResponseObject, error) {
	return meoapi.CordonSite200JSONResponse{SiteJSONResponse: v.set(r.SiteId, func(s *meoapi.Site) { s.State.Schedulable = false })}, nil
}

func (v *inventory) DrainSite(_ context.Context, r meoapi.DrainSiteRequestObject) (meoapi.DrainSiteResponseObject, error) {
	return meoapi.DrainSite200JSONResponse{SiteJSONResponse: v.set(r.SiteId, func(s *meoapi.Site) { s.State.Schedulable, s.State.Draining = false, true })}, nil
}

func (v *inventory) UncordonSite(_ context.Context, r meoapi.UncordonSiteRequestObject) (meoapi.UncordonSiteResponseObject, error) {
	return meoapi.UncordonSite200JSONResponse{SiteJSONResponse: v.set(r.SiteId, func(s *meoapi.Site) { s.State.Schedulable, s.State.Draining = true, false })}, nil
}

func TestInventoryGolden(t *testing.T) {
	e := echo.New()
	meoapi.RegisterHandlers(e, meoapi.NewStrictHandler(&inventory{sites: map[string]meoapi.Site{}}, nil))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	env := newEnv(t)
	ok(t, env, "", "config", "set-context", "lab", "--meo", srv.URL, "--token", "meo-token")
	n := &normalizer{}

	spec := func(id, region string) string {
		return `id: ` + id + `
labels: {region: ` + region + `}
mep: {endpoint: "https://mep.` + id + `.example:8443/mepm/v1", token: mep-secret}
vim: {kind: kubernetes, kubeconfig: "apiVersion: v1"}
`
	}
	r := run(t, env, spec("edge-1", "west"), "site", "add", "-f", "-", "-o", "yaml")
	require.Equal(t, 0, r.code, r.err)
	golden(t, "site-add.yaml", n.normalize(r.out))
	ok(t, env, spec("edge-2", "east"), "site", "add", "-f", "-")
	goldenFormats(t, env, n, "site-list", "site", "list")
	goldenFormats(t, env, n, "site-list-selector", "site", "list", "-l", "region=east")
	goldenFormats(t, env, n, "site-get", "site", "get", "edge-1")
	goldenFormats(t, env, n, "site-cordon", "site", "cordon", "edge-1")
	goldenFormats(t, env, n, "site-drain", "site", "drain", "edge-2")
	assert.Regexp(t, `(?m)^edge-1\s+edge-1\s+kubernetes\s+Ready\s`, ok(t, env, "", "site", "uncordon", "edge-1"))

	r = run(t, env, strings.Replace(spec("edge-3", "x"), "vim:", "vm:", 1), "site", "add", "-f", "-")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.err, `<stdin>:4:1: vm: unknown field (did you mean "vim"?)`)

	r = run(t, env, "", "site", "get", "edge-9")
	assert.Equal(t, ExitNotFound, r.code)
	assert.Contains(t, r.err, "site edge-9 is not registered")

	out := ok(t, env, "", "site", "remove", "edge-1", "edge-2", "-o", "name")
	assert.Equal(t, "site/edge-1\nsite/edge-2\n", out)
	r = run(t, env, "", "site", "list")
	assert.Equal(t, 0, r.code)
	assert.Equal(t, "No sites found.\n", r.err)
	_ = time.Second
}
