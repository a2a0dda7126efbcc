//go:build e2e

package upgwe2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/edgemec/edgemec/internal/testutil"
)

// The restart tests run traffic through the gateway while its agent goes away and comes
// back, as the shipped systemd unit would bring it back (RestartSec=1s), and count every
// packet of every flow at every place it may arrive:
//
//	breakout      gNB → app (decapsulated)        5,000 pps; misrouted if it reaches the UPF
//	reply         app → gNB (re-encapsulated)     one per breakout packet the app receives
//	pass-through  gNB → UPF                       1,000 pps; misrouted if it reaches the app
//	downlink      UPF → gNB                         500 pps
//
// The bar (issue 17): no pass-through packet lost, no breakout packet misrouted, no reply
// lost, with the agent down for a second.
const (
	restartDown = time.Second // the shipped unit's RestartSec
	// pinPrefix names the bpffs mounts of these tests.
	pinPrefix = "upgwrs-bpf-"
)

// restartTopo is a topology whose agent pins its data plane and saves its rule set.
type restartTopo struct {
	*topo
	pinDir, stateDir string
	args             []string
}

func newRestartTopo(t *testing.T, extra ...string) *restartTopo {
	t.Helper()
	testutil.RequireRoot(t)
	mnt, err := os.MkdirTemp("", pinPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", mnt, "bpf", 0, ""); err != nil {
		os.Remove(mnt)
		t.Fatalf("mount bpffs: %v", err)
	}
	// Registered before the topology: cleanups run last-in first-out, so the agent and
	// the namespaces go first and the pins (the data plane) with the mount.
	t.Cleanup(func() {
		_ = unix.Unmount(mnt, unix.MNT_DETACH)
		os.Remove(mnt)
	})
	rt := &restartTopo{pinDir: filepath.Join(mnt, "upgw"), stateDir: t.TempDir()}
	rt.args = append([]string{"--pin-dir", rt.pinDir, "--state-dir", rt.stateDir}, extra...)
	rt.topo = newTopoNamed(t, "upgwrs", "native", rt.args...)
	return rt
}

// restart starts the agent again with the base arguments and extra ones.
func (rt *restartTopo) restart(extra ...string) {
	rt.startUPGW(buildUPGW(rt.t), "native", append(append([]string(nil), rt.args...), extra...)...)
}

// flowCounts are one flow's packets: sent, delivered where they belong, misrouted
// elsewhere, and lost (neither).
type flowCounts struct {
	sent, delivered, misrouted, lost int
	maxGap                           time.Duration // longest time without a delivery
	lostSeq                          []int64       // the first lost sequence numbers
}

func (f flowCounts) String() string {
	s := fmt.Sprintf("sent %d, delivered %d, misrouted %d, lost %d, longest gap %s",
		f.sent, f.delivered, f.misrouted, f.lost, f.maxGap.Round(time.Millisecond))
	if len(f.lostSeq) > 0 {
		s += fmt.Sprintf(" (lost: %v)", f.lostSeq)
	}
	return s
}

// traffic runs the four flows until stop is closed.
type traffic struct {
	tp       *topo
	app      *appServer
	sentB    atomic.Int64
	sentP    atomic.Int64
	sentD    atomic.Int64
	stop     chan struct{} // ends the sender
	stopRecv chan struct{} // ends the receivers, once the last packets are in
	wg       sync.WaitGroup
	mu       sync.Mutex
	atGNB    map[string]int // replies and downlink payloads
	atUPF    map[string]int
	gapGNB   map[byte]time.Duration // by flow letter: replies 'r', downlink 'd'
	gapUPF   time.Duration
	lastGNB  map[byte]time.Time
	lastUPF  time.Time
	sendErrs atomic.Int64
}

