package mecrule

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// maxRangePrefixes bounds how many CIDR prefixes an address range may expand to.
const maxRangePrefixes = 32

// ParseAddress parses a MEC 011 address filter item: an address, a prefix (a.b.c.d/24,
// 2001:db8::/32), an IPv4 address plus dotted mask (a.b.c.d/255.255.255.0 or with a space),
// or a range "first-last" (decomposed into at most 32 prefixes).
func ParseAddress(s string) ([]netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty address")
	}
	if a, b, ok := strings.Cut(s, "-"); ok {
		first, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("address range %q: %w", s, err)
		}
		last, err := netip.ParseAddr(strings.TrimSpace(b))
		if err != nil {
			return nil, fmt.Errorf("address range %q: %w", s, err)
		}
		if first.Zone() != "" || last.Zone() != "" {
			return nil, fmt.Errorf("address range %q: a zone index is not allowed", s)
		}
		return rangePrefixes(first.Unmap(), last.Unmap())
	}
	if a, m, ok := cutMask(s); ok {
		addr, err := netip.ParseAddr(a)
		if err != nil || !addr.Is4() {
			return nil, fmt.Errorf("address %q: want an IPv4 address before a dotted mask", s)
		}
		mask, err := netip.ParseAddr(m)
		if err != nil || !mask.Is4() {
			return nil, fmt.Errorf("address %q: bad dotted mask", s)
		}
		mb := mask.As4()
		v := uint32(mb[0])<<24 | uint32(mb[1])<<16 | uint32(mb[2])<<8 | uint32(mb[3])
		ones := bits.LeadingZeros32(^v)
		if v<<ones != 0 {
			return nil, fmt.Errorf("address %q: mask is not contiguous", s)
		}
		return []netip.Prefix{netip.PrefixFrom(addr, ones).Masked()}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", s, err)
		}
		if p.Addr().Is4In6() {
			// ::ffff:a.b.c.d/n is the IPv4 prefix a.b.c.d/(n-96). Below /96 it would also
			// cover IPv6 addresses outside the mapped block, which no single family can say.
			if p.Bits() < 96 {
				return nil, fmt.Errorf("address %q: an IPv4-mapped prefix needs at least 96 bits", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return []netip.Prefix{p.Masked()}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	if a.Zone() != "" {
		// A zone names an interface of this host; it says nothing about traffic.
		return nil, fmt.Errorf("address %q: a zone index is not allowed", s)
	}
	a = a.Unmap()
	return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}, nil
}

// cutMask splits "a.b.c.d/255.255.255.0" or "a.b.c.d 255.255.255.0".
func cutMask(s string) (string, string, bool) {
	for _, sep := range []string{"/", " "} {
		if a, m, ok := strings.Cut(s, sep); ok && strings.Count(m, ".") == 3 {
			return strings.TrimSpace(a), strings.TrimSpace(m), true
		}
	}
	return "", "", false
}

// rangePrefixes decomposes [first, last] into the minimal list of CIDR prefixes.
func rangePrefixes(first, last netip.Addr) ([]netip.Prefix, error) {
	if first.Is4() != last.Is4() {
		return nil, fmt.Errorf("address range %s-%s mixes IPv4 and IPv6", first, last)
	}
	if last.Less(first) {
		return nil, fmt.Errorf("address range %s-%s is reversed", first, last)
	}
	var out []netip.Prefix
	cur := first
	for {
		// Largest prefix starting at cur that stays within last.
		bl := cur.BitLen()
		n := bl
		for n > 0 {
			p := netip.PrefixFrom(cur, n-1)
			if p.Masked().Addr() != cur || lastOf(p).Compare(last) > 0 {
				break
			}
			n--
		}
		p := netip.PrefixFrom(cur, n)
		out = append(out, p)
		if len(out) > maxRangePrefixes {
			return nil, fmt.Errorf("address range %s-%s needs more than %d prefixes", first, last, maxRangePrefixes)
		}
		end := lastOf(p)
		if end.Compare(last) >= 0 {
			return out, nil
		}
		cur = end.Next()
	}
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// PortRange is an inclusive port range.
type PortRange struct{ Lo, Hi uint16 }

// ParsePort parses "80" or "8000-8080".
func ParsePort(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	if err != nil {
		return PortRange{}, fmt.Errorf("port %q: want a number 0-65535 or a range lo-hi", s)
	}
	hi := lo
	if isRange {
		hi, err = strconv.ParseUint(strings.TrimSpace(b), 10, 16)
		if err != nil {
			return PortRange{}, fmt.Errorf("port %q: want a number 0-65535 or a range lo-hi", s)
		}
		if hi < lo {
			return PortRange{}, fmt.Errorf("port range %q is reversed", s)
		}
	}
	return PortRange{uint16(lo), uint16(hi)}, nil
}

var protoNames = map[string]uint8{
	"ICMP": 1, "IGMP": 2, "TCP": 6, "UDP": 17, "GRE": 47, "ESP": 50, "AH": 51,
	"ICMPV6": 58, "SCTP": 132,
}

// ParseProtocol parses a protocol name (TCP, UDP, SCTP, ICMP, ICMPv6, ...) or number.
func ParseProtocol(s string) (uint8, error) {
	s = strings.TrimSpace(s)
	if p, ok := protoNames[strings.ToUpper(s)]; ok {
		return p, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("protocol %q: want a name (TCP, UDP, SCTP, ICMP, ICMPv6) or a number 0-255", s)
	}
	return uint8(n), nil
}

// ParseTEID parses a tag/token as a TEID: decimal or 0x-prefixed hex, 32 bits.
func ParseTEID(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("tag %q: want a TEID (decimal or 0x hex, 32 bits)", s)
	}
	return uint32(n), nil
}
