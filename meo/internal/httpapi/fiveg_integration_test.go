//go:build integration

package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo/internal/af"
	"github.com/edgemec/edgemec/meo/internal/httpapi"
	"github.com/edgemec/edgemec/meo/internal/inventory"
	"github.com/edgemec/edgemec/meo/internal/inventory/record"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// follower records what the traffic steering is told of 5G data changes.
type follower struct {
	mu      sync.Mutex
	changes []fiveGChange
}

type fiveGChange struct {
	site      string
	old, next *af.SiteConfig
}

func (f *follower) FiveGChanged(_ context.Context, siteID string, old, next *af.SiteConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, fiveGChange{site: siteID, old: old, next: next})
	return nil
}

func (f *follower) take() []fiveGChange {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.changes
	f.changes = nil
	return out
}

// TestSiteFiveGAPI gives a site 5G data, replaces it and removes it through PUT and DELETE
// /inventory/v1/sites/{siteId}/fiveG on a real database: the answers never show the NEF
// credentials, the traffic steering is told each change with the former and the new data
// in clear, and malformed data, an unknown site and a viewer change nothing.
func TestSiteFiveGAPI(t *testing.T) {
	dsn := pgtest.New(t)
	st, err := pgstore.Open(t.Context(), dsn, pgstore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	inv, err := inventory.New(inventory.Config{Box: testBox(t), Interval: time.Hour, Logger: slog.New(slog.DiscardHandler)}, st)
	require.NoError(t, err)
	t.Cleanup(inv.Close)
	f := &follower{}
	e := newEnv(t, dsn, func(hc *httpapi.Config, _ *pkgm.Config) { hc.Sites, hc.Steering = inv, f })
	// The site as registration stores it (registering checks a real MEP and VIM; the 5G
	// data does not need them).
	_, err = st.CreateSite(t.Context(), &record.Site{ID: "site-5g", Name: "site-5g",
		MEP: record.MEP{Endpoint: "http://127.0.0.1:1/mepm/v1"}, VIM: record.VIM{Kind: vim.KindKubernetes}}, time.Hour)
	require.NoError(t, err)
	const path = "/inventory/v1/sites/site-5g/fiveG"
	oauth := map[string]any{"dnais": []string{"dnai-edge-1"}, "dnn": "internet", "snssai": map[string]any{"sst": 1, "sd": "000001"},
		"nef": map[string]any{"apiRoot": "https://nef-a.example", "afId": "edgemec-meo",
			"oauth2": map[string]any{"tokenUrl": "https://nef-a.example/oauth2/token", "clientId": "meo-af", "clientSecret": "secret-a-1"}}}
	token := map[string]any{"dnais": []string{"dnai-edge-2", "dnai-edge-3"}, "dnn": "edge", "snssai": map[string]any{"sst": 2},
		"nef": map[string]any{"apiRoot": "https://nef-b.example", "afId": "edgemec-meo", "token": "token-b-1"}}

	// 1. 5G data given: shown without the secret; the steering told, with no former data.
	r := e.do(http.MethodPut, path, oauth)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.NotContains(t, string(r.body), "secret-a-1")
	doc := r.json(t)
	assert.Equal(t, []any{"dnai-edge-1"}, dig(doc, "fiveG", "dnais"))
	assert.Equal(t, true, dig(doc, "fiveG", "nef", "oauth2", "clientSecret", "set"))
	ch := f.take()
	require.Len(t, ch, 1)
	assert.Equal(t, "site-5g", ch[0].site)
	assert.Nil(t, ch[0].old)
	require.NotNil(t, ch[0].next)
	require.NotNil(t, ch[0].next.NEF.OAuth2)
	assert.Equal(t, "secret-a-1", ch[0].next.NEF.OAuth2.ClientSecret, "the steering gets the credentials in clear")

	// 2. Replaced as a whole: the steering gets the former data with its secret.
	r = e.do(http.MethodPut, path, token)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.NotContains(t, string(r.body), "token-b-1")
	doc = e.do(http.MethodGet, "/inventory/v1/sites/site-5g", nil).json(t)
	assert.Equal(t, []any{"dnai-edge-2", "dnai-edge-3"}, dig(doc, "fiveG", "dnais"))
	assert.Equal(t, "https://nef-b.example", dig(doc, "fiveG", "nef", "apiRoot"))
	assert.Nil(t, dig(doc, "fiveG", "nef", "oauth2"), "replaced as a whole")
	ch = f.take()
	require.Len(t, ch, 1)
	require.NotNil(t, ch[0].old)
	require.NotNil(t, ch[0].old.NEF.OAuth2)
	assert.Equal(t, "secret-a-1", ch[0].old.NEF.OAuth2.ClientSecret)
	assert.Equal(t, "https://nef-a.example", ch[0].old.NEF.APIRoot)
	assert.Equal(t, "token-b-1", ch[0].next.NEF.Token)
	assert.Equal(t, af.SNSSAI{SST: 2}, ch[0].next.SNSSAI)

	// 3. Refused: malformed data, both credentials, an unknown site, a viewer. Nothing
	// changes and the steering is told nothing.
	both := map[string]any{"dnais": []string{"d"}, "dnn": "internet", "snssai": map[string]any{"sst": 1},
		"nef": map[string]any{"apiRoot": "https://nef-c.example", "afId": "a", "token": "t",
			"oauth2": map[string]any{"tokenUrl": "https://nef-c.example/t", "clientId": "c", "clientSecret": "s"}}}
	for _, c := range []struct {
		name   string
		path   string
		body   any
		auth   []string
		status int
	}{
		{"no DNAI", path, map[string]any{"dnais": []string{}, "dnn": "internet", "snssai": map[string]any{"sst": 1},
			"nef": map[string]any{"apiRoot": "https://nef-c.example", "afId": "a", "token": "t"}}, nil, http.StatusBadRequest},
		{"token and oauth2", path, both, nil, http.StatusBadRequest},
		{"unknown member", path, `{"dnais":["d"],"dnn":"x","snssai":{"sst":1},"nef":{"apiRoot":"https://n.example","afId":"a","token":"t"},"x":1}`, nil, http.StatusBadRequest},
		{"unknown site", "/inventory/v1/sites/no-such-site/fiveG", token, nil, http.StatusNotFound},
		{"viewer", path, token, []string{"Authorization", "Bearer " + viewer}, http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(http.MethodPut, c.path, c.body, c.auth...)
			assert.Equal(t, c.status, r.status, "%s", r.body)
		})
	}
	assert.Empty(t, f.take())
	assert.Equal(t, "https://nef-b.example", dig(e.do(http.MethodGet, "/inventory/v1/sites/site-5g", nil).json(t), "fiveG", "nef", "apiRoot"))

	// 4. Removed: the steering gets the former data and no new data; removing again is a
	// no-op.
	r = e.do(http.MethodDelete, path, nil)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	assert.Nil(t, e.do(http.MethodGet, "/inventory/v1/sites/site-5g", nil).json(t)["fiveG"])
	ch = f.take()
	require.Len(t, ch, 1)
	require.NotNil(t, ch[0].old)
	assert.Equal(t, "token-b-1", ch[0].old.NEF.Token)
	assert.Nil(t, ch[0].next)
	r = e.do(http.MethodDelete, path, nil)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	assert.Empty(t, f.take())
	assert.Equal(t, http.StatusNotFound, e.do(http.MethodDelete, "/inventory/v1/sites/no-such-site/fiveG", nil).status)
}
