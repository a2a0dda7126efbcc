package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/meoapi"
)

// fiveGBodies keeps the 5G data the fake inventory was sent, by site (guarded by the
// inventory's mu).
var fiveGBodies = map[string]meoapi.FiveGSpec{}

func (v *inventory) ReplaceSiteFiveG(_ context.Context, r meoapi.ReplaceSiteFiveGRequestObject) (meoapi.ReplaceSiteFiveGResponseObject, error) {
	v.mu.Lock()
	_, known := v.sites[r.SiteId]
	if known {
		fiveGBodies[r.SiteId] = *r.Body
	}
	v.mu.Unlock()
	if !known {
		return meoapi.ReplaceSiteFiveG404ApplicationProblemPlusJSONResponse{NotFoundApplicationProblemPlusJSONResponse: notFound(r.SiteId)}, nil
	}
	// Shown as the MEO shows it: without the credentials.
	b, _ := json.Marshal(map[string]any{"dnais": r.Body.Dnais, "dnn": r.Body.Dnn,
		"nef": map[string]any{"apiRoot": r.Body.Nef.ApiRoot, "afId": r.Body.Nef.AfId}})
	return meoapi.ReplaceSiteFiveG200JSONResponse{SiteJSONResponse: v.set(r.SiteId, func(s *meoapi.Site) {
		s.FiveG = nil
		_ = json.Unmarshal(b, &s.FiveG)
	})}, nil
}

func (v *inventory) RemoveSiteFiveG(_ context.Context, r meoapi.RemoveSiteFiveGRequestObject) (meoapi.RemoveSiteFiveGResponseObject, error) {
	v.mu.Lock()
	_, known := v.sites[r.SiteId]
	v.mu.Unlock()
	if !known {
		return meoapi.RemoveSiteFiveG404ApplicationProblemPlusJSONResponse{NotFoundApplicationProblemPlusJSONResponse: notFound(r.SiteId)}, nil
	}
	v.set(r.SiteId, func(s *meoapi.Site) { s.FiveG = nil })
	return meoapi.RemoveSiteFiveG204Response{}, nil
}

// `site fiveg set` sends the FiveGSpec file as is (credentials included) and shows the
// site; `site fiveg remove` removes the data; unknown fields and sites are refused.
func TestSiteFiveG(t *testing.T) {
	inv := &inventory{sites: map[string]meoapi.Site{}}
	e := echo.New()
	meoapi.RegisterHandlers(e, meoapi.NewStrictHandler(inv, nil))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	env := newEnv(t)
	ok(t, env, "", "config", "set-context", "lab", "--meo", srv.URL, "--token", "meo-token")
	ok(t, env, "id: edge-1\nmep: {endpoint: \"https://mep.example/mepm/v1\", token: t}\nvim: {kind: kubernetes, kubeconfig: \"apiVersion: v1\"}\n",
		"site", "add", "-f", "-")

	spec := `dnais: [dnai-edge-1, dnai-edge-2]
dnn: internet
snssai: {sst: 1, sd: "000001"}
nef:
  apiRoot: https://nef.example
  afId: edgemec-meo
  oauth2: {tokenUrl: "https://nef.example/oauth2/token", clientId: meo-af, clientSecret: s3cret}
`
	out := ok(t, env, spec, "site", "fiveg", "set", "edge-1", "-f", "-", "-o", "json")
	var site meoapi.Site
	require.NoError(t, json.Unmarshal([]byte(out), &site))
	require.NotNil(t, site.FiveG)
	assert.Equal(t, []string{"dnai-edge-1", "dnai-edge-2"}, *site.FiveG.Dnais)
	inv.mu.Lock()
	got := fiveGBodies["edge-1"]
	inv.mu.Unlock()
	assert.Equal(t, "internet", got.Dnn)
	require.NotNil(t, got.Nef.Oauth2)
	require.NotNil(t, got.Nef.Oauth2.ClientSecret)
	assert.Equal(t, "s3cret", *got.Nef.Oauth2.ClientSecret, "the secret reaches the MEO")
	assert.NotContains(t, out, "s3cret")

	r := run(t, env, spec+"dnai: x\n", "site", "fiveg", "set", "edge-1", "-f", "-")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.err, "dnai: unknown field")
	r = run(t, env, spec, "site", "fiveg", "set", "edge-9", "-f", "-")
	assert.Equal(t, ExitNotFound, r.code)
	r = run(t, env, "", "site", "fiveg", "set", "edge-1")
	assert.Equal(t, ExitUsage, r.code)

	assert.Equal(t, "site/edge-1\n", ok(t, env, "", "site", "fiveg", "remove", "edge-1", "-o", "name"))
	inv.mu.Lock()
	assert.Nil(t, inv.sites["edge-1"].FiveG)
	inv.mu.Unlock()
	r = run(t, env, "", "site", "fiveg", "remove", "edge-9")
	assert.Equal(t, ExitNotFound, r.code)
}
