package selector_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/selector"
)

// TestFilterOverHTTP sends a filter with unencoded ";" and "'" through a real HTTP server: the
// standard Query() loses it, ParseQuery on the raw query keeps it.
func TestFilterOverHTTP(t *testing.T) {
	var viaQuery, viaRaw string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		viaQuery = r.URL.Query().Get(selector.ParamFilter)
		q, err := selector.ParseQuery(r.URL.RawQuery)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		viaRaw = q.Get(selector.ParamFilter)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // net/http warns about the ";"
	srv.Start()
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/app_pkgm/v1/app_packages?filter=(eq,onboardingState,ONBOARDED);(neq,appName,'it''s')&all_fields")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Empty(t, viaQuery, "url.URL.Query drops pairs holding ';'")
	assert.Equal(t, "(eq,onboardingState,ONBOARDED);(neq,appName,'it''s')", viaRaw)
	e, err := selector.ParseFilter(viaRaw)
	require.NoError(t, err)
	assert.Len(t, e.Clauses(), 2)
}
