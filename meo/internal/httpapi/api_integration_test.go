//go:build integration

package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/httpapi"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/pkgm/pkgmtest"
)

func TestAuth(t *testing.T) {
	e := newEnv(t, "")
	id := e.onboard("appd-auth", "auth")
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"no token", "GET", "/app_pkgm/v1/app_packages", "", nil, 401},
		{"wrong token", "GET", "/app_pkgm/v1/app_packages", "nope-nope", nil, 401},
		{"viewer reads list", "GET", "/app_pkgm/v1/app_packages", viewer, nil, 200},
		{"viewer reads one", "GET", "/app_pkgm/v1/app_packages/" + id, viewer, nil, 200},
		{"viewer reads appd", "GET", "/app_pkgm/v1/app_packages/" + id + "/appd", viewer, nil, 200},
		{"viewer reads subscriptions", "GET", "/app_pkgm/v1/subscriptions", viewer, nil, 200},
		{"viewer may not create", "POST", "/app_pkgm/v1/app_packages", viewer, `{}`, 403},
		{"viewer may not patch", "PATCH", "/app_pkgm/v1/app_packages/" + id, viewer, `{"operationalState":"DISABLED"}`, 403},
		{"viewer may not delete", "DELETE", "/app_pkgm/v1/app_packages/" + id, viewer, nil, 403},
		{"viewer may not subscribe", "POST", "/app_pkgm/v1/subscriptions", viewer, `{}`, 403},
		{"readyz is public", "GET", "/readyz", "", nil, 200},
		{"healthz is public", "GET", "/healthz", "", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body, "Authorization", "Bearer "+tc.token)
			require.Equal(t, tc.status, r.status, "body %s", r.body)
			if tc.status >= 400 {
				problemOf(t, r, tc.status)
			}
			if tc.status == 401 {
				assert.Contains(t, r.header.Get("WWW-Authenticate"), "Bearer")
			}
		})
	}
	// The viewer changed nothing.
	assert.Equal(t, "ENABLED", e.do("GET", "/app_pkgm/v1/app_packages/"+id, nil).json(t)["operationalState"])
}

