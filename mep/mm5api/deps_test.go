package mm5api

import (
	"testing"

	"github.com/edgemec/edgemec/internal/testutil"
)

// TestDeps keeps the generated clients and models free of the server side: the MEO, the
// UPGW and mecctl import them without linking an HTTP server framework.
func TestDeps(t *testing.T) {
	testutil.ForbidDeps(t, ".", false, "github.com/labstack/echo")
	testutil.ForbidDeps(t, "../mp1api", false, "github.com/labstack/echo")
	testutil.ForbidDeps(t, "../../upgw/internal/feed", false, "github.com/labstack/echo")
}
