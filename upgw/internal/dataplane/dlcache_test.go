package dataplane

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/edgemec/edgemec/internal/testutil"
)

// The return path's session cache (dl_cache): a direct-mapped copy of the sessions map
// that app replies read without a lock. These tests check that it never serves anything
// the sessions map would not, whatever writes it.

// tunnel is what a downlink G-PDU teaches the UPGW about a UE, and what the UE's
// encapsulated replies must then carry.
type tunnel struct {
	gnb  netip.Addr
	mac  []byte
	teid uint32
	qfi  byte
}

// dlPacket is a downlink G-PDU to ue through tn.
func dlPacket(t testing.TB, ue netip.Addr, tn tunnel) []byte {
	inner := innerPacket(t, innerSpec{src: app4, dst: ue, sport: 8080, dport: 40000, payloadLen: 10})
	return n3Frame(t, n3Spec{smac: upfMAC, dmac: tn.mac, src: upf4, dst: tn.gnb, sport: 2152, inner: inner,
		gtp: gtpSpec{teid: tn.teid, exts: []gtpExt{psc(0, tn.qfi)}}})
}

// replyTo is an app reply to an IPv4 UE.
func replyTo(t testing.TB, ue netip.Addr) []byte {
	inner := innerPacket(t, innerSpec{src: app4, dst: ue, sport: 8080, dport: 40000, payloadLen: 40})
	return append(ethHdr(gwMAC, appMAC, ethType(ue)), inner...)
}

// outerOf returns the tunnel an encapsulated IPv4-over-IPv4 reply carries.
func outerOf(out []byte) tunnel {
	return tunnel{
		gnb:  netip.AddrFrom4([4]byte(out[30:34])),
		mac:  out[0:6],
		teid: binary.BigEndian.Uint32(out[14+20+8+4:]),
		qfi:  out[14+20+8+14] & 0x3f,
	}
}

func (a tunnel) String() string {
	return fmt.Sprintf("gNB %s (MAC %x) TEID %#x QFI %d", a.gnb, a.mac, a.teid, a.qfi)
}

func (a tunnel) equal(b tunnel) bool {
	return a.gnb == b.gnb && bytes.Equal(a.mac, b.mac) && a.teid == b.teid && a.qfi == b.qfi
}

// reply runs the return path on an app reply to ue and returns the tunnel it went into.
func reply(t *testing.T, d *Datapath, ue netip.Addr) tunnel {
	t.Helper()
	ret, out := run(t, d.objs.UpgwApp, replyTo(t, ue))
	if ret != tcRedirect {
		t.Fatalf("reply to %s: verdict %d; want TC_ACT_REDIRECT", ue, ret)
	}
	return outerOf(out)
}

// learnFrom runs the downlink program on a G-PDU to ue through tn.
func learnFrom(t *testing.T, d *Datapath, ue netip.Addr, tn tunnel) {
	t.Helper()
	if ret, _ := run(t, d.objs.UpgwDl, dlPacket(t, ue, tn)); ret != xdpRedir {
		t.Fatalf("downlink to %s: verdict %d; want XDP_REDIRECT", ue, ret)
	}
}

var (
	tunA = tunnel{gnb: netip.MustParseAddr("10.0.0.1"), mac: []byte{2, 0, 0, 0, 0, 0xa}, teid: 0x1111, qfi: 5}
	tunB = tunnel{gnb: netip.MustParseAddr("10.0.0.2"), mac: []byte{2, 0, 0, 0, 0, 0xb}, teid: 0x2222, qfi: 6}
)

// collidingUE returns an IPv4 UE other than ue whose session-cache slot is ue's.
func collidingUE(t testing.TB, ue netip.Addr) netip.Addr {
	t.Helper()
	want := dlSlot(AddrFrom(ue))
	for a := ue.Next(); a.Is4(); a = a.Next() {
		if dlSlot(AddrFrom(a)) == want {
			return a
		}
	}
	t.Fatal("no colliding address")
	return netip.Addr{}
}

// TestDLCacheFollowsLearning: replies use the tunnel of the last downlink packet, through a
// handover, and come from the cache (no dl_slow).
func TestDLCacheFollowsLearning(t *testing.T) {
	d := loadTest(t)
	for i, tn := range []tunnel{tunA, tunA, tunB, tunA} {
		learnFrom(t, d, ue4, tn)
		if got := reply(t, d, ue4); !got.equal(tn) {
			t.Fatalf("step %d: reply went into %v; want %v", i, got, tn)
		}
	}
	st := statsDelta(t, d)
	if st[StatDLSlow] != 0 || st[StatDLLearn] != 3 || st[StatDLEncap] != 4 {
		t.Errorf("dl_slow %d, dl_learn %d, dl_encap %d; want 0, 3, 4", st[StatDLSlow], st[StatDLLearn], st[StatDLEncap])
	}
}

