package trace

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Event is one traced packet, decoded.
type Event struct {
	Time          time.Time
	Path          string // dataplane.Stat name
	Program       string // ProgramUplink, ProgramDownlink or ProgramApp
	Ifindex       int
	AppInstanceID string // of the rule that matched ("" when none did)
	TrafficRuleID string
	TEID          *uint32 // of the G-PDU, or of the tunnel an app reply goes into
	QFI           *uint8
	Length        int    // on the wire
	Data          []byte // the captured prefix, from the Ethernet header on
	Outer         *Flow  // the N3 tunnel's IP header (G-PDUs only)
	GTP           *GTP
	Inner         *Flow  // the user packet's IP header, or a packet's only one
	Error         string // what could not be decoded from the captured bytes
}

// Flow is an IP header and its transport ports.
type Flow struct {
	Src, Dst           netip.Addr
	Protocol           string
	SrcPort, DstPort   *uint16
	ICMPType, ICMPCode *uint8
	TOS                uint8
}

// GTP is a GTP-U header.
type GTP struct {
	MessageType uint8
	TEID        uint32
	Sequence    *uint16
	QFI         *uint8 // from the PDU Session Container
	PDUType     *uint8 // PDU Session Container type: 0 downlink, 1 uplink
	Extensions  []uint8
}

// gtpExtPSC is the PDU Session Container's extension header type (TS 29.281).
const gtpExtPSC = 0x85

// Decode decodes a captured prefix with gopacket: Ethernet (and VLAN tags), the outer
// IPv4 or IPv6 header, UDP and GTP-U with its extension headers (gopacket decodes them
// correctly; only its serialiser is wrong, google/gopacket#1175), then the inner IPv4 or
// IPv6 header and UDP, TCP, SCTP or ICMP. Whatever a truncated prefix cuts off is left out;
// Error says what failed to decode.
func Decode(data []byte) Event {
	ev := Event{Data: append([]byte(nil), data...)}
	p := gopacket.NewPacket(ev.Data, layers.LayerTypeEthernet, gopacket.Default)
	if fixed := untruncateGTP(p, ev.Data); fixed != nil {
		p = gopacket.NewPacket(fixed, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	}
	var cur *Flow // the flow the next transport header belongs to
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			cur = &Flow{Src: addr(l.SrcIP), Dst: addr(l.DstIP), Protocol: proto(l.Protocol), TOS: l.TOS}
			ev.place(cur)
		case *layers.IPv6:
			cur = &Flow{Src: addr(l.SrcIP), Dst: addr(l.DstIP), Protocol: proto(l.NextHeader), TOS: l.TrafficClass}
			ev.place(cur)
		case *layers.IPv6Fragment:
			if cur != nil {
				cur.Protocol = proto(l.NextHeader)
			}
		case *layers.IPv6HopByHop:
			if cur != nil {
				cur.Protocol = proto(l.NextHeader)
			}
		case *layers.IPv6Routing:
			if cur != nil {
				cur.Protocol = proto(l.NextHeader)
			}
		case *layers.IPv6Destination:
			if cur != nil {
				cur.Protocol = proto(l.NextHeader)
			}
		case *layers.UDP:
			if cur != nil {
				cur.SrcPort, cur.DstPort = u16(uint16(l.SrcPort)), u16(uint16(l.DstPort))
			}
		case *layers.TCP:
			if cur != nil {
				cur.SrcPort, cur.DstPort = u16(uint16(l.SrcPort)), u16(uint16(l.DstPort))
			}
		case *layers.SCTP:
			if cur != nil {
				cur.SrcPort, cur.DstPort = u16(uint16(l.SrcPort)), u16(uint16(l.DstPort))
			}
		case *layers.ICMPv4:
			if cur != nil {
				cur.ICMPType, cur.ICMPCode = u8(l.TypeCode.Type()), u8(l.TypeCode.Code())
			}
		case *layers.ICMPv6:
			if cur != nil {
				cur.ICMPType, cur.ICMPCode = u8(l.TypeCode.Type()), u8(l.TypeCode.Code())
			}
		case *layers.GTPv1U:
			g := &GTP{MessageType: l.MessageType, TEID: l.TEID, Extensions: []uint8{}}
			if l.SequenceNumberFlag {
				g.Sequence = u16(l.SequenceNumber)
			}
			for _, x := range l.GTPExtensionHeaders {
				g.Extensions = append(g.Extensions, x.Type)
				if x.Type == gtpExtPSC && len(x.Content) >= 2 {
					g.PDUType, g.QFI = u8(x.Content[0]>>4), u8(x.Content[1]&0x3f)
				}
			}
			ev.GTP = g
			// What follows is the user packet: the flow decoded so far was the tunnel's.
			ev.Outer, ev.Inner, cur = ev.Inner, nil, nil
		}
	}
	if el := p.ErrorLayer(); el != nil {
		ev.Error = el.Error().Error()
	}
	return ev
}

// untruncateGTP returns a copy of data for gopacket to decode when a G-PDU's captured
// prefix ends before its GTP-U length field says: gopacket's GTP-U decoder refuses such a
// header, which is the usual case for a trace's prefix. The copy's length field says what
// was captured. It returns nil when p needs no second decoding.
func untruncateGTP(p gopacket.Packet, data []byte) []byte {
	if p.Layer(layers.LayerTypeGTPv1U) != nil {
		return nil
	}
	u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if !ok || (u.DstPort != gtpuPort && u.SrcPort != gtpuPort) || len(u.Payload) < 8 {
		return nil
	}
	have := len(u.Payload) - 8
	if int(binary.BigEndian.Uint16(u.Payload[2:4])) <= have {
		return nil
	}
	// A truncated UDP payload runs to the end of the captured bytes.
	off := len(data) - len(u.Payload)
	fixed := append([]byte(nil), data...)
	binary.BigEndian.PutUint16(fixed[off+2:], uint16(have))
	return fixed
}

// gtpuPort is the GTP-U UDP port (TS 29.281).
const gtpuPort = 2152

// place records a decoded IP header as the packet's inner flow. Tunnel headers move to Outer
// once the GTP-U header shows that they were the tunnel's; an ICMP error's quoted header
// (a second IP header without GTP-U in between) is not a new flow.
func (ev *Event) place(f *Flow) {
	// gopacket keeps the layer of a header it failed to decode, with no addresses.
	if ev.Inner == nil && f.Src.IsValid() {
		ev.Inner = f
	}
}

func addr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func proto(p layers.IPProtocol) string {
	switch p {
	case layers.IPProtocolUDP:
		return "UDP"
	case layers.IPProtocolTCP:
		return "TCP"
	case layers.IPProtocolICMPv4:
		return "ICMPv4"
	case layers.IPProtocolICMPv6:
		return "ICMPv6"
	case layers.IPProtocolSCTP:
		return "SCTP"
	}
	return strconv.Itoa(int(p))
}

func u16(v uint16) *uint16 { return &v }
func u8(v uint8) *uint8    { return &v }