func startTraffic(t *testing.T, tp *topo, app *appServer) *traffic {
	t.Helper()
	gnbSock := openRaw(t, tp.gnb, "g0")
	upfSock := openRaw(t, tp.upf, "u0")
	tr := &traffic{tp: tp, app: app, stop: make(chan struct{}), stopRecv: make(chan struct{}), atGNB: map[string]int{}, atUPF: map[string]int{},
		gapGNB: map[byte]time.Duration{}, lastGNB: map[byte]time.Time{}}
	inner := func(f []byte) string {
		if len(f) <= 14+20+8+16+28 {
			return ""
		}
		return string(f[14+20+8+16+28:])
	}
	recvLoop := func(s *rawSock, record func(string, time.Time)) {
		defer tr.wg.Done()
		for {
			select {
			case <-tr.stopRecv:
				return
			default:
			}
			if f := s.recv(100*time.Millisecond, isGTPU); f != nil {
				if p := inner(f); p != "" {
					record(p, time.Now())
				}
			}
		}
	}
	tr.wg.Add(3)
	go recvLoop(gnbSock, func(p string, now time.Time) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.atGNB[p]++
		k := p[0]
		if last, ok := tr.lastGNB[k]; ok && now.Sub(last) > tr.gapGNB[k] {
			tr.gapGNB[k] = now.Sub(last)
		}
		tr.lastGNB[k] = now
	})
	go recvLoop(upfSock, func(p string, now time.Time) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.atUPF[p]++
		if strings.HasPrefix(p, "p-") {
			if !tr.lastUPF.IsZero() && now.Sub(tr.lastUPF) > tr.gapUPF {
				tr.gapUPF = now.Sub(tr.lastUPF)
			}
			tr.lastUPF = now
		}
	})
	// One tick a millisecond: 5 breakout, 1 pass-through and every other tick 1 downlink
	// frame (ticks the scheduler drops lower the rates, not the counts).
	go func() {
		defer tr.wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		send := func(s *rawSock, f []byte) {
			if err := unix.Sendto(s.fd, f, 0, &unix.SockaddrLinklayer{Ifindex: s.ifindex}); err != nil {
				tr.sendErrs.Add(1)
			}
		}
		var nb, np, nd int64
		for ms := int64(0); ; ms++ {
			select {
			case <-tr.stop:
				return
			case <-tick.C:
			}
			for range 5 {
				send(gnbSock, tp.ul(t, appIP, 8080, fmt.Appendf(nil, "b-%d", nb)))
				nb++
			}
			send(gnbSock, tp.ul(t, farIP, 8080, fmt.Appendf(nil, "p-%d", np)))
			np++
			if ms%2 == 0 {
				send(upfSock, tp.dl(t, 0xd1, 9, fmt.Appendf(nil, "d-%d", nd)))
				nd++
			}
			tr.sentB.Store(nb)
			tr.sentP.Store(np)
			tr.sentD.Store(nd)
		}
	}()
	return tr
}

// finish stops the senders, lets the last packets arrive and counts every flow.
func (tr *traffic) finish(t *testing.T) (breakout, reply, pass, down flowCounts) {
	t.Helper()
	// Stop sending first, then wait until nothing more arrives (500 ms without a new packet
	// anywhere, at most 10 s: the host may be loaded), then stop receiving.
	close(tr.stop)
	total := func() int {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.app.mu.Lock()
		defer tr.app.mu.Unlock()
		n := len(tr.app.got)
		for _, c := range tr.atGNB {
			n += c
		}
		for _, c := range tr.atUPF {
			n += c
		}
		return n
	}
	for last, deadline := -1, time.Now().Add(10*time.Second); time.Now().Before(deadline); {
		n := total()
		if n == last {
			break
		}
		last = n
		time.Sleep(500 * time.Millisecond)
	}
	close(tr.stopRecv)
	tr.wg.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	nb, np, nd := tr.sentB.Load(), tr.sentP.Load(), tr.sentD.Load()
	atApp := map[string]int{}
	tr.app.mu.Lock()
	for _, m := range tr.app.got {
		atApp[m]++
	}
	tr.app.mu.Unlock()
	for i := range nb {
		k := fmt.Sprintf("b-%d", i)
		breakout.sent++
		switch {
		case atApp[k] > 0:
			breakout.delivered++
			reply.sent++
			if tr.atGNB["reply:"+k] > 0 {
				reply.delivered++
			} else {
				reply.lost++
				if len(reply.lostSeq) < 20 {
					reply.lostSeq = append(reply.lostSeq, i)
				}
			}
		case tr.atUPF[k] > 0:
			breakout.misrouted++
		default:
			breakout.lost++
		}
	}
	for i := range np {
		k := fmt.Sprintf("p-%d", i)
		pass.sent++
		switch {
		case tr.atUPF[k] > 0:
			pass.delivered++
		case atApp[k] > 0:
			pass.misrouted++
		default:
			pass.lost++
			if len(pass.lostSeq) < 20 {
				pass.lostSeq = append(pass.lostSeq, i)
			}
		}
	}
	for i := range nd {
		k := fmt.Sprintf("d-%d", i)
		down.sent++
		if tr.atGNB[k] > 0 {
			down.delivered++
		} else {
			down.lost++
			if len(down.lostSeq) < 20 {
				down.lostSeq = append(down.lostSeq, i)
			}
		}
	}
	reply.maxGap, down.maxGap, pass.maxGap = tr.gapGNB['r'], tr.gapGNB['d'], tr.gapUPF
	if n := tr.sendErrs.Load(); n > 0 {
		t.Errorf("%d frames could not be sent", n)
	}
	return breakout, reply, pass, down
}

