// Package libvirttest connects tests to the private libvirtd of test/testbed/libvirt.sh
// (libvirt's test driver, whose socket is in EDGEMEC_LIBVIRT_SOCK) and builds the adapter on
// it, as the adapter's own tests and the MEO's VM-site tests do.
package libvirttest

import (
	"context"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/vim-adapters/libvirt"
)

// Site is the site name of the adapter.
const Site = "vm-site"

// Adapter returns an adapter for site Site on its own connection to the test host (closed
// when the test ends), with test-driver domains and a 2 s shutdown grace. It skips (fails
// under CI) without EDGEMEC_LIBVIRT_SOCK.
func Adapter(t testing.TB) (*libvirt.Adapter, *golibvirt.Libvirt) {
	t.Helper()
	sock := testutil.RequireEnv(t, "EDGEMEC_LIBVIRT_SOCK")
	l, err := libvirt.Dial(sock, golibvirt.TestDefault)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Disconnect() })
	a, err := libvirt.New(libvirt.Config{Site: Site, DomainType: "test", ShutdownGrace: 2 * time.Second,
		Connect: func(context.Context) (*golibvirt.Libvirt, error) { return l, nil }, CredentialDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return a, l
}
