package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"github.com/google/gopacket/layers"

	"github.com/edgemec/edgemec/internal/testutil"
)

const (
	xdpAborted = 0
	xdpDrop    = 1
	xdpRedir   = 4

	tcOK       = 0
	tcRedirect = 7

	slotApp  = 2
	slotEP4  = 3
	slotEP6  = 4
	loIfx    = 1
	epTEID   = 0xbeef
	ruleSlot = 7
)

var (
	ep4 = netip.MustParseAddr("10.99.0.1")
	ep6 = netip.MustParseAddr("fd99::1")
)

// loadTest loads the data plane with unpinned maps and points every output slot at lo, so
// that redirects resolve in BPF_PROG_RUN (which reports the verdict and does not send).
func loadTest(t *testing.T) *Datapath {
	t.Helper()
	return loadTestWith(t, Options{})
}

func loadTestWith(t *testing.T, opts Options) *Datapath {
	t.Helper()
	testutil.RequireRoot(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatalf("remove memlock: %v", err)
	}
	d, err := Load(opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	targets := map[uint32]Target{
		SlotGNB: {Ifindex: loIfx, Kind: TargetN3},
		SlotUPF: {Ifindex: loIfx, Kind: TargetN3},
		slotApp: {Ifindex: loIfx, Kind: TargetApp},
		slotEP4: {Ifindex: loIfx, Kind: TargetGTPU, Family: 4, SetTeid: 1, Teid: epTEID, TunDst: AddrFrom(ep4)},
		slotEP6: {Ifindex: loIfx, Kind: TargetGTPU, Family: 6, TunDst: AddrFrom(ep6)},
	}
	for slot, tg := range targets {
		copy(tg.Smac[:], gwMAC)
		copy(tg.Dmac[:], appMAC)
		if tg.Kind == TargetGTPU {
			copy(tg.Dmac[:], epMAC)
		}
		if err := d.SetTarget(slot, tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SetConfig(loIfx, loIfx); err != nil {
		t.Fatal(err)
	}
	return d
}

// run runs prog once on in and returns the verdict and the output packet.
func run(t *testing.T, prog *ebpf.Program, in []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(in)+256)
	opts := &ebpf.RunOptions{Data: in, DataOut: out}
	ret, err := prog.Run(opts)
	if err != nil {
		t.Fatalf("BPF_PROG_RUN: %v", err)
	}
	return ret, opts.DataOut
}

// entry builds one rule-set entry for a destination prefix.
func entry(dst string, ms ...Match) Entry {
	e := Entry{Key: KeyFrom(netip.MustParsePrefix(dst))}
	e.Cands.N = uint32(len(ms))
	copy(e.Cands.M[:], ms)
	return e
}

func decapRule() Match {
	return Match{RuleSlot: ruleSlot, Action: ActFwdDecap, Target: slotApp,
		Fields: FieldProto | FieldDport, Proto: 17, DportLo: 8080, DportHi: 8080}
}

func statsDelta(t testing.TB, d *Datapath) map[Stat]uint64 {
	t.Helper()
	st, err := d.PathStats()
	if err != nil {
		t.Fatal(err)
	}
	m := map[Stat]uint64{}
	for i, c := range st {
		if c.Packets != 0 {
			m[Stat(i)] = c.Packets
		}
	}
	return m
}

func TestUplinkDecap(t *testing.T) {
	d := loadTest(t)
	rs := []Entry{
		entry("192.0.2.10/32", decapRule()),
		entry("2001:db8::10/128", decapRule()),
	}
	if err := d.SwapRuleSet(rs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		outer4, inner4 bool
		vlan           uint16
		gtp            gtpSpec
	}{
		{name: "ipv4 in ipv4", outer4: true, inner4: true},
		{name: "ipv6 in ipv6", outer4: false, inner4: false},
		{name: "ipv6 in ipv4", outer4: true, inner4: false},
		{name: "ipv4 in ipv6", outer4: false, inner4: true},
		{name: "vlan tagged", outer4: true, inner4: true, vlan: 100},
		{name: "no extension header", outer4: true, inner4: true, gtp: gtpSpec{teid: 1}},
		{name: "sequence number only", outer4: true, inner4: true, gtp: gtpSpec{teid: 1, seq: true}},
		{name: "two extension headers", outer4: true, inner4: true,
			gtp: gtpSpec{teid: 1, exts: []gtpExt{{typ: 0x40, content: []byte{1, 2}}, psc(1, 9)}}},
		{name: "long extension header", outer4: true, inner4: true,
			gtp: gtpSpec{teid: 1, exts: []gtpExt{{typ: 0x81, content: make([]byte, 10)}, psc(1, 9), {typ: 0x82, content: make([]byte, 6)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := ue4, app4
			if !tt.inner4 {
				src, dst = ue6, app6
			}
			inner := innerPacket(t, innerSpec{src: src, dst: dst, sport: 40000, dport: 8080, payloadLen: 32})
			s := n3Spec{smac: gnbMAC, dmac: upfMAC, src: gnb4, dst: upf4, vlan: tt.vlan, inner: inner, gtp: tt.gtp}
			if s.gtp.teid == 0 {
				s.gtp = gtpSpec{teid: 0x1234, exts: []gtpExt{psc(1, 9)}}
			}
			if !tt.outer4 {
				s.src, s.dst = gnb6, upf6
			}
			before, _ := d.RuleCounter(ruleSlot)
			ret, out := run(t, d.objs.UpgwUl, n3Frame(t, s))
			if ret != xdpRedir {
				t.Fatalf("verdict %d; want XDP_REDIRECT", ret)
			}
			if got, want := len(out), 14+len(inner); got != want {
				t.Fatalf("output length %d; want %d", got, want)
			}
			if !bytes.Equal(out[0:6], appMAC) || !bytes.Equal(out[6:12], gwMAC) {
				t.Errorf("MACs %x %x; want %x %x", out[0:6], out[6:12], []byte(appMAC), []byte(gwMAC))
			}
			wantType := uint16(0x0800)
			if !tt.inner4 {
				wantType = 0x86dd
			}
			if got := binary.BigEndian.Uint16(out[12:]); got != wantType {
				t.Errorf("ethertype %#x; want %#x", got, wantType)
			}
			if !bytes.Equal(out[14:], inner) {
				t.Errorf("inner packet changed:\n got %x\nwant %x", out[14:], inner)
			}
			after, _ := d.RuleCounter(ruleSlot)
			if after.Packets != before.Packets+1 {
				t.Errorf("rule counter %d; want %d", after.Packets, before.Packets+1)
			}
		})
	}
	if got := statsDelta(t, d)[StatULDecap]; got != uint64(len(tests)) {
		t.Errorf("ul_decap %d; want %d", got, len(tests))
	}
}

// TestUplinkUntouched covers everything that must go on to the UPF byte-identical.
func TestUplinkUntouched(t *testing.T) {
	d := loadTest(t)
	if err := d.SwapRuleSet([]Entry{entry("192.0.2.10/32", decapRule())}); err != nil {
		t.Fatal(err)
	}
	match := innerPacket(t, innerSpec{src: ue4, dst: app4, sport: 40000, dport: 8080, payloadLen: 32})
	other := innerPacket(t, innerSpec{src: ue4, dst: netip.MustParseAddr("198.51.100.7"), sport: 40000, dport: 8080, payloadLen: 32})
	otherPort := innerPacket(t, innerSpec{src: ue4, dst: app4, sport: 40000, dport: 8081, payloadLen: 32})
	base := n3Spec{smac: gnbMAC, dmac: upfMAC, src: gnb4, dst: upf4, gtp: gtpSpec{teid: 5, exts: []gtpExt{psc(1, 9)}}}
	with := func(f func(*n3Spec)) []byte {
		s := base
		s.inner = match
		f(&s)
		return n3Frame(t, s)
	}
	arp := serialize(t, &layers.Ethernet{SrcMAC: gnbMAC, DstMAC: upfMAC, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: gnbMAC, SourceProtAddress: gnb4.AsSlice(), DstHwAddress: make([]byte, 6), DstProtAddress: upf4.AsSlice()})
	truncated := with(func(*n3Spec) {})
	tests := []struct {
		name string
		in   []byte
		stat int
	}{
		{"no rule matches destination", with(func(s *n3Spec) { s.inner = other }), int(StatULPass)},
		{"no rule matches port", with(func(s *n3Spec) { s.inner = otherPort }), int(StatULPass)},
		{"ipv6 outer no match", with(func(s *n3Spec) { s.inner = other; s.src, s.dst = gnb6, upf6 }), int(StatULPass)},
		{"echo request", with(func(s *n3Spec) { s.gtp = gtpSpec{msgType: 1, seq: true}; s.inner = nil }), int(StatGTPOther)},
		{"error indication", with(func(s *n3Spec) { s.gtp = gtpSpec{msgType: 26, seq: true}; s.inner = []byte{0x10, 0, 0, 0, 5} }), int(StatGTPOther)},
		{"end marker", with(func(s *n3Spec) { s.gtp = gtpSpec{msgType: 254, teid: 5}; s.inner = nil }), int(StatGTPOther)},
		{"outer fragment", with(func(s *n3Spec) { s.fragment = true }), int(StatFrag)},
		{"arp", arp, int(StatNonGTP)},
		{"udp not 2152", with(func(s *n3Spec) { s.sport = 2152 }), -1},
		{"gtp length too long", with(func(s *n3Spec) { s.gtp.badLen = 4 }), int(StatMalformed)},
		{"gtp length too short", with(func(s *n3Spec) { s.gtp.badLen = -4 }), int(StatMalformed)},
		{"extension length zero", with(func(s *n3Spec) { s.gtp.exts = []gtpExt{{typ: 0x85, content: []byte{0x10, 9}}} }), -2},
		{"five extension headers", with(func(s *n3Spec) {
			s.gtp.exts = []gtpExt{psc(1, 9), {0x40, []byte{0, 0}}, {0x40, []byte{0, 0}}, {0x40, []byte{0, 0}}, {0x40, []byte{0, 0}}}
		}), int(StatMalformed)},
		{"inner not ip", with(func(s *n3Spec) { s.inner = []byte{0x00, 1, 2, 3, 4, 5, 6, 7} }), int(StatMalformed)},
		{"inner truncated", with(func(s *n3Spec) { s.inner = match[:12] }), int(StatMalformed)},
		{"frame truncated in gtp", truncated[:14+20+8+6], int(StatMalformed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			stat := Stat(tt.stat)
			switch tt.stat {
			case -1: // outer UDP to another port: swap the destination port
				in = append([]byte(nil), in...)
				binary.BigEndian.PutUint16(in[14+20+2:], 2153)
				stat = StatNonGTP
			case -2: // corrupt the extension length byte to zero
				in = append([]byte(nil), in...)
				in[14+20+8+12] = 0
				stat = StatMalformed
			}
			before := statsDelta(t, d)[stat]
			ret, out := run(t, d.objs.UpgwUl, in)
			if ret != xdpRedir {
				t.Fatalf("verdict %d; want XDP_REDIRECT (to the UPF port)", ret)
			}
			if !bytes.Equal(out, in) {
				t.Errorf("packet changed:\n got %x\nwant %x", out, in)
			}
			if got := statsDelta(t, d)[stat]; got != before+1 {
				t.Errorf("counter %s %d; want %d", stat, got, before+1)
			}
		})
	}
}

// TestPriority checks that the lowest priority value wins whatever the prefix lengths: the
// compiler orders candidates, the data plane takes the first that matches.
func TestPriority(t *testing.T) {
	d := loadTest(t)
	drop := Match{RuleSlot: 1, Action: ActDrop}
	decap := decapRule()
	decap.RuleSlot = 2
	pass := Match{RuleSlot: 3, Action: ActPassthrough, Fields: FieldTEID, Teid: 77}
	// Candidates behind the /32: the /16 DROP rule has a better priority than the /32
	// decap rule, so it is listed first, after the TEID-scoped PASSTHROUGH.
	rs := []Entry{
		entry("192.0.0.0/16", pass, drop),
		entry("192.0.2.10/32", pass, drop, decap),
	}
	if err := d.SwapRuleSet(rs); err != nil {
		t.Fatal(err)
	}
	inner := innerPacket(t, innerSpec{src: ue4, dst: app4, sport: 1, dport: 8080, payloadLen: 8})
	tests := []struct {
		name string
		teid uint32
		want uint32
		slot uint32
	}{
		{"teid-scoped passthrough first", 77, xdpRedir, 3},
		{"covering drop beats longer prefix", 78, xdpDrop, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ulFrame(t, true, inner, tt.teid, 9)
			ret, out := run(t, d.objs.UpgwUl, in)
			if ret != tt.want {
				t.Fatalf("verdict %d; want %d", ret, tt.want)
			}
			if ret == xdpRedir && !bytes.Equal(out, in) {
				t.Errorf("passthrough changed the packet")
			}
			if c, _ := d.RuleCounter(tt.slot); c.Packets != 1 {
				t.Errorf("rule slot %d counter %d; want 1", tt.slot, c.Packets)
			}
		})
	}
}

func TestMatchFields(t *testing.T) {
	d := loadTest(t)
	base := func(f uint32) Match { return Match{RuleSlot: 1, Action: ActDrop, Fields: f} }
	src := base(FieldSrc)
	src.Src = PrefixFrom(netip.MustParsePrefix("10.60.0.0/24"))
	src6 := base(FieldSrc)
	src6.Src = PrefixFrom(netip.MustParsePrefix("fd60::/64"))
	sport := base(FieldSport)
	sport.SportLo, sport.SportHi = 40000, 40010
	tunSrc := base(FieldTunSrc)
	tunSrc.TunSrc = PrefixFrom(netip.MustParsePrefix("10.0.0.0/30"))
	tunDst := base(FieldTunDst)
	tunDst.TunDst = PrefixFrom(netip.MustParsePrefix("fd00::2/128"))
	tsport := base(FieldTunSport)
	tsport.TsportLo, tsport.TsportHi = 2152, 2152
	tdport := base(FieldTunDport)
	tdport.TdportLo, tdport.TdportHi = 2152, 2152
	teid := base(FieldTEID)
	teid.Teid = 0x1234
	qfi := base(FieldQFI)
	qfi.Qfi = 9
	dscp := base(FieldDSCP)
	dscp.Dscp = 46
	tc := base(FieldTC)
	tc.Tc = 0xb8
	proto := base(FieldProto)
	proto.Proto = 6

	type pk struct {
		outer4, inner4 bool
		teid           uint32
		qfi            byte
		sport          uint16
		tos            uint8
		proto          layers.IPProtocol
	}
	def := pk{outer4: true, inner4: true, teid: 0x1234, qfi: 9, sport: 40005}
	tests := []struct {
		name  string
		m     Match
		p     pk
		match bool
	}{
		{"src in prefix", src, def, true},
		{"src outside prefix", src, pk{outer4: true, inner4: false, teid: 1, sport: 1}, false},
		{"src6 in prefix", src6, pk{outer4: true, inner4: false, sport: 1}, true},
		{"src6 does not match ipv4", src6, def, false},
		{"sport in range", sport, def, true},
		{"sport out of range", sport, pk{outer4: true, inner4: true, sport: 40011}, false},
		{"tunnel src", tunSrc, def, true},
		{"tunnel src wrong family", tunSrc, pk{outer4: false, inner4: true}, false},
		{"tunnel dst v6", tunDst, pk{outer4: false, inner4: true}, true},
		{"tunnel dst v6 no match", tunDst, def, false},
		{"tunnel sport", tsport, def, true},
		{"tunnel dport", tdport, def, true},
		{"teid", teid, def, true},
		{"teid differs", teid, pk{outer4: true, inner4: true, teid: 0x1235}, false},
		{"qfi", qfi, def, true},
		{"qfi differs", qfi, pk{outer4: true, inner4: true, qfi: 8}, false},
		{"dscp", dscp, pk{outer4: true, inner4: true, tos: 46 << 2}, true},
		{"dscp ignores ecn", dscp, pk{outer4: true, inner4: true, tos: 46<<2 | 1}, true},
		{"dscp differs", dscp, pk{outer4: true, inner4: true, tos: 10 << 2}, false},
		{"dscp does not match ipv6", dscp, pk{outer4: true, inner4: false, tos: 46 << 2}, false},
		{"tc", tc, pk{outer4: true, inner4: false, tos: 0xb8}, true},
		{"tc does not match ipv4", tc, pk{outer4: true, inner4: true, tos: 0xb8}, false},
		{"proto tcp", proto, pk{outer4: true, inner4: true, proto: layers.IPProtocolTCP}, true},
		{"proto udp vs tcp rule", proto, def, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := d.SwapRuleSet([]Entry{entry("::/0", tt.m)}); err != nil {
				t.Fatal(err)
			}
			src, dst := ue4, app4
			if !tt.p.inner4 {
				src, dst = ue6, app6
			}
			inner := innerPacket(t, innerSpec{src: src, dst: dst, proto: tt.p.proto, sport: tt.p.sport, dport: 9, tos: tt.p.tos, payloadLen: 4})
			ret, _ := run(t, d.objs.UpgwUl, ulFrame(t, tt.p.outer4, inner, tt.p.teid, tt.p.qfi))
			if got := ret == xdpDrop; got != tt.match {
				t.Errorf("matched %v (verdict %d); want %v", got, ret, tt.match)
			}
		})
	}
}

func TestUplinkForwardEncap(t *testing.T) {
	d := loadTest(t)
	m4 := Match{RuleSlot: 1, Action: ActFwdEncap, Target: slotEP4}
	m6 := Match{RuleSlot: 2, Action: ActFwdEncap, Target: slotEP6}
	if err := d.SwapRuleSet([]Entry{entry("192.0.2.0/24", m4), entry("2001:db8::/32", m6)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		outer    netip.Addr
		inner    []byte
		udpCsum  bool
		wantDst  netip.Addr
		wantTEID uint32
	}{
		{"ipv4 outer, no udp checksum", gnb4, innerPacket(t, innerSpec{src: ue4, dst: app4, payloadLen: 20}), false, ep4, epTEID},
		{"ipv4 outer, udp checksum", gnb4, innerPacket(t, innerSpec{src: ue4, dst: app4, payloadLen: 21}), true, ep4, epTEID},
		{"ipv6 outer", gnb6, innerPacket(t, innerSpec{src: ue6, dst: app6, payloadLen: 20}), true, ep6, 0x42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := n3Spec{smac: gnbMAC, dmac: upfMAC, src: tt.outer, dst: upf4, inner: tt.inner, udpCsum: tt.udpCsum,
				gtp: gtpSpec{teid: 0x42, exts: []gtpExt{psc(1, 5)}}}
			l3len := 20
			if tt.outer.Is6() {
				s.dst = upf6
				l3len = 40
			}
			in := n3Frame(t, s)
			ret, out := run(t, d.objs.UpgwUl, in)
			if ret != xdpRedir {
				t.Fatalf("verdict %d; want XDP_REDIRECT", ret)
			}
			if len(out) != len(in) {
				t.Fatalf("length %d; want %d", len(out), len(in))
			}
			if !bytes.Equal(out[0:6], epMAC) || !bytes.Equal(out[6:12], gwMAC) {
				t.Errorf("MACs %x %x; want %x %x", out[0:6], out[6:12], []byte(epMAC), []byte(gwMAC))
			}
			ip := out[14 : 14+l3len]
			var dst netip.Addr
			if tt.outer.Is4() {
				dst = netip.AddrFrom4([4]byte(ip[16:20]))
				if !checksumOK(ip) {
					t.Errorf("outer IPv4 header checksum invalid")
				}
			} else {
				dst = netip.AddrFrom16([16]byte(ip[24:40]))
			}
			if dst != tt.wantDst {
				t.Errorf("outer dst %s; want %s", dst, tt.wantDst)
			}
			udp := out[14+l3len:]
			if tt.udpCsum && binary.BigEndian.Uint16(udp[6:]) == 0 {
				t.Errorf("udp checksum became zero")
			}
			if !tt.udpCsum && binary.BigEndian.Uint16(udp[6:]) != 0 {
				t.Errorf("udp checksum %#x; want 0 kept", binary.BigEndian.Uint16(udp[6:]))
			}
			if !udpChecksumOK(tt.outer, dst, udp) {
				t.Errorf("outer UDP checksum invalid")
			}
			if got := binary.BigEndian.Uint32(udp[8+4:]); got != tt.wantTEID {
				t.Errorf("TEID %#x; want %#x", got, tt.wantTEID)
			}
			if !bytes.Equal(out[len(out)-len(tt.inner):], tt.inner) {
				t.Errorf("inner packet changed")
			}
		})
	}
}

func TestUplinkDuplicateMeta(t *testing.T) {
	d := loadTest(t)
	for _, act := range []uint8{ActDupDecap, ActDupEncap} {
		m := Match{RuleSlot: 4, Action: act, Target: slotApp}
		if err := d.SwapRuleSet([]Entry{entry("0.0.0.0/0", m)}); err != nil {
			t.Fatal(err)
		}
		in := ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: app4, payloadLen: 8}), 1, 1)
		ctx := &xdpMD{DataEnd: uint32(len(in))}
		out := make([]byte, len(in)+64)
		opts := &ebpf.RunOptions{Data: in, DataOut: out, Context: ctx, ContextOut: ctx}
		ret, err := d.objs.UpgwUl.Run(opts)
		if err != nil {
			t.Fatal(err)
		}
		if ret != xdpPass {
			t.Fatalf("action %d: verdict %d; want XDP_PASS (to TC); stats %v", act, ret, statsDelta(t, d))
		}
		metaLen := int(ctx.Data - ctx.DataMeta)
		if metaLen != 16 {
			t.Fatalf("action %d: metadata %d bytes; want 16", act, metaLen)
		}
		md := opts.DataOut[:metaLen]
		if got := binary.NativeEndian.Uint32(md); got != 0x55504757 {
			t.Errorf("magic %#x; want UPGW", got)
		}
		if md[4] != act || md[5] != slotApp {
			t.Errorf("action/target %d/%d; want %d/%d", md[4], md[5], act, slotApp)
		}
		if got := binary.NativeEndian.Uint16(md[6:]); got != 20+8+16 {
			t.Errorf("hdrlen %d; want 44", got)
		}
		if !bytes.Equal(opts.DataOut[metaLen:], in) {
			t.Errorf("packet changed before TC")
		}
	}
}