// checkBar asserts the bar and logs the figures.
func checkBar(t *testing.T, what string, breakout, reply, pass, down flowCounts) {
	t.Helper()
	t.Logf("%s: breakout: %s", what, breakout)
	t.Logf("%s: replies:  %s", what, reply)
	t.Logf("%s: pass-through uplink: %s", what, pass)
	t.Logf("%s: pass-through downlink: %s", what, down)
	if breakout.sent < 1000 || pass.sent < 200 {
		t.Fatalf("%s: only %d breakout and %d pass-through packets sent", what, breakout.sent, pass.sent)
	}
	if breakout.misrouted != 0 {
		t.Errorf("%s: %d breakout packets misrouted to the UPF; want 0", what, breakout.misrouted)
	}
	if breakout.lost != 0 {
		t.Errorf("%s: %d breakout packets lost; want 0", what, breakout.lost)
	}
	if pass.lost != 0 || pass.misrouted != 0 || down.lost != 0 {
		t.Errorf("%s: pass-through lost %d (misrouted %d) uplink and %d downlink; want 0", what, pass.lost, pass.misrouted, down.lost)
	}
	if reply.lost != 0 {
		t.Errorf("%s: %d replies lost; want 0", what, reply.lost)
	}
}

// prepare starts the app, installs the breakout rule and teaches the gateway the UE's
// downlink tunnel.
func prepare(t *testing.T, rt *restartTopo) *appServer {
	t.Helper()
	app := startApp(t, rt.topo, true)
	rt.putRules(t, 1, ruleJSON("tr1", 1, "FORWARD_DECAPSULATED", `{"dstAddress":["192.0.2.10"],"dstPort":["8080"],"protocol":["UDP"]}`))
	upfSock := openRaw(t, rt.upf, "u0")
	upfSock.send(t, rt.dl(t, 0xd1, 9, []byte("learn")))
	waitUntil(t, "learned session", func() bool {
		r, err := rt.api.ListSessionsWithResponse(t.Context())
		return err == nil && r.JSON200 != nil && len(*r.JSON200) == 1
	})
	return app
}

// ruleCount returns tr1's packet counter.
func ruleCount(t *testing.T, tp *topo) int64 {
	t.Helper()
	rc, err := tp.api.GetRuleCountersWithResponse(t.Context())
	if err != nil || rc.JSON200 == nil || len(*rc.JSON200) != 1 {
		t.Fatalf("rule counters: %v %s", err, rc.Body)
	}
	return (*rc.JSON200)[0].Packets
}

