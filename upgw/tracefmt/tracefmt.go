// Package tracefmt prints the UPGW's packet-trace events (upgwapi.TraceEvent, from GET
// /upgw/v1/trace) for people and for Wireshark: one line per packet in the style of
// `cilium monitor`, and a pcap file of the captured bytes (google/gopacket's pcapgo).
package tracefmt

import (
	"fmt"
	"io"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/edgemec/edgemec/upgw/upgwapi"
)

// Line formats an event on one line: time, path, rule, TEID/QFI, the outer (tunnel) and
// inner 5-tuples and the length, for example
//
//	13:04:05.123456 ul_decap rule app1/tr1 teid 0x100 qfi 9: 10.0.0.1:2152 -> 10.0.0.2:2152 gtp-u | 10.60.0.1:40000 -> 192.0.2.10:8080 udp, length 250
func Line(ev upgwapi.TraceEvent) string {
	var b strings.Builder
	b.WriteString(ev.Time.Local().Format("15:04:05.000000"))
	b.WriteString(" " + ev.Path)
	if ev.TrafficRuleId != nil {
		fmt.Fprintf(&b, " rule %s/%s", deref(ev.AppInstanceId), *ev.TrafficRuleId)
	}
	if ev.Teid != nil {
		fmt.Fprintf(&b, " teid %#x", *ev.Teid)
	}
	if ev.Qfi != nil {
		fmt.Fprintf(&b, " qfi %d", *ev.Qfi)
	}
	b.WriteString(":")
	if ev.Outer != nil {
		b.WriteString(" " + flow(ev.Outer))
		if ev.Gtp != nil {
			b.WriteString(" gtp-u")
			if ev.Gtp.MessageType != 255 {
				fmt.Fprintf(&b, " type %d", ev.Gtp.MessageType)
			}
		}
		b.WriteString(" |")
	}
	switch {
	case ev.Inner != nil:
		b.WriteString(" " + flow(ev.Inner))
	case ev.Outer == nil:
		b.WriteString(" (no IP header)")
	}
	fmt.Fprintf(&b, ", length %d", ev.Length)
	if ev.Error != nil && ev.Inner == nil {
		fmt.Fprintf(&b, " [%s]", *ev.Error)
	}
	return b.String()
}

func flow(f *upgwapi.TraceFlow) string {
	p := strings.ToLower(f.Protocol)
	if f.SrcPort != nil && f.DstPort != nil {
		return fmt.Sprintf("%s -> %s %s", hostPort(f.Src, *f.SrcPort), hostPort(f.Dst, *f.DstPort), p)
	}
	s := fmt.Sprintf("%s -> %s %s", f.Src, f.Dst, p)
	if f.IcmpType != nil && f.IcmpCode != nil {
		s += fmt.Sprintf(" type %d code %d", *f.IcmpType, *f.IcmpCode)
	}
	return s
}

func hostPort(a string, port int) string {
	if strings.Contains(a, ":") {
		return fmt.Sprintf("[%s]:%d", a, port)
	}
	return fmt.Sprintf("%s:%d", a, port)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// PcapWriter writes events to a pcap file (Ethernet link type): each record holds the
// captured bytes, with the packet's original length, so Wireshark shows the prefix of the
// packet as it was.
type PcapWriter struct {
	w *pcapgo.Writer
}

// SnapLen is the snap length in the pcap file header: the most bytes an event carries.
const SnapLen = 256

// NewPcapWriter writes the pcap file header to w.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(SnapLen, layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("write pcap header: %w", err)
	}
	return &PcapWriter{w: pw}, nil
}

// Write appends one event.
func (p *PcapWriter) Write(ev upgwapi.TraceEvent) error {
	ci := gopacket.CaptureInfo{Timestamp: ev.Time, CaptureLength: len(ev.Data), Length: max(ev.Length, len(ev.Data)),
		InterfaceIndex: ev.Ifindex}
	if err := p.w.WritePacket(ci, ev.Data); err != nil {
		return fmt.Errorf("write pcap record: %w", err)
	}
	return nil
}
