package pkgm

import (
	"testing"

	"github.com/edgemec/edgemec/internal/testutil"
)

// TestDeps keeps the layers apart (handler → domain → store): the domain imports neither
// the HTTP framework nor the database driver, and the stores do not import the HTTP
// framework.
func TestDeps(t *testing.T) {
	testutil.ForbidDeps(t, ".", false, "github.com/labstack/echo", "github.com/jackc/pgx", "github.com/edgemec/edgemec/meo/mm1api")
	testutil.ForbidDeps(t, "../store", false, "github.com/labstack/echo", "github.com/jackc/pgx")
	testutil.ForbidDeps(t, "../store/pgstore", false, "github.com/labstack/echo", "github.com/edgemec/edgemec/meo/mm1api")
}
