package dataplane

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"
)

// refPacket is what the reference classifier sees of an uplink G-PDU.
type refPacket struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
	teid         uint32
	qfi          uint8
}

// refClassify is the reference classifier of a rule set: the longest destination prefix
// covering the packet, then the first of its candidates whose fields all hold. It knows
// nothing of the host table, the destination pre-filter or the trie.
func refClassify(entries []Entry, p refPacket) (Match, bool) {
	dst := netip.AddrFrom16(p.dst.As16())
	best := -1
	for i, e := range entries {
		var b [16]byte
		for w := range 4 {
			putNativeWord(b[w*4:], e.Key.Addr.W[w])
		}
		pfx := netip.PrefixFrom(netip.AddrFrom16(b), int(e.Key.Prefixlen))
		if pfx.Contains(dst) && (best < 0 || e.Key.Prefixlen > entries[best].Key.Prefixlen) {
			best = i
		}
	}
	if best < 0 {
		return Match{}, false
	}
	c := entries[best].Cands
	for _, m := range c.M[:c.N] {
		if refMatch(m, p) {
			return m, true
		}
	}
	return Match{}, false
}

// refMatch checks the fields the differential test generates.
func refMatch(m Match, p refPacket) bool {
	f := m.Fields
	inPrefix := func(pf Prefix, a netip.Addr) bool {
		x := AddrFrom(a)
		for w := range 4 {
			if x.W[w]&pf.Mask.W[w] != pf.Addr.W[w] {
				return false
			}
		}
		return true
	}
	l4 := p.proto == 6 || p.proto == 17
	switch {
	case f&FieldProto != 0 && m.Proto != p.proto,
		f&FieldTEID != 0 && m.Teid != p.teid,
		f&(FieldSport|FieldDport) != 0 && !l4,
		f&FieldSport != 0 && (p.sport < m.SportLo || p.sport > m.SportHi),
		f&FieldDport != 0 && (p.dport < m.DportLo || p.dport > m.DportHi),
		f&FieldSrc != 0 && !inPrefix(m.Src, p.src),
		f&FieldQFI != 0 && m.Qfi != p.qfi:
		return false
	}
	return true
}

// collidingHosts returns two IPv4 addresses in 10.0.0.0/16 that share a host-table slot.
func collidingHosts() (netip.Addr, netip.Addr) {
	seen := map[uint32]netip.Addr{}
	for i := range 1 << 16 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		s := HostSlot(AddrFrom(a))
		if b, ok := seen[s]; ok {
			return b, a
		}
		seen[s] = a
	}
	panic("no host-table collision in 10.0.0.0/16")
}

// diffCase is one generated rule set and the packets sent against it.
type diffCase struct {
	entries []Entry
	packets []refPacket
}

// genDiffCase builds a random rule set with host keys (some sharing a host-table slot),
// overlapping prefixes and candidates in arbitrary order, and packets aimed at its
// hosts, inside its prefixes and beside them.
func genDiffCase(r *rand.Rand) diffCase {
	c1, c2 := collidingHosts()
	hosts := []netip.Addr{c1, c2}
	for range 2 + r.IntN(6) {
		hosts = append(hosts, netip.AddrFrom4([4]byte{192, 0, byte(r.IntN(4)), byte(r.IntN(16))}))
	}
	for range 1 + r.IntN(3) {
		hosts = append(hosts, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(16))}))
	}
	prefixes := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("192.0.0.0/16"),
		netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("192.0.1.8/29"),
		netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("2001:db8::/64"),
		netip.MustParsePrefix("::/0"),
	}
	seen := map[netip.Prefix]bool{}
	var keys []netip.Prefix
	for _, h := range hosts {
		keys = append(keys, netip.PrefixFrom(h, h.BitLen()))
	}
	for _, p := range prefixes {
		if r.IntN(2) == 0 {
			keys = append(keys, p)
		}
	}
	var dc diffCase
	slot := uint32(1)
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		e := Entry{Key: KeyFrom(k)}
		e.Cands.N = uint32(r.IntN(5))
		for i := range e.Cands.N {
			e.Cands.M[i] = genMatch(r, slot)
			slot++
		}
		dc.entries = append(dc.entries, e)
	}
	targets := append([]netip.Addr{}, hosts...)
	targets = append(targets, netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("192.0.1.9"),
		netip.MustParseAddr("10.0.77.1"), netip.MustParseAddr("198.51.100.7"),
		netip.MustParseAddr("2001:db8::99"), netip.MustParseAddr("2001:db9::1"))
	for range 120 {
		dst := targets[r.IntN(len(targets))]
		src := ue4
		if dst.Is6() {
			src = ue6
		}
		if r.IntN(3) == 0 {
			src = src.Next()
		}
		dc.packets = append(dc.packets, refPacket{
			src: src, dst: dst, proto: []uint8{6, 17, 17}[r.IntN(3)],
			sport: uint16(40000 + r.IntN(3)), dport: uint16(8079 + r.IntN(3)),
			teid: uint32(1 + r.IntN(3)), qfi: uint8(8 + r.IntN(2)),
		})
	}
	return dc
}

