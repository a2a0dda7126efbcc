package platform_test

import (
	"testing"

	"github.com/edgemec/edgemec/internal/testutil"
)

// TestDeps keeps the domain free of the APIs' wire types and of the HTTP edge: the handlers
// (mep/internal/httpapi) convert, so that what differs between API versions stays there.
// App instances and their rules are the MEP's own types (types.go, internal/mecrule); the
// Mm5 wire types are out. Services, subscriptions, registrations and notifications still
// use mep/mp1api, which joins the list once they have moved.
func TestDeps(t *testing.T) {
	testutil.ForbidDeps(t, ".", false,
		"github.com/edgemec/edgemec/mep/mm5api",
		"github.com/edgemec/edgemec/mep/internal/httpapi",
		"github.com/labstack/echo")
}
