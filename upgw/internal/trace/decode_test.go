package trace

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
)

var (
	gnbMAC = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	upfMAC = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	gnb4   = netip.MustParseAddr("10.0.0.1")
	upf4   = netip.MustParseAddr("10.0.0.2")
	gnb6   = netip.MustParseAddr("fd00::1")
	upf6   = netip.MustParseAddr("fd00::2")
	ue4    = netip.MustParseAddr("10.60.0.1")
	ue6    = netip.MustParseAddr("fd60::1")
	app4   = netip.MustParseAddr("192.0.2.10")
	app6   = netip.MustParseAddr("2001:db8::10")
)

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ipOf(src, dst netip.Addr, p layers.IPProtocol) (gopacket.SerializableLayer, gopacket.NetworkLayer) {
	if src.Is4() {
		l := &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), TOS: 0x28}
		return l, l
	}
	l := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), TrafficClass: 0x28}
	return l, l
}

// inner builds a user packet of the given protocol.
func inner(t *testing.T, src, dst netip.Addr, p layers.IPProtocol) []byte {
	ip, nl := ipOf(src, dst, p)
	payload := gopacket.Payload("hello")
	switch p {
	case layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: 40000, DstPort: 8080}
		_ = u.SetNetworkLayerForChecksum(nl)
		return serialize(t, ip, u, payload)
	case layers.IPProtocolTCP:
		tc := &layers.TCP{SrcPort: 40001, DstPort: 443, SYN: true, Window: 1000}
		_ = tc.SetNetworkLayerForChecksum(nl)
		return serialize(t, ip, tc, payload)
	case layers.IPProtocolICMPv4:
		return serialize(t, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, payload)
	case layers.IPProtocolICMPv6:
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
		_ = ic.SetNetworkLayerForChecksum(nl)
		return serialize(t, ip, ic, payload)
	}
	t.Fatalf("protocol %v", p)
	return nil
}

// gtpExt is an extension header: its type and content (without length and next type).
type gtpExt struct {
	typ     byte
	content []byte
}

// gtpu builds a G-PDU header by hand: gopacket v1.1.19 serialises extension headers after
// the payload.
func gtpu(teid uint32, seq bool, exts []gtpExt, payloadLen int) []byte {
	flags := byte(0x30)
	if seq {
		flags |= 0x02
	}
	if len(exts) > 0 {
		flags |= 0x04
	}
	h := []byte{flags, 0xff, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[4:], teid)
	if seq || len(exts) > 0 {
		h = append(h, 0x12, 0x34, 0, 0)
		if len(exts) > 0 {
			h[11] = exts[0].typ
		}
	}
	for i, x := range exts {
		n := (len(x.content) + 2 + 3) / 4
		e := make([]byte, n*4)
		e[0] = byte(n)
		copy(e[1:], x.content)
		if i+1 < len(exts) {
			e[len(e)-1] = exts[i+1].typ
		}
		h = append(h, e...)
	}
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)-8+payloadLen))
	return h
}

func n3(t *testing.T, src, dst netip.Addr, g, in []byte) []byte {
	et := layers.EthernetTypeIPv4
	if src.Is6() {
		et = layers.EthernetTypeIPv6
	}
	ip, nl := ipOf(src, dst, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: 2152, DstPort: 2152}
	_ = u.SetNetworkLayerForChecksum(nl)
	return serialize(t, &layers.Ethernet{SrcMAC: gnbMAC, DstMAC: upfMAC, EthernetType: et}, ip, u, gopacket.Payload(append(append([]byte(nil), g...), in...)))
}

func port(v uint16) *uint16 { return &v }
func b8(v uint8) *uint8     { return &v }

