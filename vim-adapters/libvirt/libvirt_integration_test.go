//go:build integration

package libvirt_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/vim-adapters/internal/kubetest"
	"github.com/edgemec/edgemec/vim-adapters/libvirt"
	"github.com/edgemec/edgemec/vim-adapters/libvirt/libvirttest"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

// The tests run against the private libvirtd of test/testbed/libvirt.sh with libvirt's test
// driver (test:///default: a fake host with 16 CPUs and 3 GiB, a storage pool
// "default-pool" and a network "default"). Its state lives as long as a connection to it is
// open: each test holds its own connection, so tests that run one after the other get a fresh
// host, and the contract suite's cases, which run in parallel, share one.

func setup(t *testing.T) (*libvirt.Adapter, *golibvirt.Libvirt) {
	t.Helper()
	a, l := libvirttest.Adapter(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() { defer close(done); playGuests(ctx, a, l) }()
	return a, l
}

// noGuest prefixes the ids of instances whose guest never comes up.
const noGuest = "noguest"

// playGuests plays the guests of the test host, which has no guest agent: every 50 ms, a
// running instance domain whose guest is not up yet gets its first heartbeat, unless its id
// starts with noGuest.
func playGuests(ctx context.Context, a *libvirt.Adapter, l *golibvirt.Libvirt) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		doms, _, err := l.ConnectListAllDomains(1, golibvirt.ConnectListDomainsActive)
		if err != nil {
			continue
		}
		for _, d := range doms {
			id, ok := strings.CutPrefix(d.Name, "mec-")
			if !ok || strings.HasPrefix(id, noGuest) {
				continue
			}
			if st, err := a.Status(ctx, id); err == nil && st.Phase == vim.PhasePending && len(st.Reasons) > 0 && st.Reasons[0].Code == "GuestStarting" {
				_ = a.GuestHeartbeat(ctx, id)
			}
		}
	}
}

// TestGuestUp: a domain the hypervisor runs is Pending until its guest is up (here: its
// first heartbeat), and each boot needs its own (issue 15 §6).
func TestGuestUp(t *testing.T) {
	a, l := setup(t)
	image(t, l, "guest.qcow2")
	ctx := kubetest.Context(t, time.Minute)
	id := kubetest.ID(noGuest)
	t.Cleanup(func() { _ = a.Terminate(context.Background(), id) })
	events, err := a.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Deploy(ctx, request(id, "/default-pool/guest.qcow2")); err != nil {
		t.Fatal(err)
	}
	pendingGuest := func(when string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond)
		st, err := a.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase != vim.PhasePending || len(st.Reasons) == 0 || st.Reasons[0].Code != "GuestStarting" || st.Err() != nil {
			t.Fatalf("%s: got %s %+v; want Pending GuestStarting", when, st.Phase, st.Reasons)
		}
		dom, err := l.DomainLookupByName(a.DomainName(id))
		if err != nil {
			t.Fatal(err)
		}
		if s, _, _ := l.DomainGetState(dom, 0); s != 1 {
			t.Fatalf("%s: domain state %d; want running (1)", when, s)
		}
	}
	pendingGuest("after deploy")
	if err := a.GuestHeartbeat(ctx, id); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if st, err := a.Status(ctx, id); err != nil || st.Phase != vim.PhaseRunning || st.Ready != 1 {
		t.Fatalf("after the first heartbeat: got %+v, %v; want Running", st, err)
	}
	for seen := false; !seen; {
		select {
		case ev := <-events:
			seen = ev.Status.AppInstanceID == id && ev.Status.Phase == vim.PhaseRunning
		case <-ctx.Done():
			t.Fatal("Watch did not report Running after the heartbeat")
		}
	}
	if err := a.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := a.GuestHeartbeat(ctx, id); !errors.Is(err, vim.ErrConflict) {
		t.Errorf("heartbeat of a stopped domain: got %v; want ErrConflict", err)
	}
	if err := a.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	pendingGuest("after a restart")
	if err := a.GuestHeartbeat(ctx, "nope-"+id); !errors.Is(err, vim.ErrNotFound) {
		t.Errorf("heartbeat of an unknown instance: got %v; want ErrNotFound", err)
	}
}