// xdpMD mirrors struct xdp_md for BPF_PROG_RUN context in/out (a kernel UAPI type, not ours).
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

func TestDownlinkLearn(t *testing.T) {
	d := loadTest(t)
	inner := innerPacket(t, innerSpec{src: app4, dst: ue4, sport: 8080, dport: 40000, payloadLen: 10})
	dl := func(gnb netip.Addr, teid uint32, qfi byte) []byte {
		upf := upf4
		if gnb.Is6() {
			upf = upf6
		}
		return n3Frame(t, n3Spec{smac: upfMAC, dmac: gnbMAC, src: upf, dst: gnb, sport: 2152, inner: inner,
			gtp: gtpSpec{teid: teid, exts: []gtpExt{psc(0, qfi)}}})
	}
	steps := []struct {
		name        string
		in          []byte
		wantTEID    uint32
		wantQFI     uint8
		wantGNB     netip.Addr
		wantLearned uint64
	}{
		{"first downlink packet", dl(gnb4, 0xa1, 5), 0xa1, 5, gnb4, 1},
		{"same tunnel again", dl(gnb4, 0xa1, 5), 0xa1, 5, gnb4, 1},
		{"handover to new TEID", dl(gnb4, 0xa2, 5), 0xa2, 5, gnb4, 2},
		{"handover to new gNB", dl(netip.MustParseAddr("10.0.0.9"), 0xa3, 6), 0xa3, 6, netip.MustParseAddr("10.0.0.9"), 3},
		{"ipv6 N3", dl(gnb6, 0xa4, 7), 0xa4, 7, gnb6, 4},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ret, out := run(t, d.objs.UpgwDl, st.in)
			if ret != xdpRedir {
				t.Fatalf("verdict %d; want XDP_REDIRECT (to the gNB port)", ret)
			}
			if !bytes.Equal(out, st.in) {
				t.Errorf("downlink packet changed")
			}
			ss, err := d.Sessions()
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) != 1 {
				t.Fatalf("%d sessions; want 1", len(ss))
			}
			s := ss[0]
			if s.UE != ue4 || s.Teid != st.wantTEID || s.Qfi != st.wantQFI || AddrTo(s.Gnb) != st.wantGNB || s.Learned != st.wantLearned {
				t.Errorf("session ue=%s teid=%#x qfi=%d gnb=%s learned=%d; want ue=%s teid=%#x qfi=%d gnb=%s learned=%d",
					s.UE, s.Teid, s.Qfi, AddrTo(s.Gnb), s.Learned, ue4, st.wantTEID, st.wantQFI, st.wantGNB, st.wantLearned)
			}
			if !bytes.Equal(s.GnbMac[:], gnbMAC) || !bytes.Equal(s.UpfMac[:], upfMAC) {
				t.Errorf("session MACs %x/%x; want %x/%x", s.GnbMac, s.UpfMac, []byte(gnbMAC), []byte(upfMAC))
			}
		})
	}
	// An end marker passes through and does not touch the session.
	em := n3Frame(t, n3Spec{smac: upfMAC, dmac: gnbMAC, src: upf4, dst: gnb4, gtp: gtpSpec{msgType: 254, teid: 0xa1}})
	if ret, out := run(t, d.objs.UpgwDl, em); ret != xdpRedir || !bytes.Equal(out, em) {
		t.Errorf("end marker: verdict %d, changed %v; want XDP_REDIRECT unchanged", ret, !bytes.Equal(out, em))
	}
}

