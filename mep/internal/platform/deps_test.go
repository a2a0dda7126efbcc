package platform_test

import (
	"testing"

	"github.com/edgemec/edgemec/internal/testutil"
)

// TestDeps keeps the domain free of the APIs' wire types and of the HTTP edge: the handlers
// (mep/internal/httpapi) convert, so that what differs between API versions stays there.
// App instances, rules, registrations, services, subscriptions and notifications are the
// MEP's own types (types.go, types_services.go, internal/mecrule).
func TestDeps(t *testing.T) {
	testutil.ForbidDeps(t, ".", false,
		"github.com/edgemec/edgemec/mep/mm5api",
		"github.com/edgemec/edgemec/mep/mp1api",
		"github.com/edgemec/edgemec/mep/internal/httpapi",
		"github.com/labstack/echo")
}
