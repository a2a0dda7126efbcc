package dataplane

import (
	"net/netip"
	"testing"
)

func TestFilterOf(t *testing.T) {
	bit := func(bm []uint64, idx uint32) bool { return bm[idx>>6]&(1<<(idx&63)) != 0 }
	v4 := func(s string) uint32 { b := netip.MustParseAddr(s).As4(); return uint32(b[0])<<8 | uint32(b[1]) }
	v6 := func(s string) uint32 {
		b := netip.MustParseAddr(s).As16()
		return 65536 + (uint32(b[0])<<8 | uint32(b[1]))
	}
	tests := []struct {
		name   string
		prefix string
		set    []uint32
		clear  []uint32
	}{
		{"ipv4 /32", "192.0.2.10/32", []uint32{v4("192.0.2.1")}, []uint32{v4("192.1.0.0"), v6("2001:db8::1"), v6("::1")}},
		{"ipv4 /8", "10.0.0.0/8", []uint32{v4("10.0.0.1"), v4("10.255.0.0")}, []uint32{v4("11.0.0.0"), v4("9.255.0.0")}},
		{"ipv4 any", "0.0.0.0/0", []uint32{v4("1.2.3.4"), v4("255.255.0.0")}, []uint32{v6("2001::")}},
		{"ipv6 /32", "2001:db8::/32", []uint32{v6("2001:db8::1"), v6("2001:ffff::")}, []uint32{v6("2002::"), v4("32.1.0.0")}},
		{"ipv6 /4", "2000::/4", []uint32{v6("2000::"), v6("2fff::")}, []uint32{v6("3000::"), v6("1fff::")}},
		{"anything", "::/0", []uint32{v4("1.2.3.4"), v6("fe80::1"), v6("::")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bm := filterOf([]Entry{{Key: KeyFrom(netip.MustParsePrefix(tt.prefix))}})
			for _, i := range tt.set {
				if !bit(bm, i) {
					t.Errorf("bit %d clear; want set", i)
				}
			}
			for _, i := range tt.clear {
				if bit(bm, i) {
					t.Errorf("bit %d set; want clear", i)
				}
			}
		})
	}
}