// TestDLCacheCollision: two UEs share a slot. Each reply still gets its own UE's tunnel; the
// UE not in the slot is served from the sessions map (dl_slow), and a UE whose downlink
// traffic arrives takes the slot back.
func TestDLCacheCollision(t *testing.T) {
	d := loadTest(t)
	other := collidingUE(t, ue4)
	learnFrom(t, d, ue4, tunA)
	learnFrom(t, d, other, tunB) // takes the slot
	check := func(step string, wantSlow uint64) {
		t.Helper()
		before := statsDelta(t, d)[StatDLSlow]
		if got := reply(t, d, ue4); !got.equal(tunA) {
			t.Errorf("%s: reply to %s went into %v; want %v", step, ue4, got, tunA)
		}
		if got := reply(t, d, other); !got.equal(tunB) {
			t.Errorf("%s: reply to %s went into %v; want %v", step, other, got, tunB)
		}
		if got := statsDelta(t, d)[StatDLSlow] - before; got != wantSlow {
			t.Errorf("%s: dl_slow +%d; want +%d", step, got, wantSlow)
		}
	}
	check("slot held by the second UE", 1)
	learnFrom(t, d, ue4, tunA) // unchanged session, but not in its slot: it takes the slot back
	check("slot taken back", 1)
	if got := statsDelta(t, d)[StatDLLearn]; got != 2 {
		t.Errorf("dl_learn %d; want 2 (taking a slot back is not a new session)", got)
	}
}

// TestDLCacheControlPlane: sessions the control plane puts or deletes reach the cache.
func TestDLCacheControlPlane(t *testing.T) {
	d := loadTest(t)
	s := Session{Gnb: AddrFrom(tunA.gnb), Upf: AddrFrom(upf4), Teid: tunA.teid, Qfi: tunA.qfi, Family: 4, Sport: 2152}
	copy(s.GnbMac[:], tunA.mac)
	copy(s.UpfMac[:], upfMAC)
	if err := d.PutSession(ue4, s); err != nil {
		t.Fatal(err)
	}
	if got := reply(t, d, ue4); !got.equal(tunA) {
		t.Fatalf("reply went into %v; want %v", got, tunA)
	}
	s.Teid = tunB.teid
	if err := d.PutSession(ue4, s); err != nil {
		t.Fatal(err)
	}
	if got := reply(t, d, ue4); got.teid != tunB.teid {
		t.Fatalf("after a new PutSession the reply carries TEID %#x; want %#x", got.teid, tunB.teid)
	}
	if err := d.DeleteSession(ue4); err != nil {
		t.Fatal(err)
	}
	if ret, _ := run(t, d.objs.UpgwApp, replyTo(t, ue4)); ret != tcOK {
		t.Fatalf("after DeleteSession: verdict %d; want TC_ACT_OK (no session)", ret)
	}
	st := statsDelta(t, d)
	if st[StatDLSlow] != 0 || st[StatDLMiss] != 1 {
		t.Errorf("dl_slow %d, dl_miss %d; want 0, 1", st[StatDLSlow], st[StatDLMiss])
	}
}

// TestDLCacheOff: with the cache off (other architectures) learning and replies work from
// the sessions map alone.
func TestDLCacheOff(t *testing.T) {
	d := loadTestWith(t, Options{noDLCache: true})
	for i, tn := range []tunnel{tunA, tunB} {
		learnFrom(t, d, ue4, tn)
		if got := reply(t, d, ue4); !got.equal(tn) {
			t.Fatalf("step %d: reply went into %v; want %v", i, got, tn)
		}
	}
	if st := statsDelta(t, d); st[StatDLSlow] != 0 || st[StatDLLearn] != 2 {
		t.Errorf("dl_slow %d, dl_learn %d; want 0 (no cache to miss), 2", st[StatDLSlow], st[StatDLLearn])
	}
}