// linkProgram returns the program ID the pinned link of role runs.
func linkProgram(t *testing.T, pinDir, role string) ebpf.ProgramID {
	t.Helper()
	l, err := link.LoadPinnedLink(filepath.Join(pinDir, "links", role), nil)
	if err != nil {
		t.Fatalf("pinned link %s: %v", role, err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info.Program
}

// TestRestartKill9: the agent is killed (SIGKILL) under traffic and comes back a second
// later, from its state dir and pin dir. The data plane forwards all along: nothing is lost
// or misrouted, every reply arrives, and the rule's counter goes on from where it was.
func TestRestartKill9(t *testing.T) {
	rt := newRestartTopo(t)
	app := prepare(t, rt)
	tr := startTraffic(t, rt.topo, app)
	time.Sleep(700 * time.Millisecond)
	rt.killUPGW()
	killed, atKill := time.Now(), tr.sentB.Load()
	time.Sleep(restartDown)
	rt.restart()
	ready, atReady := time.Since(killed), tr.sentB.Load()
	time.Sleep(700 * time.Millisecond)
	breakout, reply, pass, down := tr.finish(t)
	t.Logf("kill -9: agent down for %s (restart delay %s, then start-up until the API answered); breakout packets %d-%d sent meanwhile",
		ready.Round(time.Millisecond), restartDown, atKill, atReady)
	checkBar(t, "kill -9", breakout, reply, pass, down)

	st, err := rt.api.GetStatusWithResponse(t.Context())
	if err != nil || st.JSON200 == nil {
		t.Fatal(err)
	}
	if dp := st.JSON200.DataPlane; !dp.Pinned || dp.AdoptedLinks != 5 {
		t.Errorf("data plane %+v; want pinned, with its 5 links (4 on N3, 1 on the app port) adopted", dp)
	}
	if st.JSON200.RuleSetVersion != 1 || string(st.JSON200.RuleSetSource) != "state" || !st.JSON200.RuleSetSaved {
		t.Errorf("rule set version %d from %s (saved %v); want 1 from state, saved", st.JSON200.RuleSetVersion, st.JSON200.RuleSetSource, st.JSON200.RuleSetSaved)
	}
	// Every breakout packet counted once, across both agents.
	if got := ruleCount(t, rt.topo); got != int64(breakout.delivered) {
		t.Errorf("rule tr1 counted %d packets; want %d (the counter kept across the restart)", got, breakout.delivered)
	}
}

// TestRestartStop: a deliberate stop (SIGTERM) leaves the data plane forwarding by default;
// with --detach-on-stop the stop removes it.
func TestRestartStop(t *testing.T) {
	rt := newRestartTopo(t)
	app := prepare(t, rt)
	tr := startTraffic(t, rt.topo, app)
	time.Sleep(700 * time.Millisecond)
	rt.stopUPGW()
	time.Sleep(restartDown)
	rt.restart("--detach-on-stop")
	time.Sleep(700 * time.Millisecond)
	breakout, reply, pass, down := tr.finish(t)
	checkBar(t, "stop", breakout, reply, pass, down)

	// Started with --detach-on-stop, the agent removes its links when stopped.
	rt.stopUPGW()
	if ents, err := os.ReadDir(filepath.Join(rt.pinDir, "links")); err != nil || len(ents) != 0 {
		t.Errorf("pinned links after a stop with --detach-on-stop: %v, %v; want none", ents, err)
	}
	gnbSock := openRaw(t, rt.gnb, "g0")
	upfSock := openRaw(t, rt.upf, "u0")
	gnbSock.send(t, rt.ul(t, farIP, 8080, []byte("after-detach")))
	if got := upfSock.recv(500*time.Millisecond, isGTPU); got != nil {
		t.Errorf("a packet crossed the gateway after a stop with --detach-on-stop: %x", got)
	}
	// Sessions and counters stay pinned for the next agent.
	if _, err := os.Stat(filepath.Join(rt.pinDir, "sessions")); err != nil {
		t.Errorf("sessions map after detach: %v; want it still pinned", err)
	}
}

// TestRestartUpgrade: an agent started with a different data plane (here a larger sessions
// map: new maps, new programs) replaces the running one under traffic. The programs in the
// pinned links are replaced atomically, the learned session is carried into the new map
// (replies go on without a new downlink packet), and nothing is lost or misrouted.
func TestRestartUpgrade(t *testing.T) {
	rt := newRestartTopo(t)
	app := prepare(t, rt)
	before := linkProgram(t, rt.pinDir, "ul-xdp-native")
	tr := startTraffic(t, rt.topo, app)
	time.Sleep(700 * time.Millisecond)
	rt.stopUPGW()
	time.Sleep(restartDown)
	rt.restart("--max-sessions", "131072")
	time.Sleep(700 * time.Millisecond)
	breakout, reply, pass, down := tr.finish(t)
	checkBar(t, "upgrade", breakout, reply, pass, down)

	if after := linkProgram(t, rt.pinDir, "ul-xdp-native"); after == before {
		t.Errorf("uplink link still runs program %d; want the new agent's", after)
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(rt.pinDir, "sessions"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.MaxEntries() != 131072 {
		t.Errorf("pinned sessions map holds %d entries; want the new size 131072", m.MaxEntries())
	}
	st, err := rt.api.GetStatusWithResponse(t.Context())
	if err != nil || st.JSON200 == nil {
		t.Fatal(err)
	}
	if st.JSON200.SessionCapacity != 131072 || st.JSON200.Sessions != 1 {
		t.Errorf("sessions %d of %d; want 1 of 131072", st.JSON200.Sessions, st.JSON200.SessionCapacity)
	}
	if got := ruleCount(t, rt.topo); got != int64(breakout.delivered) {
		t.Errorf("rule tr1 counted %d packets; want %d", got, breakout.delivered)
	}
}

// buildUPGWVariant builds the agent around a data plane object compiled differently from the
// shipped one, as the next release's would be: the same source with its trace points
// compiled out (UPGW_NO_TRACE), so other instructions in the same programs over the same
// maps. The object replaces the embedded one through a build overlay.
func buildUPGWVariant(t *testing.T) string {
	t.Helper()
	root := testutil.RepoRoot(t)
	dir := t.TempDir()
	obj := filepath.Join(dir, "upgw_bpfel.o")
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, b)
		}
	}
	// The flags of the go:generate line in upgw/internal/dataplane/gen.go and bpf2go's own.
	run("clang", "-O2", "-mcpu=v1", "-g", "-Wall", "-Werror", "-I/usr/include/x86_64-linux-gnu", "-Iupgw/bpf",
		"-DUPGW_NO_TRACE", "-target", "bpfel", "-fno-ident", "-c", "upgw/bpf/upgw.c", "-o", obj)
	run("llvm-strip", "-g", obj)
	overlay := filepath.Join(dir, "overlay.json")
	ov, err := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(root, "upgw", "internal", "dataplane", "upgw_bpfel.o"): obj}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(overlay, ov, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "upgw")
	run("go", "build", "-overlay", overlay, "-o", bin, "./cmd/upgw")
	return bin
}

