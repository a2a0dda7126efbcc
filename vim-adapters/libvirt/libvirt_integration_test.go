//go:build integration

package libvirt_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/vim-adapters/internal/kubetest"
	"github.com/edgemec/edgemec/vim-adapters/libvirt"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// The tests run against the private libvirtd of test/testbed/libvirt.sh with libvirt's test
// driver (test:///default: a fake host with 16 CPUs and 3 GiB, a storage pool
// "default-pool" and a network "default"). Its state lives as long as a connection is open,
// so each test holds its own connection (and so its own fresh host).

func setup(t *testing.T) (*libvirt.Adapter, *golibvirt.Libvirt) {
	t.Helper()
	sock := testutil.RequireEnv(t, "EDGEMEC_LIBVIRT_SOCK")
	l, err := libvirt.Dial(sock, golibvirt.TestDefault)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Disconnect() })
	a, err := libvirt.New(libvirt.Config{Site: "vm-site", DomainType: "test", ShutdownGrace: 2 * time.Second,
		Connect: func(context.Context) (*golibvirt.Libvirt, error) { return l, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return a, l
}

// image uploads a volume to the test host's pool, as image management would.
func image(t *testing.T, l *golibvirt.Libvirt, name string) string {
	t.Helper()
	pool, err := l.StoragePoolLookupByName("default-pool")
	if err != nil {
		t.Fatal(err)
	}
	vol, err := l.StorageVolCreateXML(pool, fmt.Sprintf(`<volume><name>%s</name><capacity unit="GiB">1</capacity><target><format type="qcow2"/></target></volume>`, name), 0)
	if err != nil {
		t.Fatal(err)
	}
	path, err := l.StorageVolGetPath(vol)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func request(id, img string) vim.DeployRequest {
	req := kubetest.Request(id, img)
	req.Image.DiskFormat = "qcow2"
	req.Compute = vim.VirtualCompute{VirtualCPUs: 2, MemoryMiB: 512, CPUArchitecture: "x86_64"}
	return req
}

func TestDomainLifecycle(t *testing.T) {
	a, l := setup(t)
	ctx := kubetest.Context(t, time.Minute)
	events, err := a.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := kubetest.ID("lv")
	req := request(id, image(t, l, "mec-app.qcow2"))
	for range 2 { // idempotent
		if err := a.Deploy(ctx, req); err != nil {
			t.Fatalf("deploy: %v", err)
		}
	}
	st, err := vim.WaitRunning(ctx, a, id)
	if err != nil {
		t.Fatalf("wait running: %v", err)
	}
	if len(st.Endpoints) == 0 || st.Endpoints[0].Address == "" || len(st.Nodes) != 1 {
		t.Errorf("got endpoints %+v nodes %v; want the guest's address and the host", st.Endpoints, st.Nodes)
	}
	dom, err := l.DomainLookupByName(a.DomainName(id))
	if err != nil {
		t.Fatal(err)
	}
	x, err := l.DomainGetXMLDesc(dom, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<vcpu placement='static'>2</vcpu>", "524288</memory>", req.AppInstanceID + "</edgemec:appInstanceId>",
		"io.systemd.credential:edgemec.mp1.endpoint=" + req.MEP.Endpoint, "/default-pool/" + a.DomainName(id) + ".qcow2"} {
		if !strings.Contains(x, want) {
			t.Errorf("domain XML lacks %q:\n%s", want, x)
		}
	}
	// The guest boots from its own qcow2 overlay on the image, never from the shared image.
	if strings.Contains(x, "/default-pool/mec-app.qcow2'") {
		t.Errorf("the domain uses the shared image as its disk:\n%s", x)
	}
	pool, err := l.StoragePoolLookupByName("default-pool")
	if err != nil {
		t.Fatal(err)
	}
	disk, err := l.StorageVolLookupByName(pool, a.DomainName(id)+".qcow2")
	if err != nil {
		t.Fatalf("instance disk: %v", err)
	}
	if d, err := l.StorageVolGetXMLDesc(disk, 0); err != nil || !strings.Contains(d, "/default-pool/mec-app.qcow2</path>") {
		t.Errorf("instance disk %v; want a volume backed by the image:\n%s", err, d)
	}
	// A second instance of the same app gets a disk of its own.
	id2 := kubetest.ID("lv2")
	if err := a.Deploy(ctx, request(id2, req.Image.Ref)); err != nil {
		t.Fatalf("deploy a second instance: %v", err)
	}
	if _, err := l.StorageVolLookupByName(pool, a.DomainName(id2)+".qcow2"); err != nil {
		t.Errorf("second instance disk: %v", err)
	}
	if err := a.Terminate(ctx, id2); err != nil {
		t.Fatal(err)
	}
	domains, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range domains {
		if d.Name == a.DomainName(id) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("got %d domains named %s; want 1", n, a.DomainName(id))
	}

	for range 2 {
		if err := a.Stop(ctx, id); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	if st, err := a.Status(ctx, id); err != nil || st.Phase != vim.PhaseStopped {
		t.Fatalf("got %v, %v after stop; want Stopped", st.Phase, err)
	}
	if err := a.Start(ctx, id); err != nil {
		t.Fatalf("start: %v", err)
	}
	if _, err := vim.WaitRunning(ctx, a, id); err != nil {
		t.Fatalf("running after start: %v", err)
	}
	for range 2 {
		if err := a.Terminate(ctx, id); err != nil {
			t.Fatalf("terminate: %v", err)
		}
	}
	if _, err := a.Status(ctx, id); !errors.Is(err, vim.ErrNotFound) {
		t.Fatalf("got %v after terminate; want ErrNotFound", err)
	}
	for _, i := range []string{id, id2} {
		if _, err := l.StorageVolLookupByName(pool, a.DomainName(i)+".qcow2"); err == nil || !strings.Contains(err.Error(), "no storage vol") {
			t.Errorf("instance disk of %s after terminate: %v; want it deleted", i, err)
		}
	}
	if _, err := l.StorageVolLookupByName(pool, "mec-app.qcow2"); err != nil {
		t.Errorf("the shared image is gone: %v", err)
	}

	// The lifecycle events showed Running, Stopped, Running and the removal.
	var seen []string
	timeout := time.After(5 * time.Second)
	for !strings.HasSuffix(strings.Join(seen, ","), "deleted") {
		select {
		case ev := <-events:
			if ev.Status.AppInstanceID != id {
				continue
			}
			s := string(ev.Status.Phase)
			if ev.Deleted {
				s = "deleted"
			}
			if len(seen) == 0 || seen[len(seen)-1] != s {
				seen = append(seen, s)
			}
		case <-timeout:
			t.Fatalf("watch saw %v; want Running … Stopped … Running … deleted", seen)
		}
	}
	got := strings.Join(seen, ",")
	if !strings.Contains(got, "Running,Stopped,Running") {
		t.Errorf("watch saw %s; want Running, Stopped, Running, deleted", got)
	}
}

func TestFailures(t *testing.T) {
	a, l := setup(t)
	ctx := kubetest.Context(t, time.Minute)
	img := image(t, l, "ok.qcow2")
	tests := []struct {
		name string
		req  vim.DeployRequest
		want error
	}{
		{"image missing", request(kubetest.ID("lvimg"), "/default-pool/nope.qcow2"), vim.ErrImageMissing},
		{"unknown pool", request(kubetest.ID("lvpool"), "nopool/app.qcow2"), vim.ErrImageMissing},
		{"too big", func() vim.DeployRequest {
			r := request(kubetest.ID("lvbig"), img)
			r.Compute.MemoryMiB = 64 << 10
			return r
		}(), vim.ErrUnschedulable},
		{"bad id", request("Bad_ID", img), vim.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Deploy(ctx, tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v; want %v", err, tt.want)
			}
			t.Logf("%s: %v", tt.name, err)
			if _, err := l.DomainLookupByName(a.DomainName(tt.req.AppInstanceID)); !golibvirt.IsNotFound(err) {
				t.Errorf("a failed deploy left a domain behind (%v)", err)
			}
		})
	}
	if err := a.Terminate(ctx, kubetest.ID("never")); err != nil {
		t.Errorf("terminate of an unknown instance: %v", err)
	}

	// A domain named like an instance but defined by someone else is left alone.
	id := kubetest.ID("foreign")
	foreign, err := l.DomainDefineXML(fmt.Sprintf(`<domain type='test'><name>%s</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>`, a.DomainName(id)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.DomainUndefine(foreign) })
	if err := a.Deploy(ctx, request(id, img)); !errors.Is(err, vim.ErrConflict) {
		t.Errorf("deploy over a foreign domain: %v; want ErrConflict", err)
	}
	if err := a.Terminate(ctx, id); !errors.Is(err, vim.ErrConflict) {
		t.Errorf("terminate of a foreign domain: %v; want ErrConflict", err)
	}
	if _, err := l.DomainLookupByName(a.DomainName(id)); err != nil {
		t.Errorf("the foreign domain is gone: %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	a, _ := setup(t)
	caps, err := a.Capabilities(kubetest.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if caps.Kind != vim.KindLibvirt || caps.Allocatable.MilliCPU != 16000 || caps.Allocatable.MemoryBytes != 3<<30 || len(caps.Nodes) != 1 {
		t.Errorf("got %+v; want the test host's 16 CPUs and 3 GiB", caps)
	}
	t.Logf("capabilities: version %s, arch %v", caps.Version, caps.Architectures)
}