// image uploads a volume to the test host's pool, as image management would, unless it is
// there already.
func image(t *testing.T, l *golibvirt.Libvirt, name string) string {
	t.Helper()
	pool := mustPool(t, l)
	vol, err := l.StorageVolCreateXML(pool, fmt.Sprintf(`<volume><name>%s</name><capacity unit="GiB">1</capacity><target><format type="qcow2"/></target></volume>`, name), 0)
	if err != nil {
		if vol, err = l.StorageVolLookupByName(pool, name); err != nil {
			t.Fatal(err)
		}
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

// conns maps each adapter the contract suite gets to its connection (its own test host).
var conns sync.Map

// TestContract runs the vim.VIM contract suite; each case gets a fresh test host with the
// image volume contract.qcow2.
func TestContract(t *testing.T) {
	vimtest.Run(t, func(t *testing.T) vim.VIM {
		a, l := setup(t)
		image(t, l, "contract.qcow2")
		conns.Store(a, l)
		return a
	}, vimtest.Options{
		Request:      func(id string) vim.DeployRequest { return request(id, "/default-pool/contract.qcow2") },
		Kind:         vim.KindLibvirt,
		NewID:        kubetest.ID,
		Timeout:      time.Minute,
		MissingImage: func(r *vim.DeployRequest) { r.Image.Ref = "/default-pool/nope.qcow2" },
		Foreign: func(t *testing.T, v vim.VIM, id string) func() error {
			a := v.(*libvirt.Adapter)
			c, _ := conns.Load(a)
			l := c.(*golibvirt.Libvirt)
			// A domain named like an instance but defined by someone else, running.
			dom, err := l.DomainDefineXML(fmt.Sprintf(`<domain type='test'><name>%s</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>`, a.DomainName(id)))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.DomainCreate(dom); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.DomainDestroy(dom); _ = l.DomainUndefine(dom) })
			return func() error {
				d, err := l.DomainLookupByName(a.DomainName(id))
				if err != nil {
					return err
				}
				st, _, err := l.DomainGetState(d, 0)
				if err != nil {
					return fmt.Errorf("foreign domain state: %w", err)
				}
				if st != 1 {
					return fmt.Errorf("foreign domain state %d; want running (1)", st)
				}
				x, err := l.DomainGetXMLDesc(d, 0)
				if err != nil {
					return fmt.Errorf("foreign domain xml: %w", err)
				}
				if strings.Contains(x, "edgemec") {
					return fmt.Errorf("foreign domain redefined:\n%s", x)
				}
				if _, err := l.StorageVolLookupByName(mustPool(t, l), a.DomainName(id)+".qcow2"); err == nil {
					return errors.New("an instance disk was made for the foreign domain")
				}
				return nil
			}
		},
	})
}