func TestReturnPathEncap(t *testing.T) {
	d := loadTest(t)
	tests := []struct {
		name       string
		gnb, upf   netip.Addr
		ue, app    netip.Addr
		payloadLen int
	}{
		{"ipv4 N3, ipv4 UE", gnb4, upf4, ue4, app4, 40},
		{"ipv4 N3, ipv6 UE", gnb4, upf4, ue6, app6, 41},
		{"ipv6 N3, ipv4 UE", gnb6, upf6, ue4, app4, 300},
		{"ipv6 N3, ipv6 UE", gnb6, upf6, ue6, app6, 1203},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fam := uint8(4)
			if tt.gnb.Is6() {
				fam = 6
			}
			s := Session{Gnb: AddrFrom(tt.gnb), Upf: AddrFrom(tt.upf), Teid: 0xd1d1, Qfi: 9, Family: fam, Sport: 2152}
			copy(s.GnbMac[:], gnbMAC)
			copy(s.UpfMac[:], upfMAC)
			if err := d.PutSession(tt.ue, s); err != nil {
				t.Fatal(err)
			}
			inner := innerPacket(t, innerSpec{src: tt.app, dst: tt.ue, sport: 8080, dport: 40000, payloadLen: tt.payloadLen})
			in := append(ethHdr(gwMAC, appMAC, ethType(tt.ue)), inner...)
			ret, out := run(t, d.objs.UpgwApp, in)
			if ret != tcRedirect {
				t.Fatalf("verdict %d; want TC_ACT_REDIRECT", ret)
			}
			if !bytes.Equal(out[0:6], gnbMAC) || !bytes.Equal(out[6:12], upfMAC) {
				t.Errorf("MACs %x %x; want gNB %x from UPF %x", out[0:6], out[6:12], []byte(gnbMAC), []byte(upfMAC))
			}
			l3 := 20
			if fam == 6 {
				l3 = 40
			}
			if got, want := len(out), 14+l3+8+16+len(inner); got != want {
				t.Fatalf("length %d; want %d", got, want)
			}
			ip := out[14 : 14+l3]
			var src, dst netip.Addr
			if fam == 4 {
				if binary.BigEndian.Uint16(out[12:]) != 0x0800 || !checksumOK(ip) {
					t.Errorf("outer IPv4 ethertype or header checksum wrong")
				}
				if got := int(binary.BigEndian.Uint16(ip[2:])); got != l3+8+16+len(inner) {
					t.Errorf("IPv4 total length %d; want %d", got, l3+8+16+len(inner))
				}
				src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
			} else {
				if binary.BigEndian.Uint16(out[12:]) != 0x86dd {
					t.Errorf("outer ethertype not IPv6")
				}
				if got := int(binary.BigEndian.Uint16(ip[4:])); got != 8+16+len(inner) {
					t.Errorf("IPv6 payload length %d; want %d", got, 8+16+len(inner))
				}
				src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
			}
			if src != tt.upf || dst != tt.gnb {
				t.Errorf("outer %s -> %s; want %s -> %s", src, dst, tt.upf, tt.gnb)
			}
			udp := out[14+l3:]
			if sp, dp := binary.BigEndian.Uint16(udp), binary.BigEndian.Uint16(udp[2:]); sp != 2152 || dp != 2152 {
				t.Errorf("udp ports %d->%d; want 2152->2152", sp, dp)
			}
			if got := int(binary.BigEndian.Uint16(udp[4:])); got != len(udp) {
				t.Errorf("udp length %d; want %d", got, len(udp))
			}
			if fam == 6 && binary.BigEndian.Uint16(udp[6:]) == 0 {
				t.Errorf("ipv6 udp checksum is zero")
			}
			if !udpChecksumOK(src, dst, udp) {
				t.Errorf("outer udp checksum invalid")
			}
			g := udp[8:]
			want := []byte{0x34, 0xff, 0, 0, 0, 0, 0xd1, 0xd1, 0, 0, 0, 0x85, 1, 0x00, 9, 0}
			binary.BigEndian.PutUint16(want[2:], uint16(8+len(inner)))
			if !bytes.Equal(g[:16], want) {
				t.Errorf("gtp header %x; want %x", g[:16], want)
			}
			if !bytes.Equal(g[16:], inner) {
				t.Errorf("inner packet changed")
			}
		})
	}
	// No session: handed to the stack, untouched.
	inner := innerPacket(t, innerSpec{src: app4, dst: netip.MustParseAddr("10.60.9.9"), sport: 1, dport: 2, payloadLen: 4})
	in := append(ethHdr(gwMAC, appMAC, layers.EthernetTypeIPv4), inner...)
	if ret, out := run(t, d.objs.UpgwApp, in); ret != tcOK || !bytes.Equal(out, in) {
		t.Errorf("no session: verdict %d; want TC_ACT_OK and no change", ret)
	}
	if got := statsDelta(t, d)[StatDLMiss]; got != 1 {
		t.Errorf("dl_miss %d; want 1", got)
	}
}