func TestRequestValidation(t *testing.T) {
	e := newEnv(t, "")
	id := e.onboard("appd-v", "v")
	sum := pkgmtest.SHA256([]byte("x"))
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		detail             string
	}{
		{"unknown query parameter", "GET", "/app_pkgm/v1/app_packages?foo=1", nil, 400, `"foo"`},
		{"unknown query parameter on one", "GET", "/app_pkgm/v1/app_packages/" + id + "?filter=x", nil, 400, `"filter"`},
		{"unknown package", "GET", "/app_pkgm/v1/app_packages/nope", nil, 404, "nope"},
		{"unknown package appd", "GET", "/app_pkgm/v1/app_packages/nope/appd", nil, 404, "nope"},
		{"unknown package content", "GET", "/app_pkgm/v1/app_packages/nope/package_content", nil, 404, "nope"},
		{"unknown package upload", "PUT", "/app_pkgm/v1/app_packages/nope/package_content", []byte("x"), 404, "nope"},
		{"unknown package patch", "PATCH", "/app_pkgm/v1/app_packages/nope", `{"operationalState":"ENABLED"}`, 404, "nope"},
		{"unknown package delete", "DELETE", "/app_pkgm/v1/app_packages/nope", nil, 404, "nope"},
		{"unknown appDId", "GET", "/app_pkgm/v1/onboarded_app_packages/nope", nil, 404, "nope"},
		{"unknown appDId appd", "GET", "/app_pkgm/v1/onboarded_app_packages/nope/appd", nil, 404, "nope"},
		{"unknown appDId content", "GET", "/app_pkgm/v1/onboarded_app_packages/nope/package_content", nil, 404, "nope"},
		{"unknown subscription", "GET", "/app_pkgm/v1/subscriptions/nope", nil, 404, "nope"},
		{"unknown subscription delete", "DELETE", "/app_pkgm/v1/subscriptions/nope", nil, 404, "nope"},
		{"unknown route", "GET", "/app_pkgm/v1/nothing", nil, 404, ""},
		{"bad enum", "PATCH", "/app_pkgm/v1/app_packages/" + id, `{"operationalState":"ON"}`, 400, "/operationalState"},
		{"patch without state", "PATCH", "/app_pkgm/v1/app_packages/" + id, `{}`, 400, "operationalState"},
		{"patch spellings disagree", "PATCH", "/app_pkgm/v1/app_packages/" + id, `{"operationalState":"ENABLED","operationState":"DISABLED"}`, 400, "disagree"},
		{"missing required", "POST", "/app_pkgm/v1/app_packages", `{"appPkgName":"a","appPkgVersion":"1"}`, 400, "checksum"},
		{"wrong type", "POST", "/app_pkgm/v1/app_packages", `{"appPkgName":1,"appPkgVersion":"1","checksum":{"algorithm":"SHA-256","hash":"` + sum + `"}}`, 400, "/appPkgName"},
		{"not json", "POST", "/app_pkgm/v1/app_packages", `{"appPkgName":`, 400, ""},
		{"empty body", "POST", "/app_pkgm/v1/app_packages", ` `, 400, "required"},
		{"bad algorithm", "POST", "/app_pkgm/v1/app_packages", `{"appPkgName":"a","appPkgVersion":"1","checksum":{"algorithm":"MD5","hash":"` + sum + `"}}`, 400, "SHA-256 or SHA-512"},
		{"bad hash", "POST", "/app_pkgm/v1/app_packages", `{"appPkgName":"a","appPkgVersion":"1","checksum":{"algorithm":"SHA-512","hash":"` + sum + `"}}`, 400, "128 hexadecimal"},
		{"bad appPkgPath scheme", "POST", "/app_pkgm/v1/app_packages", `{"appPkgName":"a","appPkgVersion":"1","appPkgPath":"file:///etc/passwd","checksum":{"algorithm":"SHA-256","hash":"` + sum + `"}}`, 400, "http or https"},
		{"body too large", "POST", "/app_pkgm/v1/app_packages", `{"appPkgName":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "larger"},
		{"bad subscription type", "POST", "/app_pkgm/v1/subscriptions", `{"callbackUri":"http://127.0.0.1:1/cb","subscriptionType":"Nope"}`, 400, "/subscriptionType"},
		{"subscription without type", "POST", "/app_pkgm/v1/subscriptions", `{"callbackUri":"http://127.0.0.1:1/cb"}`, 400, "subscriptionType"},
		{"subscription bad callback", "POST", "/app_pkgm/v1/subscriptions", `{"callbackUri":"ftp://x/cb","subscriptionType":"AppPackageOnBoarding"}`, 400, "callbackUri"},
		{"subscription bad filter type", "POST", "/app_pkgm/v1/subscriptions", `{"callbackUri":"http://127.0.0.1:1/cb","subscriptionType":"AppPackageOnBoarding","appPkgFilter":[{"notificationTypes":["X"]}]}`, 400, "notificationTypes"},
		{"bad marker", "GET", "/app_pkgm/v1/app_packages?nextpage_opaque_marker=zzz", nil, 400, "nextpage_opaque_marker"},
		{"multipart without file", "PUT", "/app_pkgm/v1/app_packages/" + id + "/package_content", nil, 400, `"file"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.name == "multipart without file" {
				tc.body = []byte("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n")
				hdr = []string{"Content-Type", "multipart/form-data; boundary=b"}
			}
			r := e.do(tc.method, tc.path, tc.body, hdr...)
			if tc.name == "unknown route" {
				require.Equal(t, tc.status, r.status)
				return
			}
			assert.Contains(t, problemOf(t, r, tc.status), tc.detail)
		})
	}
}

