package vim

import (
	"testing"

	"github.com/edgemec/edgemec/internal/testutil"
)

// TestDeps keeps the interface package free of VIM client libraries: the MEO imports vim and
// must not link client-go or libvirt through it.
func TestDeps(t *testing.T) {
	testutil.ForbidDeps(t, ".", true, "k8s.io/", "sigs.k8s.io/", "helm.sh/", "kubevirt.io/", "github.com/digitalocean/go-libvirt")
}
