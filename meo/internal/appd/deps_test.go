package appd_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the AppD model light, in the spirit of tailscale's tstest/deptest: placement
// and the app lifecycle import it, and must not link Kubernetes, Helm or VIM clients through
// it (package reading, which renders charts, lives in apppkg).
func TestDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-test", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{"k8s.io/", "helm.sh/", "kubevirt.io/", "github.com/digitalocean/go-libvirt", "github.com/jackc/pgx"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("appd depends on %s; it must stay free of client libraries", pkg)
			}
		}
	}
}