func TestListPaging(t *testing.T) {
	e := newEnv(t, "") // 3 per page
	var ids []string
	for i := range 7 {
		ids = append(ids, e.onboard("appd-l"+itoa(i), "l"+itoa(i)))
	}
	e.create(pkgmtest.Package("appd-c", "c"), nil) // CREATED: not in the onboarded list
	var got []string
	next := "/app_pkgm/v1/app_packages"
	pages := 0
	for next != "" {
		r := e.do("GET", next, nil)
		require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
		for _, p := range r.list(t) {
			got = append(got, p["id"].(string))
		}
		pages++
		next = ""
		if l := r.header.Get("Link"); l != "" {
			require.True(t, strings.HasPrefix(l, "<"+e.root) && strings.HasSuffix(l, `>; rel="next"`), "Link %q", l)
			next = l[1:strings.Index(l, ">")]
		}
	}
	assert.Equal(t, 3, pages)
	assert.Len(t, got, 8)
	assert.Equal(t, ids, got[:7], "creation order")

	r := e.do("GET", "/app_pkgm/v1/onboarded_app_packages", nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Len(t, r.list(t), 3)
	assert.NotEmpty(t, r.header.Get("Link"))
}

func TestSubscriptionsCRUD(t *testing.T) {
	e := newEnv(t, "", func(_ *httpapi.Config, pc *pkgm.Config) {
		pc.Deny = pkgm.NewFetcher(pkgm.FetcherConfig{Deny: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}).DenyHost
	})
	r := e.do("POST", "/app_pkgm/v1/subscriptions", `{"callbackUri":"http://127.0.0.1:9/cb","subsctiptionType":"AppPacakgeOperationChange",
		"appPkgFilter":[{"appDId":["a"],"notificationTypes":["AppPacakgeEnabled"]}]}`)
	require.Equal(t, http.StatusCreated, r.status, "body %s", r.body)
	sub := r.json(t)
	id := sub["id"].(string)
	assert.Equal(t, "AppPackageOperationChange", sub["subscriptionType"], "correct spelling out")
	assert.Equal(t, e.root+"/app_pkgm/v1/subscriptions/"+id, r.header.Get("Location"))
	assert.Equal(t, []any{map[string]any{"appDId": []any{"a"}, "notificationTypes": []any{"AppPackageEnabled"}}}, sub["appPkgFilter"])

	got := e.do("GET", "/app_pkgm/v1/subscriptions/"+id, nil)
	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, sub, got.json(t))

	list := e.do("GET", "/app_pkgm/v1/subscriptions", nil).json(t)["_links"].(map[string]any)
	assert.Equal(t, []any{map[string]any{"href": e.root + "/app_pkgm/v1/subscriptions/" + id, "subscriptionType": "AppPackageOperationChange"}}, list["subscriptions"])

	problemOf(t, e.do("POST", "/app_pkgm/v1/subscriptions", `{"callbackUri":"http://169.254.169.254/x","subscriptionType":"AppPackageDeletion"}`), http.StatusBadRequest)
	assert.Equal(t, http.StatusNoContent, e.do("DELETE", "/app_pkgm/v1/subscriptions/"+id, nil).status)
	problemOf(t, e.do("GET", "/app_pkgm/v1/subscriptions/"+id, nil), http.StatusNotFound)
	assert.Equal(t, []any{}, e.do("GET", "/app_pkgm/v1/subscriptions", nil).json(t)["_links"].(map[string]any)["subscriptions"])
}