// genMatch returns a DROP or PASSTHROUGH candidate testing a random subset of fields.
func genMatch(r *rand.Rand, slot uint32) Match {
	m := Match{RuleSlot: slot, Action: []uint8{ActDrop, ActPassthrough}[r.IntN(2)]}
	if r.IntN(2) == 0 {
		m.Fields |= FieldProto
		m.Proto = []uint8{6, 17}[r.IntN(2)]
	}
	if r.IntN(2) == 0 {
		m.Fields |= FieldDport
		m.DportLo = uint16(8079 + r.IntN(3))
		m.DportHi = m.DportLo + uint16(r.IntN(2))
	}
	if r.IntN(4) == 0 {
		m.Fields |= FieldSport
		m.SportLo, m.SportHi = 40000, uint16(40000+r.IntN(3))
	}
	if r.IntN(4) == 0 {
		m.Fields |= FieldTEID
		m.Teid = uint32(1 + r.IntN(3))
	}
	if r.IntN(4) == 0 {
		m.Fields |= FieldQFI
		m.Qfi = uint8(8 + r.IntN(2))
	}
	if r.IntN(4) == 0 {
		m.Fields |= FieldSrc
		src := []netip.Prefix{netip.PrefixFrom(ue4, 32), netip.PrefixFrom(ue6, 128), netip.MustParsePrefix("10.60.0.0/16")}
		m.Src = PrefixFrom(src[r.IntN(len(src))])
	}
	return m
}

// TestClassifyDifferential checks the data plane's classification (destination pre-filter,
// host table, LPM trie, candidate walk) against refClassify on random rule sets, swapped
// into one data plane one after another.
func TestClassifyDifferential(t *testing.T) {
	d := loadTest(t)
	for seed := range uint64(12) {
		dc := genDiffCase(rand.New(rand.NewPCG(seed, 0x5eed)))
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { checkDiffCase(t, d, dc) })
	}
}

// FuzzClassify is TestClassifyDifferential driven by the fuzzer's seed.
func FuzzClassify(f *testing.F) {
	f.Add(uint64(100), uint64(1))
	f.Add(uint64(7), uint64(99))
	f.Fuzz(func(t *testing.T, s1, s2 uint64) {
		d := loadTest(t)
		checkDiffCase(t, d, genDiffCase(rand.New(rand.NewPCG(s1, s2))))
	})
}

func checkDiffCase(t *testing.T, d *Datapath, dc diffCase) {
	t.Helper()
	if err := d.SwapRuleSet(dc.entries); err != nil {
		t.Fatal(err)
	}
	for _, p := range dc.packets {
		spec := innerSpec{src: p.src, dst: p.dst, proto: layers.IPProtocol(p.proto), sport: p.sport, dport: p.dport, payloadLen: 8}
		in := ulFrame(t, true, innerPacket(t, spec), p.teid, p.qfi)
		want, hit := refClassify(dc.entries, p)
		var before uint64
		if hit {
			c, err := d.RuleCounter(want.RuleSlot)
			if err != nil {
				t.Fatal(err)
			}
			before = c.Packets
		} else {
			before = statsDelta(t, d)[StatULPass]
		}
		ret, _ := run(t, d.objs.UpgwUl, in)
		desc := fmt.Sprintf("%s -> %s proto %d ports %d->%d teid %d qfi %d", p.src, p.dst, p.proto, p.sport, p.dport, p.teid, p.qfi)
		switch {
		case !hit:
			if ret != xdpRedir || statsDelta(t, d)[StatULPass] != before+1 {
				t.Fatalf("%s: verdict %d; want pass-through with no rule (reference)", desc, ret)
			}
		default:
			c, err := d.RuleCounter(want.RuleSlot)
			if err != nil {
				t.Fatal(err)
			}
			wantRet := uint32(xdpRedir)
			if want.Action == ActDrop {
				wantRet = xdpDrop
			}
			if ret != wantRet || c.Packets != before+1 {
				t.Fatalf("%s: verdict %d, rule slot %d counted %d; want verdict %d from rule slot %d (reference)",
					desc, ret, want.RuleSlot, c.Packets-before, wantRet, want.RuleSlot)
			}
		}
	}
}

// TestHostTableHit checks that a host destination is answered from the host table: with its
// key removed from the active trie, the packet still takes the host's rule, and a host that
// lost its slot to another one is answered by the trie alone.
func TestHostTableHit(t *testing.T) {
	d := loadTest(t)
	c1, c2 := collidingHosts()
	drop := Match{RuleSlot: 1, Action: ActDrop}
	pass := Match{RuleSlot: 2, Action: ActPassthrough}
	rs := []Entry{
		entry("10.0.0.0/16", pass),
		entry(netip.PrefixFrom(c1, 32).String(), drop),
		entry(netip.PrefixFrom(c2, 32).String(), drop),
	}
	if err := d.SwapRuleSet(rs); err != nil {
		t.Fatal(err)
	}
	for _, e := range rs[1:] {
		if err := d.gen.Delete(&e.Key); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		dst  netip.Addr
		want uint32
	}{{c1, xdpDrop}, {c2, xdpRedir}} {
		in := ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: tt.dst, sport: 1, dport: 2, payloadLen: 8}), 1, 9)
		if ret, _ := run(t, d.objs.UpgwUl, in); ret != tt.want {
			t.Errorf("%s: verdict %d; want %d", tt.dst, ret, tt.want)
		}
	}
}
