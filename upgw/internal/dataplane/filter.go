package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// filterWords is the size of the dst_filter map: 65536 IPv4 /16 bits, then 65536 bits for the
// top 16 bits of IPv6 destinations.
const filterWords = 2048

// filterOf returns the destination pre-filter of a rule set: a bit for every IPv4 /16 and
// IPv6 top-16-bit block that some entry's prefix overlaps.
func filterOf(entries []Entry) []uint64 {
	bm := make([]uint64, filterWords)
	setRange := func(base, lo, n uint32) {
		for i := lo; i < lo+n; i++ {
			bm[(base+i)>>6] |= 1 << ((base + i) & 63)
		}
	}
	v4block := netip.MustParsePrefix("::ffff:0:0/96")
	for _, e := range entries {
		var b [16]byte
		for i := range 4 {
			putNativeWord(b[i*4:], e.Key.Addr.W[i])
		}
		bits := int(e.Key.Prefixlen)
		a := netip.AddrFrom16(b)
		p := netip.PrefixFrom(a, bits).Masked()
		top := uint32(binary.BigEndian.Uint16(b[0:2]))
		span := func(l int) uint32 { // blocks covered by a prefix of l bits within 16
			if l >= 16 {
				return 1
			}
			return 1 << (16 - l)
		}
		switch {
		case bits >= 96 && a.Is4In6():
			l := bits - 96
			t4 := uint32(binary.BigEndian.Uint16(b[12:14]))
			n := span(l)
			setRange(0, t4&^(n-1), n)
			continue // an IPv4 prefix covers no IPv6 destination
		case p.Overlaps(v4block):
			setRange(0, 0, 65536)
		}
		n := span(bits)
		setRange(65536, top&^(n-1), n)
	}
	return bm
}

// writeFilter writes the words of want that differ from d.filter.
func (d *Datapath) writeFilter(want []uint64) error {
	if d.filter == nil {
		d.filter = make([]uint64, filterWords)
	}
	for i, w := range want {
		if d.filter[i] == w {
			continue
		}
		if err := d.objs.DstFilter.Put(uint32(i), w); err != nil {
			return fmt.Errorf("write destination filter: %w", err)
		}
		d.filter[i] = w
	}
	return nil
}

// readFilter reads dst_filter as the kernel holds it: after a restart it is what the previous
// agent wrote, and a swap must keep covering it until the new set is in.
func (d *Datapath) readFilter() ([]uint64, error) {
	f := make([]uint64, filterWords)
	for i := range f {
		if err := d.objs.DstFilter.Lookup(uint32(i), &f[i]); err != nil {
			return nil, fmt.Errorf("read destination filter: %w", err)
		}
	}
	return f, nil
}
