//go:build e2e

package upgwe2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

var nsSeq atomic.Int32

// topo is one gNB / UPGW / UPF / app topology in four fresh network namespaces:
//
//	gnb[g0 10.0.0.1] ⇄ [n3g] upgw [n3u] ⇄ [u0 10.0.0.2]upf
//	                        [app0 192.0.2.1]
//	                             ⇅
//	                    app[a0 192.0.2.10]
//
// The UPGW is a bump in the wire on N3: gNB and UPF share one subnet through it.
type topo struct {
	t                      *testing.T
	gnb, upgw, upf, app    string
	gnbMAC, upfMAC, appMAC net.HardwareAddr
	api                    *upgwapi.ClientWithResponses
	http                   *http.Client
	apiBase                string
	// logPath is the running agent's log (stdout and stderr).
	logPath  string
	stopUPGW func()
	// killUPGW ends the agent with SIGKILL, as a crash would.
	killUPGW func()
}

func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func nsExec(t *testing.T, ns string, args ...string) string {
	t.Helper()
	return ip(t, append([]string{"netns", "exec", ns}, args...)...)
}

// inNS runs fn on an OS thread switched into the named netns. Sockets created by fn stay in
// that netns and can be used from any goroutine afterwards.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine instead of serving others
			// in the wrong netns.
			errc <- errors.Join(ferr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func macOf(t *testing.T, ns, dev string) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	if err := inNS(ns, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		mac = ifc.HardwareAddr
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// buildUPGW builds cmd/upgw once per test binary. UPGW_E2E_BIN names a binary to use
// instead (another build of the agent, to compare).
var upgwBin string

func buildUPGW(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("UPGW_E2E_BIN"); b != "" {
		return b
	}
	if upgwBin != "" {
		return upgwBin
	}
	dir, err := os.MkdirTemp("", "upgw-e2e-bin")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "upgw")
	testutil.GoBuild(t, "./cmd/upgw", bin)
	upgwBin = bin
	return bin
}

// newTopo creates the namespaces and veths and starts the upgw binary in its namespace.
func newTopo(t *testing.T, xdpMode string, extraArgs ...string) *topo {
	t.Helper()
	return newTopoNamed(t, "ue2e", xdpMode, extraArgs...)
}

// newTopoNamed is newTopo with the namespaces' name prefix.
func newTopoNamed(t *testing.T, prefix, xdpMode string, extraArgs ...string) *topo {
	t.Helper()
	bin := buildUPGW(t)
	id := fmt.Sprintf("%s%d%d", prefix, os.Getpid()%10000, nsSeq.Add(1))
	tp := &topo{t: t, gnb: id + "g", upgw: id + "w", upf: id + "u", app: id + "a"}
	for _, ns := range []string{tp.gnb, tp.upgw, tp.upf, tp.app} {
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		nsExec(t, ns, "ip", "link", "set", "lo", "up")
		nsExec(t, ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	veth := func(a, ans, b, bns string) {
		ip(t, "link", "add", a, "netns", ans, "type", "veth", "peer", "name", b, "netns", bns)
	}
	veth("g0", tp.gnb, "n3g", tp.upgw)
	veth("u0", tp.upf, "n3u", tp.upgw)
	veth("a0", tp.app, "app0", tp.upgw)
	nsExec(t, tp.gnb, "ip", "addr", "add", "10.0.0.1/24", "dev", "g0")
	nsExec(t, tp.upf, "ip", "addr", "add", "10.0.0.2/24", "dev", "u0")
	nsExec(t, tp.app, "ip", "addr", "add", "192.0.2.10/24", "dev", "a0")
	nsExec(t, tp.upgw, "ip", "addr", "add", "192.0.2.1/24", "dev", "app0")
	for ns, devs := range map[string][]string{tp.gnb: {"g0"}, tp.upf: {"u0"}, tp.app: {"a0"}, tp.upgw: {"n3g", "n3u", "app0"}} {
		for _, d := range devs {
			nsExec(t, ns, "ip", "link", "set", d, "up")
		}
	}
	// Native XDP redirect into a veth needs NAPI on the receiving peer: GRO turns it on
	// without an XDP program there.
	nsExec(t, tp.gnb, "ethtool", "-K", "g0", "gro", "on")
	nsExec(t, tp.upf, "ethtool", "-K", "u0", "gro", "on")
	nsExec(t, tp.app, "ethtool", "-K", "a0", "gro", "on")
	nsExec(t, tp.app, "ip", "route", "add", "10.60.0.0/16", "via", "192.0.2.1")
	tp.gnbMAC = macOf(t, tp.gnb, "g0")
	tp.upfMAC = macOf(t, tp.upf, "u0")
	tp.appMAC = macOf(t, tp.app, "a0")

	tp.startUPGW(bin, xdpMode, extraArgs...)
	return tp
}

func (tp *topo) startUPGW(bin, xdpMode string, extraArgs ...string) {
	t := tp.t
	args := append([]string{"netns", "exec", tp.upgw, bin, "--gnb-if", "n3g", "--upf-if", "n3u", "--xdp-mode", xdpMode,
		"--app", "app0," + tp.appMAC.String() + ",192.0.2.10/32", "--listen", "127.0.0.1:8090", "--log-level", "debug"}, extraArgs...)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "{appMAC}", tp.appMAC.String())
	}
	cmd := exec.Command("ip", args...)
	logf, err := os.CreateTemp("", "upgw-e2e-log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	tp.logPath = logf.Name()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	tp.stopUPGW = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	tp.killUPGW = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Kill()
		<-done
	}
	t.Cleanup(func() {
		tp.stopUPGW()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("upgw log:\n%s", b)
		}
		os.Remove(logf.Name())
	})
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := inNS(tp.upgw, func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}}
	tp.http = hc
	tp.apiBase = "http://127.0.0.1:8090"
	// An agent started with --api-token wants it on every control API request.
	var token string
	for i, a := range extraArgs {
		if a == "--api-token" && i+1 < len(extraArgs) {
			token = extraArgs[i+1]
		}
	}
	tp.api, err = upgwapi.NewClientWithResponses(tp.apiBase+"/upgw/v1", upgwapi.WithHTTPClient(hc),
		upgwapi.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			if token != "" {
				r.Header.Set("Authorization", "Bearer "+token)
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := tp.api.GetStatusWithResponse(t.Context())
		if err == nil && r.JSON200 != nil {
			return
		}
		select {
		case err := <-done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("upgw exited: %v\n%s", err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("upgw control API not up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rawSock is an AF_PACKET socket on one interface of a namespace.
type rawSock struct {
	fd      int
	ifindex int
}

func openRaw(t *testing.T, ns, dev string) *rawSock {
	t.Helper()
	var s rawSock
	err := inNS(ns, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
		s = rawSock{fd: fd, ifindex: ifc.Index}
		return nil
	})
	if err != nil {
		t.Fatalf("raw socket on %s/%s: %v", ns, dev, err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return &s
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *rawSock) send(t *testing.T, frame []byte) {
	t.Helper()
	if err := unix.Sendto(s.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: s.ifindex}); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// recv returns the next incoming frame accepted by keep, or nil after the timeout.
func (s *rawSock) recv(timeout time.Duration, keep func([]byte) bool) []byte {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 9000)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		_ = unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		n, from, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if keep(buf[:n]) {
			return append([]byte(nil), buf[:n]...)
		}
	}
}

// isGTPU reports whether a frame is IPv4/UDP to port 2152.
func isGTPU(f []byte) bool {
	return len(f) >= 14+20+8+8 && f[12] == 0x08 && f[13] == 0 && f[14+9] == 17 &&
		f[14+20+2] == 0x08 && f[14+20+3] == 0x68
}

func equalFrames(a, b []byte) bool { return bytes.Equal(a, b) }

// TestMain removes the upgw binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if upgwBin != "" {
		os.RemoveAll(filepath.Dir(upgwBin))
	}
	os.Exit(code)
}
