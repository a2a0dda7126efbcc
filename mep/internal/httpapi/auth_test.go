package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/mp1api"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	tok1 := e.app("app1")
	e.app("app2")

	tests := []struct {
		name   string
		method string
		path   string
		header string
		want   int
	}{
		{"no token", http.MethodGet, "/mec_service_mgmt/v1/services", "", http.StatusUnauthorized},
		{"not bearer", http.MethodGet, "/mec_service_mgmt/v1/services", "Basic Zm9vOmJhcg==", http.StatusUnauthorized},
		{"empty bearer", http.MethodGet, "/mec_service_mgmt/v1/services", "Bearer ", http.StatusUnauthorized},
		{"garbage token", http.MethodGet, "/mec_service_mgmt/v1/services", "Bearer not-a-jwt", http.StatusUnauthorized},
		{"wrong operator token", http.MethodGet, "/mepm/v1/app_instances", "Bearer " + opToken + "x", http.StatusUnauthorized},
		{"app token on Mm5", http.MethodGet, "/mepm/v1/app_instances", "Bearer " + tok1, http.StatusForbidden},
		{"app token on Mm5 feed", http.MethodGet, "/mepm/v1/feeds/traffic_rules", "Bearer " + tok1, http.StatusForbidden},
		{"app token on other app services", http.MethodGet, "/mec_service_mgmt/v1/applications/app2/services", "Bearer " + tok1, http.StatusNotFound},
		{"app token on other app traffic rules", http.MethodGet, "/mec_app_support/v1/applications/app2/traffic_rules", "Bearer " + tok1, http.StatusNotFound},
		{"app token on other app dns rule put", http.MethodPut, "/mec_app_support/v1/applications/app2/dns_rules/dns1", "Bearer " + tok1, http.StatusNotFound},
		{"app token on other app confirm_ready", http.MethodPost, "/mec_app_support/v1/applications/app2/confirm_ready", "Bearer " + tok1, http.StatusNotFound},
		{"app token on other app registration", http.MethodGet, "/mec_app_support/v1/registrations/app2", "Bearer " + tok1, http.StatusNotFound},
		{"app token on other app subscriptions", http.MethodGet, "/mec_app_support/v1/applications/app2/subscriptions", "Bearer " + tok1, http.StatusNotFound},
		{"app token on own resources", http.MethodGet, "/mec_app_support/v1/applications/app1/traffic_rules", "Bearer " + tok1, http.StatusOK},
		{"operator on any app", http.MethodGet, "/mec_app_support/v1/applications/app2/traffic_rules", "Bearer " + opToken, http.StatusOK},
		{"healthz is public", http.MethodGet, "/healthz", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h map[string]string
			if tt.header != "" {
				h = map[string]string{"Authorization": tt.header}
			}
			var body any
			if tt.method != http.MethodGet {
				body = `{}`
			}
			rec := e.serve(req{method: tt.method, path: tt.path, body: body, header: h})
			expect(t, rec, tt.want)
			if tt.want == http.StatusUnauthorized {
				require.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer", "got no Bearer challenge")
			}
		})
	}
}

func TestIssueToken(t *testing.T) {
	e := newEnv(t)
	e.putApp("app1", appSpec("app1"))
	secret := e.secret("app1")

	form := func(v url.Values) req {
		return req{method: http.MethodPost, path: "/oauth2/token", body: v.Encode(),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}
	}
	basic := func(id, sec string, v url.Values) req {
		r := form(v)
		hr, _ := http.NewRequest(http.MethodGet, "/", nil)
		hr.SetBasicAuth(id, sec)
		r.header["Authorization"] = hr.Header.Get("Authorization")
		return r
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	tests := []struct {
		name     string
		req      req
		want     int
		wantCode string
	}{
		{"form", form(url.Values{"grant_type": {"client_credentials"}, "client_id": {"app1"}, "client_secret": {secret}}), http.StatusOK, ""},
		{"basic", basic("app1", secret, cc), http.StatusOK, ""},
		{"bad secret form", form(url.Values{"grant_type": {"client_credentials"}, "client_id": {"app1"}, "client_secret": {"nope"}}), http.StatusUnauthorized, "invalid_client"},
		{"bad secret basic", basic("app1", "nope", cc), http.StatusUnauthorized, "invalid_client"},
		{"unknown client", form(url.Values{"grant_type": {"client_credentials"}, "client_id": {"ghost"}, "client_secret": {e.secret("ghost")}}), http.StatusUnauthorized, "invalid_client"},
		{"no credentials", form(cc), http.StatusUnauthorized, "invalid_client"},
		{"bad grant", form(url.Values{"grant_type": {"password"}, "client_id": {"app1"}, "client_secret": {secret}}), http.StatusBadRequest, "unsupported_grant_type"},
		{"no grant", form(url.Values{"client_id": {"app1"}, "client_secret": {secret}}), http.StatusBadRequest, "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.serve(tt.req)
			require.Equal(t, tt.want, rec.Code, "got %d; want %d (%s)", rec.Code, tt.want, rec.Body.String())
			require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			if tt.want != http.StatusOK {
				var oe mp1api.OAuthError
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &oe))
				require.Equal(t, tt.wantCode, oe.Error, "got error %q; want %q", oe.Error, tt.wantCode)
				return
			}
			var tr mp1api.TokenResponse
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &tr))
			require.Equal(t, "Bearer", tr.TokenType)
			require.Positive(t, tr.ExpiresIn)
			expect(t, e.do(http.MethodGet, "/mec_app_support/v1/applications/app1/dns_rules", tr.AccessToken, nil), http.StatusOK)
		})
	}
}

func TestTerminatedAppToken(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	expect(t, e.do(http.MethodGet, "/mec_service_mgmt/v1/services", tok, nil), http.StatusOK)
	// No termination subscriber: the instance goes at once.
	expect(t, e.do(http.MethodDelete, "/mepm/v1/app_instances/app1", opToken, nil), http.StatusAccepted)

	t.Run("issue", func(t *testing.T) {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app1"}, "client_secret": {e.secret("app1")}}
		rec := e.serve(req{method: http.MethodPost, path: "/oauth2/token", body: v.Encode(),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
		require.Equal(t, http.StatusUnauthorized, rec.Code, "got %d; want 401", rec.Code)
	})
	for _, path := range []string{
		"/mec_service_mgmt/v1/services",
		"/mec_service_mgmt/v1/transports",
		"/mec_app_support/v1/timing/current_time",
		"/mec_app_support/v1/applications/app1/traffic_rules",
	} {
		t.Run("use "+path, func(t *testing.T) {
			expect(t, e.do(http.MethodGet, path, tok, nil), http.StatusUnauthorized)
		})
	}
}
