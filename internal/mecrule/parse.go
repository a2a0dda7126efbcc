package mecrule

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
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

// protoNames are the IANA keywords of the IP protocol numbers (the "Keyword" column of the
// IANA Assigned Internet Protocol Numbers registry), upper case, with common aliases.
var protoNames = map[string]uint8{
	"HOPOPT": 0, "ICMP": 1, "IGMP": 2, "GGP": 3, "IPV4": 4, "IP-IN-IP": 4, "IPIP": 4, "ST": 5, "TCP": 6,
	"CBT": 7, "EGP": 8, "IGP": 9, "PUP": 12, "UDP": 17, "HMP": 20, "RDP": 27, "IRTP": 28, "ISO-TP4": 29,
	"DCCP": 33, "XTP": 36, "DDP": 37, "IL": 40, "IPV6": 41, "SDRP": 42, "IPV6-ROUTE": 43, "IPV6-FRAG": 44,
	"IDRP": 45, "RSVP": 46, "GRE": 47, "DSR": 48, "ESP": 50, "AH": 51, "NARP": 54, "MOBILE": 55,
	"IPV6-ICMP": 58, "ICMPV6": 58, "IPV6-NONXT": 59, "IPV6-OPTS": 60, "EIGRP": 88, "OSPF": 89,
	"OSPFIGP": 89, "AX.25": 93, "IPIP-OLD": 94, "ETHERIP": 97, "ENCAP": 98, "PIM": 103, "IPCOMP": 108,
	"VRRP": 112, "L2TP": 115, "ISIS": 124, "SCTP": 132, "FC": 133, "MOBILITY-HEADER": 135, "UDPLITE": 136,
	"MPLS-IN-IP": 137, "MANET": 138, "HIP": 139, "SHIM6": 140, "WESP": 141, "ROHC": 142, "ETHERNET": 143,
}

// ErrNotIPProtocol is the error of ParseProtocol for a well-formed name that is not an IP
// protocol: an application protocol ("HTTP", "QUIC", "RTSP", ...), which TrafficFilter.protocol
// (a list of strings) may hold. Such names are valid and kept as given, but the data plane
// sees IP protocols only: a protocol list that holds one does not restrict the IP protocol
// (IPProtocols), and the filter matches on its other fields.
var ErrNotIPProtocol = errors.New("not an IP protocol")

// maxProtocolName bounds an application protocol name.
const maxProtocolName = 64

// ParseProtocol parses an IP protocol: an IANA keyword (TCP, UDP, SCTP, ICMP, IPv6-ICMP,
// ...; any case) or a number 0-255. A well-formed other name (letters, digits and
// "+-._/", starting with a letter) is an error wrapping ErrNotIPProtocol; anything else an
// invalid protocol.
func ParseProtocol(s string) (uint8, error) {
	s = strings.TrimSpace(s)
	if p, ok := protoNames[strings.ToUpper(s)]; ok {
		return p, nil
	}
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		return uint8(n), nil
	}
	if appProtocolName(s) {
		return 0, fmt.Errorf("protocol %q: %w", s, ErrNotIPProtocol)
	}
	return 0, fmt.Errorf("protocol %q: want an IANA protocol name (TCP, UDP, SCTP, ICMP, ...), a number 0-255 or an application protocol name", s)
}

func appProtocolName(s string) bool {
	if s == "" || len(s) > maxProtocolName || !unicode.IsLetter(rune(s[0])) {
		return false
	}
	for _, c := range s {
		if c > unicode.MaxASCII || !(unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("+-._/", c)) {
			return false
		}
	}
	return true
}

// validProtocol accepts IP protocols and application protocol names.
func validProtocol(s string) error {
	if _, err := ParseProtocol(s); err != nil && !errors.Is(err, ErrNotIPProtocol) {
		return err
	}
	return nil
}

// IPProtocols returns the IP protocols a protocol list restricts the traffic to: nil (any
// protocol) when the list is empty or holds an application protocol name, which the data
// plane cannot see and so must not narrow the match to nothing.
func IPProtocols(items []string) ([]uint8, error) {
	out := make([]uint8, 0, len(items))
	for _, s := range items {
		p, err := ParseProtocol(s)
		switch {
		case errors.Is(err, ErrNotIPProtocol):
			return nil, nil
		case err != nil:
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
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