func TestFetchAppPkgPath(t *testing.T) {
	content := pkgmtest.Package("appd-fetch", "fetch")
	mux := http.NewServeMux()
	mux.HandleFunc("/pkg.zip", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(content) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/pkg.zip", http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	origin := httptest.NewServer(mux)
	t.Cleanup(origin.Close)
	e := newEnv(t, "", func(_ *httpapi.Config, pc *pkgm.Config) {
		pc.Fetcher = pkgm.NewFetcher(pkgm.FetcherConfig{Timeout: time.Second, MaxRedirects: 3})
	})
	denied := newEnv(t, "", func(_ *httpapi.Config, pc *pkgm.Config) {
		pc.Fetcher = pkgm.NewFetcher(pkgm.FetcherConfig{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	})
	for _, tc := range []struct {
		name   string
		e      *env
		path   string
		state  string
		detail string
	}{
		{"fetched", e, "/pkg.zip", "ONBOARDED", ""},
		{"after a redirect", e, "/redirect", "ONBOARDED", ""},
		{"redirect loop", e, "/loop", "ERROR", "redirects"},
		{"not found", e, "/missing", "ERROR", "404"},
		{"too slow", e, "/slow", "ERROR", "timed out"},
		{"denied address", denied, "/pkg.zip", "ERROR", "not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each case onboards the same appDId: delete what an earlier case onboarded.
			if p, err := tc.e.pk.GetOnboarded(t.Context(), "appd-fetch"); err == nil {
				_, _ = tc.e.pk.SetOperationalState(t.Context(), p.ID, "DISABLED")
				require.NoError(t, tc.e.pk.Delete(t.Context(), p.ID))
			}
			// By name, so that the deny list applies to the resolved address.
			url := strings.Replace(origin.URL, "127.0.0.1", "localhost", 1) + tc.path
			id := tc.e.create(content, map[string]any{"appPkgPath": url})
			var info map[string]any
			require.Eventually(t, func() bool {
				info = tc.e.do("GET", "/app_pkgm/v1/app_packages/"+id, nil).json(t)
				s := info["onboardingState"]
				return s == "ONBOARDED" || s == "ERROR"
			}, 10*time.Second, 20*time.Millisecond)
			require.Equal(t, tc.state, info["onboardingState"], "info %v", info)
			if tc.detail != "" {
				assert.Contains(t, info["onboardingFailureDetails"].(map[string]any)["detail"], tc.detail)
			}
		})
	}
	// A literal denied address is refused at once.
	r := denied.do("POST", "/app_pkgm/v1/app_packages", map[string]any{"appPkgName": "p", "appPkgVersion": "1", "appPkgPath": "http://127.0.0.1:1/x",
		"checksum": map[string]string{"algorithm": "SHA-256", "hash": pkgmtest.SHA256(content)}})
	assert.Contains(t, problemOf(t, r, http.StatusBadRequest), "not allowed")
}

func TestListSelectors(t *testing.T) {
	e := newEnv(t, "", func(hc *httpapi.Config, _ *pkgm.Config) { hc.PageSize = 100 })
	a := e.onboard("appd-a", "alpha")
	b := e.onboard("appd-b", "beta")
	e.onboard("appd-c", "gamma")
	require.Equal(t, http.StatusOK, e.do("PATCH", "/app_pkgm/v1/app_packages/"+b, `{"operationalState":"DISABLED"}`).status)
	created := e.create(pkgmtest.Package("appd-z", "zeta"), map[string]any{"userDefinedData": map[string]any{"tier": "gold"}})

	ids := func(r resp) []string {
		require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
		var out []string
		for _, d := range r.list(t) {
			out = append(out, d["id"].(string))
		}
		return out
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"eq", "filter=(eq,operationalState,DISABLED)", []string{b, created}},
		{"raw semicolon", "filter=(eq,onboardingState,ONBOARDED);(neq,appName,gamma)", []string{a, b}},
		{"in", "filter=(in,appDId,appd-a,appd-b)", []string{a, b}},
		{"cont none", "filter=(cont,appName,xyz)", nil},
		{"cont match", "filter=(cont,appName,mm)", ids(e.do("GET", "/app_pkgm/v1/app_packages?filter=(eq,appName,gamma)", nil))},
		{"nested", "filter=(eq,userDefinedData/tier,gold)", []string{created}},
		{"checksum algorithm", "filter=(eq,checksum/algorithm,SHA-256);(eq,appDId,appd-a)", []string{a}},
		{"nin", "filter=(nin,onboardingState,ONBOARDED)", []string{created}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ids(e.do("GET", "/app_pkgm/v1/app_packages?"+tc.query, nil)))
		})
	}
	for _, q := range []string{"filter=(eq,nope,x)", "filter=(bogus,appName,x)", "filter=(eq,appName", "fields=nope", "exclude_fields=id", "all_fields&fields=checksum"} {
		t.Run("bad "+q, func(t *testing.T) {
			problemOf(t, e.do("GET", "/app_pkgm/v1/app_packages?"+q, nil), http.StatusBadRequest)
		})
	}
	one := func(q string) map[string]any {
		r := e.do("GET", "/app_pkgm/v1/app_packages?filter=(eq,id,"+a+")"+q, nil)
		require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
		l := r.list(t)
		require.Len(t, l, 1)
		return l[0]
	}
	def := one("")
	assert.NotContains(t, def, "checksum", "excluded by default")
	assert.NotContains(t, def, "softwareImages")
	assert.Contains(t, def, "appName")
	assert.Contains(t, def, "_links")
	all := one("&all_fields")
	assert.Contains(t, all, "checksum")
	assert.Contains(t, all, "softwareImages")
	f := one("&fields=checksum")
	assert.Contains(t, f, "checksum")
	assert.NotContains(t, f, "softwareImages")
	x := one("&exclude_fields=appName")
	assert.NotContains(t, x, "appName")
	assert.Contains(t, x, "checksum")

	// The onboarded list takes the same selectors.
	assert.Equal(t, []string{b}, ids(e.do("GET", "/app_pkgm/v1/onboarded_app_packages?filter=(eq,operationalState,DISABLED)", nil)))
}

// A marker of one list is refused by the other, and a forged one by both.
func TestMarkers(t *testing.T) {
	e := newEnv(t, "") // 3 per page
	for i := range 4 {
		e.onboard("appd-m"+itoa(i), "m"+itoa(i))
	}
	r := e.do("GET", "/app_pkgm/v1/app_packages?filter=(eq,onboardingState,ONBOARDED);(neq,appName,x)", nil)
	require.Equal(t, http.StatusOK, r.status)
	link := r.header.Get("Link")
	require.NotEmpty(t, link)
	next := link[1:strings.Index(link, ">")]
	assert.Contains(t, next, "filter=", "the filter goes on")
	r2 := e.do("GET", next, nil)
	require.Equal(t, http.StatusOK, r2.status, "body %s", r2.body)
	assert.Len(t, r2.list(t), 1)
	marker := next[strings.Index(next, "nextpage_opaque_marker=")+len("nextpage_opaque_marker="):]
	problemOf(t, e.do("GET", "/app_pkgm/v1/onboarded_app_packages?nextpage_opaque_marker="+marker, nil), http.StatusBadRequest)
	problemOf(t, e.do("GET", "/app_pkgm/v1/app_packages?nextpage_opaque_marker=eyJsIjoiYSIsInAiOjF9.AAAA", nil), http.StatusBadRequest)
}
