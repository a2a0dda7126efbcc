package vim

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the interface package free of VIM client libraries, in the spirit of
// tailscale's tstest/deptest: the MEO imports vim and must not link client-go or libvirt
// through it.
func TestDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-test", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{"k8s.io/", "sigs.k8s.io/", "helm.sh/", "kubevirt.io/", "github.com/digitalocean/go-libvirt"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("vim depends on %s; it must not import VIM client libraries", pkg)
			}
		}
	}
}