func TestDecode(t *testing.T) {
	psc := gtpExt{typ: 0x85, content: []byte{1 << 4, 9}}
	udp4 := inner(t, ue4, app4, layers.IPProtocolUDP)
	outer4 := &Flow{Src: gnb4, Dst: upf4, Protocol: "UDP", SrcPort: port(2152), DstPort: port(2152), TOS: 0x28}
	tests := []struct {
		name  string
		pkt   []byte
		outer *Flow
		gtp   *GTP
		inner *Flow
		err   bool
	}{
		{name: "udp in ipv4 with psc", pkt: n3(t, gnb4, upf4, gtpu(0x100, false, []gtpExt{psc}, len(udp4)), udp4), outer: outer4,
			gtp:   &GTP{MessageType: 255, TEID: 0x100, QFI: b8(9), PDUType: b8(1), Extensions: []uint8{0x85}},
			inner: &Flow{Src: ue4, Dst: app4, Protocol: "UDP", SrcPort: port(40000), DstPort: port(8080), TOS: 0x28}},
		{name: "tcp in ipv6, two extension headers", pkt: func() []byte {
			in := inner(t, ue6, app6, layers.IPProtocolTCP)
			return n3(t, gnb6, upf6, gtpu(7, true, []gtpExt{{typ: 0x40, content: []byte{1, 2}}, psc}, len(in)), in)
		}(),
			outer: &Flow{Src: gnb6, Dst: upf6, Protocol: "UDP", SrcPort: port(2152), DstPort: port(2152), TOS: 0x28},
			gtp:   &GTP{MessageType: 255, TEID: 7, QFI: b8(9), PDUType: b8(1), Sequence: port(0x1234), Extensions: []uint8{0x40, 0x85}},
			inner: &Flow{Src: ue6, Dst: app6, Protocol: "TCP", SrcPort: port(40001), DstPort: port(443), TOS: 0x28}},
		{name: "icmp in ipv4, no extension header", pkt: func() []byte {
			in := inner(t, ue4, app4, layers.IPProtocolICMPv4)
			return n3(t, gnb4, upf4, gtpu(5, false, nil, len(in)), in)
		}(), outer: outer4,
			gtp:   &GTP{MessageType: 255, TEID: 5, Extensions: []uint8{}},
			inner: &Flow{Src: ue4, Dst: app4, Protocol: "ICMPv4", ICMPType: b8(8), ICMPCode: b8(0), TOS: 0x28}},
		{name: "icmpv6 in ipv4", pkt: func() []byte {
			in := inner(t, ue6, app6, layers.IPProtocolICMPv6)
			return n3(t, gnb4, upf4, gtpu(5, false, []gtpExt{psc}, len(in)), in)
		}(), outer: outer4,
			gtp:   &GTP{MessageType: 255, TEID: 5, QFI: b8(9), PDUType: b8(1), Extensions: []uint8{0x85}},
			inner: &Flow{Src: ue6, Dst: app6, Protocol: "ICMPv6", ICMPType: b8(128), ICMPCode: b8(0), TOS: 0x28}},
		{name: "app packet, no tunnel", pkt: func() []byte {
			ip, nl := ipOf(app4, ue4, layers.IPProtocolUDP)
			u := &layers.UDP{SrcPort: 40000, DstPort: 8080}
			_ = u.SetNetworkLayerForChecksum(nl)
			return serialize(t, &layers.Ethernet{SrcMAC: gnbMAC, DstMAC: upfMAC, EthernetType: layers.EthernetTypeIPv4}, ip, u, gopacket.Payload("hello"))
		}(),
			inner: &Flow{Src: app4, Dst: ue4, Protocol: "UDP", SrcPort: port(40000), DstPort: port(8080), TOS: 0x28}},
		{name: "truncated inside the inner header", pkt: n3(t, gnb4, upf4, gtpu(0x100, false, []gtpExt{psc}, len(udp4)), udp4)[:14+20+8+16+10], outer: outer4,
			gtp: &GTP{MessageType: 255, TEID: 0x100, QFI: b8(9), PDUType: b8(1), Extensions: []uint8{0x85}}, err: true},
		{name: "truncated after the inner ports", pkt: n3(t, gnb4, upf4, gtpu(0x100, false, []gtpExt{psc}, len(udp4)), udp4)[:14+20+8+16+28], outer: outer4,
			gtp:   &GTP{MessageType: 255, TEID: 0x100, QFI: b8(9), PDUType: b8(1), Extensions: []uint8{0x85}},
			inner: &Flow{Src: ue4, Dst: app4, Protocol: "UDP", SrcPort: port(40000), DstPort: port(8080), TOS: 0x28}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Decode(tt.pkt)
			assert.Equal(t, tt.outer, ev.Outer, "outer")
			assert.Equal(t, tt.gtp, ev.GTP, "gtp")
			assert.Equal(t, tt.inner, ev.Inner, "inner")
			if (ev.Error != "") != tt.err {
				t.Errorf("error %q; want an error: %v", ev.Error, tt.err)
			}
			if string(ev.Data) != string(tt.pkt) {
				t.Error("data is not the captured bytes")
			}
		})
	}
}

// FuzzDecode: any captured prefix decodes without panicking.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 60))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev := Decode(b)
		if len(ev.Data) != len(b) {
			t.Fatalf("data %d bytes; want %d", len(ev.Data), len(b))
		}
	})
}