// TestDLCacheNoTornReads: while one CPU's downlink traffic flips a UE between two tunnels
// (a handover back and forth on every packet), replies on the other CPU must carry one
// tunnel or the other, never a mix of both.
func TestDLCacheNoTornReads(t *testing.T) {
	if runtime.NumCPU() < 2 {
		testutil.SkipOrFail(t, "needs two CPUs")
	}
	d := loadTest(t)
	learnFrom(t, d, ue4, tunA)
	pktA, pktB, in := dlPacket(t, ue4, tunA), dlPacket(t, ue4, tunB), replyTo(t, ue4)
	pin := func(cpu int) {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			t.Error(err)
		}
	}
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		flips   int
		werr    error
		seen    [2]int
		torn    []tunnel
		readErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		pin(0)
		for i := 0; !stop.Load(); i++ {
			p := pktA
			if i%2 == 1 {
				p = pktB
			}
			if _, err := d.objs.UpgwDl.Run(&ebpf.RunOptions{Data: p}); err != nil {
				werr = err
				return
			}
			flips++
		}
	}()
	func() {
		pin(1)
		defer runtime.UnlockOSThread()
		deadline := time.Now().Add(2 * time.Second)
		out := make([]byte, len(in)+64)
		for time.Now().Before(deadline) {
			opts := &ebpf.RunOptions{Data: in, DataOut: out}
			if _, err := d.objs.UpgwApp.Run(opts); err != nil {
				readErr = err
				return
			}
			switch got := outerOf(opts.DataOut); {
			case got.equal(tunA):
				seen[0]++
			case got.equal(tunB):
				seen[1]++
			default:
				torn = append(torn, got)
			}
		}
	}()
	stop.Store(true)
	wg.Wait()
	if werr != nil || readErr != nil {
		t.Fatalf("BPF_PROG_RUN: writer %v, reader %v", werr, readErr)
	}
	st := statsDelta(t, d)
	t.Logf("%d flips, %d replies into A, %d into B, %d from the sessions map (a writer was inside the entry)",
		flips, seen[0], seen[1], st[StatDLSlow])
	if len(torn) > 0 {
		t.Fatalf("%d replies carried a mix of both tunnels, e.g. %v", len(torn), torn[0])
	}
	if seen[0] == 0 || seen[1] == 0 {
		t.Fatalf("replies saw A %d and B %d times: the test did not exercise a change", seen[0], seen[1])
	}
	if slow := st[StatDLSlow]; slow*10 > uint64(seen[0]+seen[1]) {
		t.Fatalf("%d of %d replies came from the sessions map: the test did not exercise the cache", slow, seen[0]+seen[1])
	}
}

// TestDLCacheEmptySlot: an empty slot (all-zero address, which is ::) serves no session.
func TestDLCacheEmptySlot(t *testing.T) {
	d := loadTest(t)
	inner := innerPacket(t, innerSpec{src: app6, dst: netip.IPv6Unspecified(), sport: 8080, dport: 40000, payloadLen: 4})
	in := append(ethHdr(gwMAC, appMAC, ethType(app6)), inner...)
	if ret, out := run(t, d.objs.UpgwApp, in); ret != tcOK || !bytes.Equal(out, in) {
		t.Fatalf("reply to :: with no session: verdict %d; want TC_ACT_OK, untouched", ret)
	}
	if st := statsDelta(t, d); st[StatDLMiss] != 1 || st[StatDLEncap] != 0 {
		t.Errorf("dl_miss %d, dl_encap %d; want 1, 0", st[StatDLMiss], st[StatDLEncap])
	}
}

// TestDLCacheEvicted: a UE the LRU map evicted while the cache kept it (cache hits do not
// refresh the map's recency) keeps its replies flowing, is put back into the map within 64
// downlink packets, and DeleteSession clears it from the cache even when the map no longer
// has it.
func TestDLCacheEvicted(t *testing.T) {
	d := loadTest(t)
	learnFrom(t, d, ue4, tunA)
	evict := func() {
		t.Helper()
		if err := d.objs.Sessions.Delete(AddrFrom(ue4)); err != nil {
			t.Fatal(err)
		}
	}
	evict()
	if got := reply(t, d, ue4); !got.equal(tunA) {
		t.Fatalf("reply after eviction went into %v; want %v", got, tunA)
	}
	for range 64 {
		learnFrom(t, d, ue4, tunA)
	}
	if ss, err := d.Sessions(); err != nil || len(ss) != 1 || ss[0].UE != ue4 || ss[0].Teid != tunA.teid {
		t.Fatalf("sessions after 64 downlink packets: %+v, %v; want the UE back", ss, err)
	}
	evict()
	if err := d.DeleteSession(ue4); !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Fatalf("DeleteSession of an evicted UE: %v; want ErrKeyNotExist", err)
	}
	if ret, _ := run(t, d.objs.UpgwApp, replyTo(t, ue4)); ret != tcOK {
		t.Fatalf("reply after DeleteSession: verdict %d; want TC_ACT_OK (no session)", ret)
	}
}