func mustPool(t *testing.T, l *golibvirt.Libvirt) golibvirt.StoragePool {
	t.Helper()
	pool, err := l.StoragePoolLookupByName("default-pool")
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// TestDomain checks what the contract does not: the domain definition, the instance's own
// disk on top of the shared image, and that Terminate removes that disk only.
func TestDomain(t *testing.T) {
	a, l := setup(t)
	ctx := kubetest.Context(t, time.Minute)
	id := kubetest.ID("lv")
	req := request(id, image(t, l, "mec-app.qcow2"))
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy: %v", err)
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
	pool := mustPool(t, l)
	disk, err := l.StorageVolLookupByName(pool, a.DomainName(id)+".qcow2")
	if err != nil {
		t.Fatalf("instance disk: %v", err)
	}
	if d, err := l.StorageVolGetXMLDesc(disk, 0); err != nil || !strings.Contains(d, "/default-pool/mec-app.qcow2</path>") {
		t.Errorf("instance disk %v; want a volume backed by the image:\n%s", err, d)
	}
	// Redeploying keeps the domain's UUID.
	if err := a.Deploy(ctx, req); err != nil {
		t.Fatalf("redeploy: %v", err)
	}
	if again, err := l.DomainLookupByName(a.DomainName(id)); err != nil || again.UUID != dom.UUID {
		t.Errorf("got domain %v (%v) after a redeploy; want the same UUID %x", again.UUID, err, dom.UUID)
	}
	// A second instance of the same app gets a disk of its own.
	id2 := kubetest.ID("lv2")
	if err := a.Deploy(ctx, request(id2, req.Image.Ref)); err != nil {
		t.Fatalf("deploy a second instance: %v", err)
	}
	if _, err := l.StorageVolLookupByName(pool, a.DomainName(id2)+".qcow2"); err != nil {
		t.Errorf("second instance disk: %v", err)
	}
	for _, i := range []string{id, id2} {
		if err := a.Terminate(ctx, i); err != nil {
			t.Fatal(err)
		}
		if _, err := l.StorageVolLookupByName(pool, a.DomainName(i)+".qcow2"); err == nil || !strings.Contains(err.Error(), "no storage vol") {
			t.Errorf("instance disk of %s after terminate: %v; want it deleted", i, err)
		}
	}
	if _, err := l.StorageVolLookupByName(pool, "mec-app.qcow2"); err != nil {
		t.Errorf("the shared image is gone: %v", err)
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
		{"unknown pool", request(kubetest.ID("lvpool"), "nopool/app.qcow2"), vim.ErrImageMissing},
		{"too big", func() vim.DeployRequest {
			r := request(kubetest.ID("lvbig"), img)
			r.Compute.MemoryMiB = 64 << 10
			return r
		}(), vim.ErrUnschedulable},
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

// TestMp1Credential: the Mp1 client secret reaches the guest from a 0600 file through
// fw_cfg, so that neither the QEMU command line nor the read-only domain XML shows it;
// Terminate removes the file (issue 15 §6).
func TestMp1Credential(t *testing.T) {
	sock := testutil.RequireEnv(t, "EDGEMEC_LIBVIRT_SOCK")
	l, err := libvirt.Dial(sock, golibvirt.TestDefault)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Disconnect() })
	image(t, l, "cred.qcow2")
	ctx := kubetest.Context(t, time.Minute)
	for _, smbios := range []bool{false, true} {
		t.Run(fmt.Sprintf("smbios=%v", smbios), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "creds")
			a, err := libvirt.New(libvirt.Config{Site: "vm-site", DomainType: "test", ShutdownGrace: time.Second, CredentialDir: dir,
				SMBIOSCredentials: smbios, Connect: func(context.Context) (*golibvirt.Libvirt, error) { return l, nil }})
			if err != nil {
				t.Fatal(err)
			}
			id := kubetest.ID("cred")
			req := request(id, "/default-pool/cred.qcow2")
			req.MEP.ClientSecret = "s3cret-" + id
			if err := a.Deploy(ctx, req); err != nil {
				t.Fatal(err)
			}
			dom, err := l.DomainLookupByName(a.DomainName(id))
			if err != nil {
				t.Fatal(err)
			}
			x, err := l.DomainGetXMLDesc(dom, 0) // what a read-only connection sees
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, a.DomainName(id)+".client-secret")
			if smbios {
				if !strings.Contains(x, "io.systemd.credential:edgemec.mp1.client-secret="+req.MEP.ClientSecret) {
					t.Errorf("SMBIOSCredentials: the secret is not in the OEM strings:\n%s", x)
				}
				if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("SMBIOSCredentials: credential file %v; want none", err)
				}
			} else {
				if strings.Contains(x, req.MEP.ClientSecret) {
					t.Errorf("the domain XML shows the client secret:\n%s", x)
				}
				if !strings.Contains(x, "opt/io.systemd.credentials/edgemec.mp1.client-secret") || !strings.Contains(x, file) {
					t.Errorf("the domain XML lacks the fw_cfg credential entry for %s:\n%s", file, x)
				}
				fi, err := os.Stat(file)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("credential file mode %v; want 0600", fi.Mode().Perm())
				}
				if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 {
					t.Errorf("credential dir: %v %v; want mode 0700", di.Mode().Perm(), err)
				}
				if b, err := os.ReadFile(file); err != nil || string(b) != req.MEP.ClientSecret {
					t.Errorf("credential file holds %q (%v); want the client secret", b, err)
				}
			}
			if err := a.Terminate(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("credential file after terminate: %v; want it removed", err)
			}
		})
	}
}
