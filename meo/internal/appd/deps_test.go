package appd_test

import (
	"testing"

	"github.com/edgemec/edgemec/internal/testutil"
)

// TestDeps keeps the AppD model light: placement and the app lifecycle import it, and must
// not link Kubernetes, Helm or VIM clients through it (package reading, which renders
// charts, lives in apppkg).
func TestDeps(t *testing.T) {
	testutil.ForbidDeps(t, ".", true, "k8s.io/", "helm.sh/", "kubevirt.io/", "github.com/digitalocean/go-libvirt", "github.com/jackc/pgx")
}
