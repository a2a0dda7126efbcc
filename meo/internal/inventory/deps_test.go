package inventory

import (
	"testing"

	"github.com/edgemec/edgemec/internal/testutil"
)

// TestDeps keeps the layers apart: the inventory imports neither the database driver nor the
// generated server of its API (echo comes in with the generated Mm5 client); its record
// package, the store, placement and the executor import no VIM adapter, so that the
// inventory stays the only importer of the concrete adapters.
func TestDeps(t *testing.T) {
	const adapters = "github.com/edgemec/edgemec/vim-adapters/"
	concrete := []string{adapters + "kubernetes", adapters + "k3s", adapters + "kubeedge", adapters + "kubevirt", adapters + "libvirt"}
	testutil.ForbidDeps(t, ".", false, "github.com/jackc/pgx", "github.com/edgemec/edgemec/meo/meoapi", "github.com/edgemec/edgemec/meo/internal/httpapi")
	testutil.ForbidDeps(t, "./record", false, append([]string{"github.com/jackc/pgx", "k8s.io/client-go"}, concrete...)...)
	testutil.ForbidDeps(t, "../store/pgstore", false, append([]string{"k8s.io/client-go"}, concrete...)...)
	testutil.ForbidDeps(t, "../placement", false, concrete...)
	testutil.ForbidDeps(t, "../orchestrate", false, concrete...)
}
