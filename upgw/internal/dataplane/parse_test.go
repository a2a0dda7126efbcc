package dataplane

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"github.com/google/gopacket/layers"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/upgw/internal/dataplane/benchobj"
)

// parseProbes are the parser probes of the benchmark build (upgw/bpf/bench.c): each runs
// one parser on a packet and leaves a struct parse_result in ParseOut.
type parseProbes struct {
	Fast     *ebpf.Program `ebpf:"bench_parse_fast"`
	General  *ebpf.Program `ebpf:"bench_parse_general"`
	ParseOut *ebpf.Map     `ebpf:"parse_out"`
}

var probes *parseProbes

// loadProbes loads the probes once per process (the fuzzer calls it for every input).
func loadProbes(t *testing.T) *parseProbes {
	t.Helper()
	if probes != nil {
		return probes
	}
	testutil.RequireRoot(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	spec, err := benchobj.Spec()
	if err != nil {
		t.Fatal(err)
	}
	var p parseProbes
	if err := loadInto(spec, &p, nil); err != nil {
		t.Fatal(err)
	}
	probes = &p
	return probes
}

// parseResult is a struct parse_result as raw bytes: taken (u32), res (u32), struct pkt.
type parseResult []byte

func (r parseResult) taken() bool { return binary.NativeEndian.Uint32(r[0:]) != 0 }

// parse runs one probe on in and returns its result.
func (p *parseProbes) parse(t *testing.T, prog *ebpf.Program, in []byte) parseResult {
	t.Helper()
	if _, err := prog.Run(&ebpf.RunOptions{Data: in}); err != nil {
		t.Fatalf("BPF_PROG_RUN: %v", err)
	}
	var out []byte
	if err := p.ParseOut.Lookup(uint32(0), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkFastAgrees runs both parsers on in. When the fast path takes the packet, its result
// and every extracted field must equal the general parser's. It returns whether it took it.
func checkFastAgrees(t *testing.T, p *parseProbes, in []byte) bool {
	t.Helper()
	fast := p.parse(t, p.Fast, in)
	if !fast.taken() {
		return false
	}
	general := p.parse(t, p.General, in)
	if !bytes.Equal(fast[4:], general[4:]) {
		t.Fatalf("fast path and general parser disagree on\n%x\nfast    %x\ngeneral %x", in, fast[4:], general[4:])
	}
	return true
}

// fastSeeds returns frames in the layout the fast path takes.
func fastSeeds(t testing.TB) map[string][]byte {
	inner4 := innerPacket(t, innerSpec{src: ue4, dst: app4, sport: 40000, dport: 8080, tos: 0xb8, payloadLen: 16})
	innerTCP := innerPacket(t, innerSpec{src: ue4, dst: app4, proto: layers.IPProtocolTCP, sport: 40001, dport: 443, payloadLen: 4})
	innerICMP := innerPacket(t, innerSpec{src: ue4, dst: app4, proto: layers.IPProtocolICMPv4, payloadLen: 8})
	inner6 := innerPacket(t, innerSpec{src: ue6, dst: app6, sport: 40000, dport: 8080, tos: 0x28, payloadLen: 16})
	innerFrag := slices.Clone(inner4)
	innerFrag[6], innerFrag[7] = 0x00, 0x10 // fragment offset 128: no ports
	dl := n3Frame(t, n3Spec{smac: upfMAC, dmac: gnbMAC, src: upf4, dst: gnb4, sport: 40000, inner: inner4,
		gtp: gtpSpec{teid: 0xfedcba98, exts: []gtpExt{psc(0, 63)}}})
	// No inner packet: the G-PDU ends after the PSC (built by cutting, since the frame
	// builder pads short frames).
	empty := ulFrame(t, true, inner4, 6, 9)[:58]
	binary.BigEndian.PutUint16(empty[16:], 58-14)
	binary.BigEndian.PutUint16(empty[38:], 58-34)
	binary.BigEndian.PutUint16(empty[44:], 8)
	return map[string][]byte{
		"inner IPv4 UDP":  ulFrame(t, true, inner4, 0x100, 9),
		"inner IPv4 TCP":  ulFrame(t, true, innerTCP, 1, 1),
		"inner ICMP":      ulFrame(t, true, innerICMP, 2, 0),
		"inner IPv6":      ulFrame(t, true, inner6, 3, 5),
		"inner fragment":  ulFrame(t, true, innerFrag, 4, 9),
		"inner truncated": ulFrame(t, true, inner4[:22], 5, 9),
		"no inner packet": empty,
		"inner not IP":    ulFrame(t, true, bytes.Repeat([]byte{0x50}, 24), 7, 9),
		"DL PSC, QFI 63":  dl,
	}
}

// TestParseFast checks that the parser's fast path extracts exactly what the general
// parser does from every packet it takes, that it takes the common layout, and that it
// declines everything else.
func TestParseFast(t *testing.T) {
	p := loadProbes(t)
	seeds := fastSeeds(t)
	for name, in := range seeds {
		t.Run("takes/"+name, func(t *testing.T) {
			if !checkFastAgrees(t, p, in) {
				t.Fatalf("fast path declined the common layout")
			}
		})
	}

	base := seeds["inner IPv4 UDP"]
	inner4 := base[58:]
	patch := func(f func(b []byte) []byte) []byte { return f(slices.Clone(base)) }
	frame := func(s n3Spec) []byte {
		s.smac, s.dmac, s.inner = gnbMAC, upfMAC, inner4
		if !s.src.IsValid() {
			s.src, s.dst = gnb4, upf4
		}
		return n3Frame(t, s)
	}
	other := gtpExt{typ: 0x40, content: []byte{1, 2}}
	declines := map[string][]byte{
		"VLAN":       frame(n3Spec{vlan: 7, gtp: gtpSpec{teid: 1, exts: []gtpExt{psc(1, 9)}}}),
		"outer IPv6": ulFrame(t, false, inner4, 1, 9),
		"IP options": patch(func(b []byte) []byte {
			b[14] = 0x46
			binary.BigEndian.PutUint16(b[16:], binary.BigEndian.Uint16(b[16:])+4)
			return slices.Concat(b[:34], []byte{1, 1, 1, 1}, b[34:])
		}),
		"more fragments":  frame(n3Spec{fragment: true, gtp: gtpSpec{teid: 1, exts: []gtpExt{psc(1, 9)}}}),
		"fragment offset": patch(func(b []byte) []byte { b[20], b[21] = 0x00, 0x10; return b }),
		"not UDP":         patch(func(b []byte) []byte { b[23] = 6; return b }),
		"other port":      patch(func(b []byte) []byte { b[37]++; return b }),
		"sequence flag":   frame(n3Spec{gtp: gtpSpec{teid: 1, seq: true, exts: []gtpExt{psc(1, 9)}}}),
		"N-PDU flag":      patch(func(b []byte) []byte { b[42] |= 0x01; return b }),
		"no extension":    frame(n3Spec{gtp: gtpSpec{teid: 1}}),
		"sequence only":   frame(n3Spec{gtp: gtpSpec{teid: 1, seq: true}}),
		"other then PSC":  frame(n3Spec{gtp: gtpSpec{teid: 1, exts: []gtpExt{other, psc(1, 9)}}}),
		"PSC then other":  frame(n3Spec{gtp: gtpSpec{teid: 1, exts: []gtpExt{psc(1, 9), other}}}),
		"other only":      frame(n3Spec{gtp: gtpSpec{teid: 1, exts: []gtpExt{other}}}),
		"long PSC":        frame(n3Spec{gtp: gtpSpec{teid: 1, exts: []gtpExt{{typ: 0x85, content: []byte{0x10, 9, 0, 0, 0, 0}}}}}),
		"echo request":    frame(n3Spec{gtp: gtpSpec{msgType: 1, teid: 1, exts: []gtpExt{psc(1, 9)}}}),
		"GTP' or v2":      patch(func(b []byte) []byte { b[42] = 0x24; return b }),
		"length too long": frame(n3Spec{gtp: gtpSpec{teid: 1, exts: []gtpExt{psc(1, 9)}, badLen: 1}}),
		"length short":    frame(n3Spec{gtp: gtpSpec{teid: 1, exts: []gtpExt{psc(1, 9)}, badLen: -1}}),
		"length under 8": patch(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[38:], 20)
			binary.BigEndian.PutUint16(b[44:], 4)
			return b
		}),
		"truncated": base[:57],
	}
	for name, in := range declines {
		t.Run("declines/"+name, func(t *testing.T) {
			if p.parse(t, p.Fast, in).taken() {
				t.Fatalf("fast path took\n%x", in)
			}
		})
	}

	// Random byte changes in the headers: whatever the fast path still takes, it must
	// parse as the general parser does.
	t.Run("mutations", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range seeds {
				if !yield(n) {
					return
				}
			}
		})
		taken := 0
		for i := range 4000 {
			in := slices.Clone(seeds[names[i%len(names)]])
			for range 1 + r.IntN(3) {
				in[r.IntN(min(len(in), 100))] ^= byte(1 + r.IntN(255))
			}
			if checkFastAgrees(t, p, in) {
				taken++
			}
		}
		if taken == 0 {
			t.Fatalf("no mutated packet took the fast path")
		}
	})
}

// FuzzParseFast checks on arbitrary frames that the fast path, when it takes one, parses
// it as the general parser does.
func FuzzParseFast(f *testing.F) {
	for _, s := range fastSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 14 || len(in) > 1500 {
			return
		}
		checkFastAgrees(t, loadProbes(t), in)
	})
}
