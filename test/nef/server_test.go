package nef_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/free5gc/openapi/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/test/nef"
)

const (
	afID  = "af1"
	token = "static-token"
)

func subsURL(base string) string { return base + nef.BasePath + "/" + afID + "/subscriptions" }

// valid returns a subscription every rule accepts, as a JSON object to mutate.
func valid() map[string]any {
	return map[string]any{
		"afServiceId": "svc",
		"afTransId":   "inst-1",
		"trafficFilters": []any{map[string]any{
			"flowId":           1,
			"flowDescriptions": []any{"permit out 6 from 192.0.2.10 8080 to any"},
		}},
		"anyUeInd":                true,
		"dnn":                     "internet",
		"snssai":                  map[string]any{"sst": 1, "sd": "010203"},
		"subscribedEvents":        []any{"UP_PATH_CHANGE"},
		"notificationDestination": "http://af.example/notify/1",
		"trafficRoutes": []any{map[string]any{
			"dnai": "edge-1", "routeInfo": map[string]any{"ipv4Addr": "192.0.2.10", "portNumber": 0},
		}},
	}
}

func do(t *testing.T, method, u, ctype, tok string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, bytes.NewReader(body))
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func problemOf(t *testing.T, resp *http.Response, body []byte) models.ProblemDetails {
	t.Helper()
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), "body %s", body)
	var p models.ProblemDetails
	require.NoError(t, json.Unmarshal(body, &p))
	require.Equal(t, int32(resp.StatusCode), p.Status)
	require.NotEmpty(t, p.Detail)
	return p
}

// TestCreateRules posts subscriptions that break one TS 29.522 rule each and checks the NEF
// refuses them with the member named, and stores nothing.
func TestCreateRules(t *testing.T) {
	srv := nef.New(nef.Config{StaticToken: token})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	for _, tc := range []struct {
		name   string
		mutate func(m map[string]any)
		param  string // "" = accepted
	}{
		{name: "valid", mutate: func(map[string]any) {}},
		{name: "afAppId and trafficFilters", mutate: func(m map[string]any) { m["afAppId"] = "app" }, param: "/afAppId"},
		{name: "no application traffic", mutate: func(m map[string]any) { delete(m, "trafficFilters") }, param: "/afAppId"},
		{name: "afAppId alone", mutate: func(m map[string]any) { delete(m, "trafficFilters"); m["afAppId"] = "app" }},
		{name: "trafficFilters and ethTrafficFilters", mutate: func(m map[string]any) {
			m["ethTrafficFilters"] = []any{map[string]any{"ethType": "0800"}}
		}, param: "/afAppId"},
		{name: "no UE target", mutate: func(m map[string]any) { delete(m, "anyUeInd") }, param: "/anyUeInd"},
		{name: "any UE and gpsi", mutate: func(m map[string]any) { m["gpsi"] = "msisdn-491234567" }, param: "/anyUeInd"},
		{name: "group and ipv4", mutate: func(m map[string]any) {
			delete(m, "anyUeInd")
			m["externalGroupId"] = "g1@example.com"
			m["ipv4Addr"] = "10.60.0.1"
		}, param: "/anyUeInd"},
		{name: "ipv4 and ipv6 of one UE", mutate: func(m map[string]any) {
			delete(m, "anyUeInd")
			m["ipv4Addr"] = "10.60.0.1"
			m["ipv6Addr"] = "2001:db8::1"
		}},
		{name: "gpsi alone", mutate: func(m map[string]any) { delete(m, "anyUeInd"); m["gpsi"] = "msisdn-491234567" }},
		{name: "bad ipv4", mutate: func(m map[string]any) { delete(m, "anyUeInd"); m["ipv4Addr"] = "2001:db8::1" }, param: "/ipv4Addr"},
		{name: "bad group id", mutate: func(m map[string]any) { delete(m, "anyUeInd"); m["externalGroupId"] = "nogroup" }, param: "/externalGroupId"},
		{name: "events without destination", mutate: func(m map[string]any) { delete(m, "notificationDestination") }, param: "/notificationDestination"},
		{name: "relative destination", mutate: func(m map[string]any) { m["notificationDestination"] = "/notify" }, param: "/notificationDestination"},
		{name: "unknown event", mutate: func(m map[string]any) { m["subscribedEvents"] = []any{"UP_PATH_CHG"} }, param: "/subscribedEvents/0"},
		{name: "no routes", mutate: func(m map[string]any) { delete(m, "trafficRoutes") }, param: "/trafficRoutes"},
		{name: "route without dnai", mutate: func(m map[string]any) {
			m["trafficRoutes"] = []any{map[string]any{"dnai": "", "routeProfId": "p"}}
		}, param: "/trafficRoutes/0/dnai"},
		{name: "route without route", mutate: func(m map[string]any) {
			m["trafficRoutes"] = []any{map[string]any{"dnai": "edge-1"}}
		}, param: "/trafficRoutes/0"},
		{name: "any UE without dnn", mutate: func(m map[string]any) { delete(m, "dnn") }, param: "/dnn"},
		{name: "any UE without snssai", mutate: func(m map[string]any) { delete(m, "snssai") }, param: "/snssai"},
		{name: "bad sd", mutate: func(m map[string]any) { m["snssai"] = map[string]any{"sst": 1, "sd": "xyz"} }, param: "/snssai/sd"},
		{name: "flow description not IPFilterRule", mutate: func(m map[string]any) {
			m["trafficFilters"] = []any{map[string]any{"flowId": 1, "flowDescriptions": []any{"allow all"}}}
		}, param: "/trafficFilters/0/flowDescriptions/0"},
		{name: "duplicate flow ids", mutate: func(m map[string]any) {
			f := map[string]any{"flowId": 1, "flowDescriptions": []any{"permit out ip from any to any"}}
			m["trafficFilters"] = []any{f, f}
		}, param: "/trafficFilters/1/flowId"},
		{name: "bad dnaiChgType", mutate: func(m map[string]any) { m["dnaiChgType"] = "SOON" }, param: "/dnaiChgType"},
		{name: "self set by the AF", mutate: func(m map[string]any) { m["self"] = "http://x/y" }, param: "/self"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Subscriptions(afID))
			m := valid()
			tc.mutate(m)
			resp, body := do(t, http.MethodPost, subsURL(ts.URL), "application/json", token, mustJSON(t, m))
			if tc.param == "" {
				require.Equal(t, http.StatusCreated, resp.StatusCode, "body %s", body)
				assert.Len(t, srv.Subscriptions(afID), before+1)
				return
			}
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "body %s", body)
			p := problemOf(t, resp, body)
			var params []string
			for _, ip := range p.InvalidParams {
				params = append(params, ip.Param)
			}
			assert.Contains(t, params, tc.param)
			assert.Len(t, srv.Subscriptions(afID), before, "a refused subscription was stored")
		})
	}
}

