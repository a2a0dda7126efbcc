package httpapi

import (
	"strings"
	"testing"

	"github.com/edgemec/edgemec/mep/mm5api/mm5server"
	"github.com/edgemec/edgemec/mep/mp1api/mp1server"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
)

// TestAllowedQueries checks the query parameters read from the specs: path-level and $ref
// parameters resolve, and every generated route has an entry (else it would not be validated).
func TestAllowedQueries(t *testing.T) {
	v, err := specValidator()
	require.NoError(t, err)
	for route, want := range map[string][]string{
		"GET /mec_service_mgmt/v1/services":                             {"ser_instance_id", "ser_name", "ser_category_id", "consumed_local_only", "is_local", "scope_of_locality"},
		"GET /mec_service_mgmt/v1/applications/:appInstanceId/services": {"ser_instance_id", "ser_name", "ser_category_id", "consumed_local_only", "is_local", "scope_of_locality"},
		"DELETE /mepm/v1/app_instances/:appInstanceId":                  {"graceful_timeout"},
		"GET /mepm/v1/feeds/traffic_rules":                              {"after", "timeout"},
		"GET /mepm/v1/feeds/dns_rules":                                  {"after", "timeout"},
	} {
		method, path, _ := strings.Cut(route, " ")
		got, ok := v.QueryParams(method, path)
		require.True(t, ok, "no entry for %s", route)
		require.ElementsMatch(t, want, got, route)
	}
	got, ok := v.QueryParams("PUT", "/mec_app_support/v1/applications/:appInstanceId/dns_rules/:dnsRuleId")
	require.True(t, ok)
	require.Empty(t, got, "If-Match is a header, not a query parameter")
	e := echo.New()
	mp1server.RegisterHandlers(e, mp1server.NewStrictHandler(&handler{}, nil))
	mm5server.RegisterHandlersWithBaseURL(e, mm5server.NewStrictHandler(&mm5Handler{&handler{}}, nil), "/mepm/v1")
	for _, r := range e.Routes() {
		_, ok := v.QueryParams(r.Method, r.Path)
		require.True(t, ok, "route %s %s has no query table entry", r.Method, r.Path)
	}
}