// ethHdr builds an Ethernet header by hand: gopacket pads a lone header to 60 bytes.
func ethHdr(dst, src []byte, typ layers.EthernetType) []byte {
	h := append(append(append([]byte(nil), dst...), src...), 0, 0)
	binary.BigEndian.PutUint16(h[12:], uint16(typ))
	return h
}

func ethType(a netip.Addr) layers.EthernetType {
	if a.Is4() {
		return layers.EthernetTypeIPv4
	}
	return layers.EthernetTypeIPv6
}

// TestSwapAtomic checks that a swap replaces the whole set: rules of the old set stop
// matching and rules of the new set start, with no intermediate state visible.
func TestSwapAtomic(t *testing.T) {
	d := loadTest(t)
	in := ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: app4, dport: 8080, payloadLen: 4}), 1, 1)
	sets := [][]Entry{
		{entry("192.0.2.10/32", Match{RuleSlot: 1, Action: ActDrop})},
		{entry("192.0.2.0/24", decapRule())},
		nil,
	}
	want := []uint32{xdpDrop, xdpRedir, xdpRedir}
	wantLen := []int{0, 14 + len(in) - 14 - 20 - 8 - 16, len(in)}
	for i, rs := range sets {
		if err := d.SwapRuleSet(rs); err != nil {
			t.Fatal(err)
		}
		ret, out := run(t, d.objs.UpgwUl, in)
		if ret != want[i] {
			t.Fatalf("set %d: verdict %d; want %d", i, ret, want[i])
		}
		if ret == xdpRedir && len(out) != wantLen[i] {
			t.Errorf("set %d: length %d; want %d", i, len(out), wantLen[i])
		}
	}
}
