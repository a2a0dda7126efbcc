package dataplane

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/edgemec/edgemec/internal/testutil"
)

// FuzzParser runs arbitrary frames through the three packet programs with BPF_PROG_RUN and
// checks what must hold whatever the input: no abort; anything not decapsulated leaves
// byte-identical; a decapsulated packet is exactly the tail of the input behind a fresh
// Ethernet header; the downlink program never changes a packet; the return path either
// encapsulates or leaves the packet to the stack untouched.
func FuzzParser(f *testing.F) {
	seedInner := innerPacket(f, innerSpec{src: ue4, dst: app4, sport: 40000, dport: 8080, payloadLen: 16})
	seedInner6 := innerPacket(f, innerSpec{src: ue6, dst: app6, sport: 40000, dport: 8080, payloadLen: 16})
	seeds := [][]byte{
		ulFrame(f, true, seedInner, 1, 9),
		ulFrame(f, false, seedInner6, 2, 5),
		n3Frame(f, n3Spec{smac: gnbMAC, dmac: upfMAC, src: gnb4, dst: upf4, vlan: 7, inner: seedInner,
			gtp: gtpSpec{teid: 3, seq: true, exts: []gtpExt{{typ: 0x40, content: []byte{1, 2}}, psc(1, 1)}}}),
		n3Frame(f, n3Spec{smac: gnbMAC, dmac: upfMAC, src: gnb4, dst: upf4, gtp: gtpSpec{msgType: 1, seq: true}}),
		append(ethHdr(gwMAC, appMAC, 0x0800), seedInner...),
		append(ethHdr(gwMAC, appMAC, 0x0800), innerPacket(f, innerSpec{src: app4, dst: ue4, sport: 8080, dport: 1, payloadLen: 9})...),
		{0xff, 0xff},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d := fuzzDatapath(t)
		if len(in) < 14 || len(in) > 1500 {
			return
		}
		ret, out := runFuzz(t, d.objs.UpgwUl, in)
		switch {
		case ret == xdpDrop:
		case ret == xdpPass:
			t.Fatalf("uplink: XDP_PASS without a DUPLICATE rule")
		case ret != xdpRedir:
			t.Fatalf("uplink: verdict %d", ret)
		case len(out) == len(in):
			if !bytes.Equal(out, in) {
				t.Fatalf("uplink: pass-through changed the packet")
			}
		default:
			if len(out) < 14+20 || !bytes.HasSuffix(in, out[14:]) {
				t.Fatalf("uplink: decapsulated packet is not the tail of the input")
			}
			if v := out[14] >> 4; (v == 4) != (out[12] == 0x08 && out[13] == 0x00) {
				t.Fatalf("uplink: ethertype %x for IP version %d", out[12:14], v)
			}
		}
		ret, out = runFuzz(t, d.objs.UpgwDl, in)
		if ret != xdpRedir || !bytes.Equal(out, in) {
			t.Fatalf("downlink: verdict %d, changed %v; want redirect unchanged", ret, !bytes.Equal(out, in))
		}
		// BPF_PROG_RUN refuses skbs whose ethertype announces an IP header they lack.
		if len(in) < 14+40 {
			return
		}
		ret, out = runFuzz(t, d.objs.UpgwApp, in)
		switch ret {
		case tcOK:
			if !bytes.Equal(out, in) {
				t.Fatalf("return path: TC_ACT_OK changed the packet")
			}
		case tcRedirect:
			// 44 bytes over IPv4, 64 over IPv6: the downlink program may have learned either.
			if grow := len(out) - len(in); (grow != 44 && grow != 64) || !bytes.Equal(out[14+grow:], in[14:]) {
				t.Fatalf("return path: encapsulated packet does not carry the input")
			}
		default:
			t.Fatalf("return path: verdict %d", ret)
		}
	})
}

var fuzzDP *Datapath

// fuzzDatapath loads one data plane per process with a decap rule for the app, a TEID-scoped
// drop and a session for the UE, so that fuzzed frames reach every branch.
func fuzzDatapath(t *testing.T) *Datapath {
	if fuzzDP != nil {
		return fuzzDP
	}
	// One data plane for the whole fuzzing process: loading takes about a second.
	testutil.RequireRoot(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	d2, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for slot, tg := range map[uint32]Target{SlotGNB: {Ifindex: loIfx, Kind: TargetN3}, SlotUPF: {Ifindex: loIfx, Kind: TargetN3},
		slotApp: {Ifindex: loIfx, Kind: TargetApp}} {
		if err := d2.SetTarget(slot, tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := d2.SetConfig(loIfx, loIfx); err != nil {
		t.Fatal(err)
	}
	rs := []Entry{
		entry("::/0", Match{RuleSlot: 1, Action: ActDrop, Fields: FieldTEID, Teid: 0xdead}),
		entry("192.0.2.0/24", Match{RuleSlot: 1, Action: ActDrop, Fields: FieldTEID, Teid: 0xdead}, decapRule()),
		entry("2001:db8::/32", Match{RuleSlot: 1, Action: ActDrop, Fields: FieldTEID, Teid: 0xdead}, decapRule()),
	}
	if err := d2.SwapRuleSet(rs); err != nil {
		t.Fatal(err)
	}
	s := Session{Gnb: AddrFrom(gnb4), Upf: AddrFrom(upf4), Teid: 1, Family: 4, Sport: 2152}
	if err := d2.PutSession(ue4, s); err != nil {
		t.Fatal(err)
	}
	fuzzDP = d2
	return d2
}

func runFuzz(t *testing.T, prog *ebpf.Program, in []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(in)+256)
	opts := &ebpf.RunOptions{Data: in, DataOut: out}
	ret, err := prog.Run(opts)
	if err != nil {
		t.Fatalf("BPF_PROG_RUN: %v", err)
	}
	return ret, opts.DataOut
}
