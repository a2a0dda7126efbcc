package pkgm

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the layers apart (handler → domain → store): the domain imports neither
// the HTTP framework nor the database driver, and the stores do not import the HTTP
// framework.
func TestDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for pkg, forbidden := range map[string][]string{
		".":                {"github.com/labstack/echo", "github.com/jackc/pgx", "github.com/edgemec/edgemec/meo/mm1api"},
		"../store":         {"github.com/labstack/echo", "github.com/jackc/pgx"},
		"../store/pgstore": {"github.com/labstack/echo", "github.com/edgemec/edgemec/meo/mm1api"},
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
