package dataplane

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Test packets are built with gopacket for Ethernet/IP/UDP and by hand for GTP-U:
// gopacket v1.1.19 serialises GTP-U extension headers after the payload (#1175).

var (
	gnbMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	upfMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	appMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa1}
	gwMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa0}
	epMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xe1}

	gnb4 = netip.MustParseAddr("10.0.0.1")
	upf4 = netip.MustParseAddr("10.0.0.2")
	gnb6 = netip.MustParseAddr("fd00::1")
	upf6 = netip.MustParseAddr("fd00::2")
	ue4  = netip.MustParseAddr("10.60.0.1")
	ue6  = netip.MustParseAddr("fd60::1")
	app4 = netip.MustParseAddr("192.0.2.10")
	app6 = netip.MustParseAddr("2001:db8::10")
)

// gtpExt is one GTP-U extension header: its type (as announced by the previous header) and
// content (without the length byte and the next-type byte).
type gtpExt struct {
	typ     byte
	content []byte
}

// psc returns a PDU Session Container with the given PDU type (0 DL, 1 UL) and QFI.
func psc(pduType, qfi byte) gtpExt {
	return gtpExt{typ: 0x85, content: []byte{pduType << 4, qfi}}
}

// gtpSpec describes a GTP-U header.
type gtpSpec struct {
	msgType byte // 0 means G-PDU (255)
	teid    uint32
	seq     bool // S flag with a sequence number
	exts    []gtpExt
	badLen  int // added to the length field
}

// gtpHeader builds a GTP-U header for a payload of payloadLen bytes.
func gtpHeader(s gtpSpec, payloadLen int) []byte {
	mt := s.msgType
	if mt == 0 {
		mt = 255
	}
	flags := byte(0x30)
	if s.seq {
		flags |= 0x02
	}
	if len(s.exts) > 0 {
		flags |= 0x04
	}
	h := []byte{flags, mt, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[4:], s.teid)
	if flags&0x07 != 0 {
		next := byte(0)
		if len(s.exts) > 0 {
			next = s.exts[0].typ
		}
		h = append(h, 0, 7, 0, next) // sequence 7, N-PDU 0, next extension type
		for i, e := range s.exts {
			n := len(e.content) + 2
			if n%4 != 0 {
				panic("extension length must be a multiple of 4")
			}
			nt := byte(0)
			if i+1 < len(s.exts) {
				nt = s.exts[i+1].typ
			}
			h = append(h, byte(n/4))
			h = append(h, e.content...)
			h = append(h, nt)
		}
	}
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)-8+payloadLen+s.badLen))
	return h
}

// innerSpec describes the UE packet inside the tunnel.
type innerSpec struct {
	src, dst   netip.Addr
	proto      layers.IPProtocol // UDP by default
	sport      uint16
	dport      uint16
	tos        uint8
	payloadLen int
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ipLayer(src, dst netip.Addr, proto layers.IPProtocol, tos uint8) (gopacket.SerializableLayer, gopacket.NetworkLayer) {
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, TOS: tos, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		return ip, ip
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, TrafficClass: tos, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	return ip, ip
}

// innerPacket builds the UE's IP packet (no Ethernet header).
func innerPacket(t testing.TB, s innerSpec) []byte {
	t.Helper()
	proto := s.proto
	if proto == 0 {
		proto = layers.IPProtocolUDP
	}
	ip, nl := ipLayer(s.src, s.dst, proto, s.tos)
	payload := gopacket.Payload(make([]byte, s.payloadLen))
	for i := range payload {
		payload[i] = byte(i)
	}
	switch proto {
	case layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		_ = u.SetNetworkLayerForChecksum(nl)
		return serialize(t, ip, u, payload)
	case layers.IPProtocolTCP:
		tc := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), SYN: true, Window: 1000}
		_ = tc.SetNetworkLayerForChecksum(nl)
		return serialize(t, ip, tc, payload)
	default:
		return serialize(t, ip, payload)
	}
}

// n3Spec describes a whole N3 frame.
type n3Spec struct {
	src, dst   netip.Addr // outer
	smac, dmac net.HardwareAddr
	sport      uint16 // outer UDP source port (default 2152)
	vlan       uint16
	gtp        gtpSpec
	inner      []byte
	fragment   bool
	udpCsum    bool // compute the outer UDP checksum (always on for IPv6)
}

// n3Frame builds an Ethernet frame carrying a GTP-U packet.
func n3Frame(t testing.TB, s n3Spec) []byte {
	t.Helper()
	sport := s.sport
	if sport == 0 {
		sport = 2152
	}
	payload := append(gtpHeader(s.gtp, len(s.inner)), s.inner...)
	eth := &layers.Ethernet{SrcMAC: s.smac, DstMAC: s.dmac, EthernetType: layers.EthernetTypeIPv4}
	if s.src.Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
	}
	var ls []gopacket.SerializableLayer
	if s.vlan != 0 {
		ls = append(ls, &layers.Ethernet{SrcMAC: s.smac, DstMAC: s.dmac, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: s.vlan, Type: eth.EthernetType})
	} else {
		ls = append(ls, eth)
	}
	ip, nl := ipLayer(s.src, s.dst, layers.IPProtocolUDP, 0)
	if v4, ok := ip.(*layers.IPv4); ok && s.fragment {
		v4.Flags = layers.IPv4MoreFragments
	}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 2152}
	_ = u.SetNetworkLayerForChecksum(nl)
	ls = append(ls, ip, u, gopacket.Payload(payload))
	out := serialize(t, ls...)
	if !s.udpCsum && s.src.Is4() {
		// Zero checksum ("none", RFC 768), as most GTP-U senders do over IPv4.
		off := len(out) - len(payload) - 2
		out[off], out[off+1] = 0, 0
	}
	return out
}

// ulFrame is the common case: an uplink G-PDU from the gNB with a UL PSC.
func ulFrame(t testing.TB, outer4 bool, inner []byte, teid uint32, qfi byte) []byte {
	t.Helper()
	s := n3Spec{smac: gnbMAC, dmac: upfMAC, src: gnb4, dst: upf4, inner: inner,
		gtp: gtpSpec{teid: teid, exts: []gtpExt{psc(1, qfi)}}}
	if !outer4 {
		s.src, s.dst = gnb6, upf6
	}
	return n3Frame(t, s)
}

// checkIPv4Csum verifies an IPv4 header checksum.
func checksumOK(b []byte) bool {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return s == 0xffff
}

// udpChecksumOK verifies the UDP checksum of a UDP datagram (header+payload) between src
// and dst; a zero checksum over IPv4 means "none" and passes.
func udpChecksumOK(src, dst netip.Addr, udp []byte) bool {
	if src.Is4() && binary.BigEndian.Uint16(udp[6:]) == 0 {
		return true
	}
	var ph []byte
	ph = append(ph, src.AsSlice()...)
	ph = append(ph, dst.AsSlice()...)
	if src.Is4() {
		ph = append(ph, 0, 17, byte(len(udp)>>8), byte(len(udp)))
	} else {
		ph = append(ph, 0, 0, byte(len(udp)>>8), byte(len(udp)), 0, 0, 0, 17)
	}
	return checksumOK(append(ph, udp...))
}