// linkTag returns the tag (the hash of the instructions) of the program the pinned link of
// role runs.
func linkTag(t *testing.T, pinDir, role string) string {
	t.Helper()
	p, err := ebpf.NewProgramFromID(linkProgram(t, pinDir, role))
	if err != nil {
		t.Fatalf("program of link %s: %v", role, err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info.Tag
}

// TestRestartUpgradeObject: an upgrade to an agent whose data plane object was compiled
// differently (other instructions), and the downgrade back, under traffic with the agent
// down for a second each time. Each agent adopts the pinned links and swaps its own programs
// in: the links then run the new instructions, and nothing is lost or misrouted, no reply
// lost, the learned session and the rule counter carried across both.
func TestRestartUpgradeObject(t *testing.T) {
	variant := buildUPGWVariant(t)
	rt := newRestartTopo(t)
	app := prepare(t, rt)
	roles := []string{"ul-xdp-native", "dl-xdp-native"} // the XDP programs carry trace points; the N3 TC program has none
	tags := func() map[string]string {
		m := map[string]string{}
		for _, r := range roles {
			m[r] = linkTag(t, rt.pinDir, r)
		}
		return m
	}
	shipped := tags()
	delivered := 0
	for _, step := range []struct {
		name string
		bin  string
	}{{"upgrade", variant}, {"downgrade", buildUPGW(t)}} {
		tr := startTraffic(t, rt.topo, app)
		time.Sleep(700 * time.Millisecond)
		rt.stopUPGW()
		time.Sleep(restartDown)
		rt.startUPGW(step.bin, "native", rt.args...)
		time.Sleep(700 * time.Millisecond)
		breakout, reply, pass, down := tr.finish(t)
		checkBar(t, step.name, breakout, reply, pass, down)
		delivered += breakout.delivered

		now := tags()
		for _, r := range roles {
			switch {
			case step.bin == variant && now[r] == shipped[r]:
				t.Errorf("%s: link %s still runs the shipped instructions (tag %s)", step.name, r, now[r])
			case step.bin != variant && now[r] != shipped[r]:
				t.Errorf("%s: link %s runs tag %s; want the shipped program's %s back", step.name, r, now[r], shipped[r])
			}
		}
		st, err := rt.api.GetStatusWithResponse(t.Context())
		if err != nil || st.JSON200 == nil {
			t.Fatal(err)
		}
		if st.JSON200.Sessions != 1 || st.JSON200.RuleSetVersion != 1 {
			t.Errorf("%s: %d sessions, rule set version %d; want the learned session and version 1 kept", step.name, st.JSON200.Sessions, st.JSON200.RuleSetVersion)
		}
		if got := ruleCount(t, rt.topo); got != int64(delivered) {
			t.Errorf("%s: rule tr1 counted %d packets; want %d (kept across both agents)", step.name, got, delivered)
		}
	}
}
