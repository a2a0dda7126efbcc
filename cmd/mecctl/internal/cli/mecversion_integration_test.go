//go:build integration

package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// mp1Client returns an Mp1 client that sends token.
func mp1Client(t *testing.T, root, token string) *mp1api.ClientWithResponses {
	t.Helper()
	c, err := mp1api.NewClientWithResponses(root, mp1api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}))
	require.NoError(t, err)
	return c
}

// appToken takes an Mp1 token with the credentials the MEP gave app instance id.
func appToken(t *testing.T, root, id string) string {
	t.Helper()
	mm5, err := mm5api.NewClientWithResponses(root+"/mepm/v1", mm5api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+meptest.OperatorToken)
		return nil
	}))
	require.NoError(t, err)
	got, err := mm5.GetAppInstanceWithResponse(t.Context(), id, nil)
	require.NoError(t, err)
	require.NotNil(t, got.JSON200, "%s", got.Body)
	anon, err := mp1api.NewClientWithResponses(root)
	require.NoError(t, err)
	cred := got.JSON200.Credentials
	tr, err := anon.IssueTokenWithFormdataBodyWithResponse(t.Context(), mp1api.TokenRequest{GrantType: "client_credentials",
		ClientId: &cred.ClientId, ClientSecret: &cred.ClientSecret})
	require.NoError(t, err)
	require.NotNil(t, tr.JSON200, "%s", tr.Body)
	return tr.JSON200.AccessToken
}

// TestMEC011V211SiteReadByGoClients runs the real mep binary with --mec011-version 2.1.1, so
// that Mp1 answers the operator (and apps that declare no mecVersion) with dstInterface as one
// object, and reads the site through mecctl and the generated Go client: both shapes decode.
func TestMEC011V211SiteReadByGoClients(t *testing.T) {
	for _, tc := range []struct {
		name, siteVersion string
		appVersions       string // the app's mecVersion, "" for none
		asApp             bool
		wantObject        bool
	}{
		{"V2.1.1 site, operator", "2.1.1", "", false, true},
		{"V2.1.1 site, app without mecVersion", "2.1.1", "", true, true},
		{"V2.2.1 site, app declaring V2.1.1", "2.2.1", `mecVersion: ["2.1.1"]`, true, true},
		{"V2.2.1 site, operator", "2.2.1", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := meptest.Start(t, meptest.Options{Args: []string{"--mec011-version", tc.siteVersion}})
			e := newEnv(t)
			ok(t, e, "", "config", "set-context", "lab", "--site", "edge-1="+m.Root, "--site-token-file", "edge-1="+tokenFile(t, meptest.OperatorToken))
			spec, err := os.ReadFile("testdata/cache.yaml")
			require.NoError(t, err)
			ok(t, e, tc.appVersions+"\n"+string(spec), "site", "provision", "edge-1", "cache-1", "-f", "-")

			// mecctl reads the site's rules and apps (Mm5) whatever the site's version.
			var rules struct {
				Rules []struct {
					TrafficRule mp1api.TrafficRule `json:"trafficRule"`
				} `json:"rules"`
			}
			require.NoError(t, json.Unmarshal([]byte(ok(t, e, "", "site", "rules", "edge-1", "-o", "json")), &rules))
			require.Len(t, rules.Rules, 1)
			assertDst(t, rules.Rules[0].TrafficRule)
			var rec mm5api.AppInstanceRecord
			require.NoError(t, json.Unmarshal([]byte(ok(t, e, "", "site", "apps", "edge-1", "cache-1", "-o", "json")), &rec))
			require.NotNil(t, rec.AppTrafficRule)
			require.Len(t, *rec.AppTrafficRule, 1)
			assertDst(t, (*rec.AppTrafficRule)[0])

			// The generated Mp1 client reads the rules in the shape the MEP answers this caller.
			token := meptest.OperatorToken
			if tc.asApp {
				token = appToken(t, m.Root, "cache-1")
			}
			c := mp1Client(t, m.Root, token)
			list, err := c.TrafficRulesGETWithResponse(t.Context(), "cache-1")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, list.StatusCode(), "%s", list.Body)
			var raw []map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(list.Body, &raw))
			require.Len(t, raw, 1)
			assert.Equal(t, tc.wantObject, raw[0]["dstInterface"][0] == '{', "dstInterface as answered: %s", raw[0]["dstInterface"])
			require.NotNil(t, list.JSON200)
			require.Len(t, *list.JSON200, 1)
			assertDst(t, (*list.JSON200)[0])

			one, err := c.TrafficRuleGETWithResponse(t.Context(), "cache-1", "tr-cache")
			require.NoError(t, err)
			require.NotNil(t, one.JSON200, "%s", one.Body)
			assertDst(t, *one.JSON200)

			put := *one.JSON200
			put.State = mp1api.RuleStateINACTIVE
			etag := one.HTTPResponse.Header.Get("ETag")
			upd, err := c.TrafficRulePUTWithResponse(t.Context(), "cache-1", "tr-cache", &mp1api.TrafficRulePUTParams{IfMatch: &etag}, put)
			require.NoError(t, err)
			require.NotNil(t, upd.JSON200, "%d %s", upd.StatusCode(), upd.Body)
			assert.Equal(t, mp1api.RuleStateINACTIVE, upd.JSON200.State)
			assertDst(t, *upd.JSON200)
		})
	}
}

// assertDst checks the one destination interface of testdata/cache.yaml's rule.
func assertDst(t *testing.T, r mp1api.TrafficRule) {
	t.Helper()
	require.NotNil(t, r.DstInterface, "rule %s has no dstInterface", r.TrafficRuleId)
	require.Len(t, *r.DstInterface, 1)
	d := (*r.DstInterface)[0]
	assert.Equal(t, mp1api.IP, d.InterfaceType)
	require.NotNil(t, d.DstIpAddress)
	assert.Equal(t, "10.0.0.1", *d.DstIpAddress)
}