// TestProtocol covers the resource model: create, read, list, replace, merge patch, delete,
// and the refusals that do not depend on the subscription's content.
func TestProtocol(t *testing.T) {
	srv := nef.New(nef.Config{StaticToken: token})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	resp, body := do(t, http.MethodPost, subsURL(ts.URL), "application/json", token, mustJSON(t, valid()))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "body %s", body)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, subsURL(ts.URL)+"/"), "Location %q", loc)
	var created models.NefTrafficInfluSub
	require.NoError(t, json.Unmarshal(body, &created))
	assert.Equal(t, loc, created.Self)
	id := loc[strings.LastIndex(loc, "/")+1:]

	resp, body = do(t, http.MethodGet, loc, "", token, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got models.NefTrafficInfluSub
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Equal(t, "edge-1", got.TrafficRoutes[0].Dnai)

	resp, body = do(t, http.MethodGet, subsURL(ts.URL), "", token, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list []models.NefTrafficInfluSub
	require.NoError(t, json.Unmarshal(body, &list))
	assert.Len(t, list, 1)

	t.Run("merge patch replaces filters and keeps the rest", func(t *testing.T) {
		patch := `{"trafficFilters":[{"flowId":7,"flowDescriptions":["permit out 17 from 192.0.2.11 5000 to any"]}]}`
		resp, body := do(t, http.MethodPatch, loc, "application/merge-patch+json", token, []byte(patch))
		require.Equal(t, http.StatusOK, resp.StatusCode, "body %s", body)
		s, ok := srv.Subscription(afID, id)
		require.True(t, ok)
		assert.Equal(t, int32(7), s.Sub.TrafficFilters[0].FlowId)
		assert.Equal(t, "internet", s.Sub.Dnn)
		assert.Equal(t, loc, s.Sub.Self)
	})
	t.Run("merge patch that breaks a rule is refused", func(t *testing.T) {
		resp, body := do(t, http.MethodPatch, loc, "application/merge-patch+json", token, []byte(`{"trafficRoutes":null}`))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "body %s", body)
		s, _ := srv.Subscription(afID, id)
		assert.Len(t, s.Sub.TrafficRoutes, 1)
	})
	t.Run("merge patch of a member the AF may not change is refused", func(t *testing.T) {
		resp, body := do(t, http.MethodPatch, loc, "application/merge-patch+json", token, []byte(`{"dnn":"other"}`))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "body %s", body)
		problemOf(t, resp, body)
	})
	t.Run("patch as application/json", func(t *testing.T) {
		resp, body := do(t, http.MethodPatch, loc, "application/json", token, []byte(`{}`))
		require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
		problemOf(t, resp, body)
	})
	t.Run("unknown member", func(t *testing.T) {
		m := valid()
		m["trafficRoute"] = m["trafficRoutes"]
		resp, body := do(t, http.MethodPost, subsURL(ts.URL), "application/json", token, mustJSON(t, m))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, problemOf(t, resp, body).Detail, "trafficRoute")
	})
	t.Run("member name in the wrong case", func(t *testing.T) {
		m := valid()
		m["trafficroutes"] = m["trafficRoutes"]
		delete(m, "trafficRoutes")
		resp, body := do(t, http.MethodPost, subsURL(ts.URL), "application/json", token, mustJSON(t, m))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "body %s", body)
		assert.Contains(t, problemOf(t, resp, body).Detail, "/trafficroutes")
	})
	t.Run("nested member name in the wrong case", func(t *testing.T) {
		m := valid()
		m["snssai"] = map[string]any{"SST": 1}
		resp, body := do(t, http.MethodPost, subsURL(ts.URL), "application/json", token, mustJSON(t, m))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "body %s", body)
		assert.Contains(t, problemOf(t, resp, body).Detail, "/snssai/SST")
	})
	t.Run("trailing data", func(t *testing.T) {
		b := append(mustJSON(t, valid()), []byte(`{}`)...)
		resp, body := do(t, http.MethodPost, subsURL(ts.URL), "application/json", token, b)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		problemOf(t, resp, body)
	})
	t.Run("put replaces", func(t *testing.T) {
		m := valid()
		m["dnn"] = "ims"
		resp, body := do(t, http.MethodPut, loc, "application/json", token, mustJSON(t, m))
		require.Equal(t, http.StatusOK, resp.StatusCode, "body %s", body)
		s, _ := srv.Subscription(afID, id)
		assert.Equal(t, "ims", s.Sub.Dnn)
	})
	t.Run("no token", func(t *testing.T) {
		resp, body := do(t, http.MethodGet, loc, "", "", nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		problemOf(t, resp, body)
		assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
	})
	t.Run("wrong token", func(t *testing.T) {
		resp, _ := do(t, http.MethodGet, loc, "", "nope", nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("delete then gone", func(t *testing.T) {
		resp, _ := do(t, http.MethodDelete, loc, "", token, nil)
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		resp, body := do(t, http.MethodGet, loc, "", token, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		problemOf(t, resp, body)
		resp, _ = do(t, http.MethodDelete, loc, "", token, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

// TestOAuth2 gets a token by client credentials and uses it.
func TestOAuth2(t *testing.T) {
	srv := nef.New(nef.Config{Clients: map[string]string{"meo": "s3cret"}})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	for _, tc := range []struct {
		name, id, secret string
		basic            bool
		want             int
	}{
		{name: "basic auth", id: "meo", secret: "s3cret", basic: true, want: 200},
		{name: "form parameters", id: "meo", secret: "s3cret", want: 200},
		{name: "wrong secret", id: "meo", secret: "x", basic: true, want: 401},
		{name: "unknown client", id: "other", secret: "s3cret", want: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}}
			if !tc.basic {
				form.Set("client_id", tc.id)
				form.Set("client_secret", tc.secret)
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+nef.TokenPath, strings.NewReader(form.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.basic {
				req.SetBasicAuth(tc.id, tc.secret)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode)
			if tc.want != 200 {
				return
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
			assert.Equal(t, "Bearer", tok.TokenType)
			r2, _ := do(t, http.MethodGet, subsURL(ts.URL), "", tok.AccessToken, nil)
			assert.Equal(t, http.StatusOK, r2.StatusCode)
		})
	}
	srv.RevokeTokens()
	resp, _ := do(t, http.MethodGet, subsURL(ts.URL), "", "anything", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestParseFlowDescription(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{name: "any", in: "permit out ip from any to any", ok: true},
		{name: "ports and prefix", in: "permit out 6 from 192.0.2.0/24 80,443,8000-8080 to 10.60.0.1 1024-65535", ok: true},
		{name: "ipv6", in: "permit in 17 from 2001:db8::1 to any 53", ok: true},
		{name: "deny", in: "deny out ip from any to any"},
		{name: "bad direction", in: "permit both ip from any to any"},
		{name: "assigned", in: "permit out ip from any to assigned"},
		{name: "negated", in: "permit out ip from !192.0.2.1 to any"},
		{name: "options", in: "permit out ip from any to any frag"},
		{name: "ports without port protocol", in: "permit out ip from any 80 to any"},
		{name: "reversed range", in: "permit out 6 from any 90-80 to any"},
		{name: "missing to", in: "permit out ip from any"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := nef.ParseFlowDescription(tc.in)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}
