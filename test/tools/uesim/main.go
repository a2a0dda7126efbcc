// Command uesim plays the ends of a 5G N3 path for the demo, with ordinary UDP sockets:
//
//	uesim dl   -gnb 10.0.0.1 -teid 0x1001 -qfi 9 -ue 10.60.0.5       (run on the UPF side)
//	uesim ul   -upf 10.0.0.2 -teid 0x100 -qfi 9 -ue 10.60.0.5 -dst 192.0.2.10:8080 -msg hi
//	                                                                  (run on the gNB side)
//	uesim echo -listen :8080                                          (run as the local app)
//
// dl sends a downlink G-PDU (PDU Session Container, QFI) toward the gNB, from which a UPGW
// learns the UE's tunnel. ul sends a UE's UDP datagram as an uplink G-PDU toward the UPF and
// waits for the answer on GTP-U port 2152, printing its TEID, QFI and inner packet. echo
// answers every datagram with "reply:" + its payload. GTP-U headers are built by hand.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: uesim dl|ul|echo [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "dl", "ul":
		err = tunnel(os.Args[1], os.Args[2:])
	case "echo":
		err = echo(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "uesim:", err)
		os.Exit(1)
	}
}

const gtpPort = 2152

func tunnel(mode string, args []string) error {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	peer := fs.String("upf", "10.0.0.2", "UPF N3 address (ul)")
	gnb := fs.String("gnb", "10.0.0.1", "gNB N3 address (dl)")
	teidS := fs.String("teid", "0x100", "TEID")
	qfi := fs.Uint("qfi", 9, "QoS flow id")
	ue := fs.String("ue", "10.60.0.5", "UE address")
	dst := fs.String("dst", "192.0.2.10:8080", "destination of the UE's datagram (ul)")
	msg := fs.String("msg", "hello from the UE", "payload")
	wait := fs.Duration("wait", 3*time.Second, "how long ul waits for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	teid, err := strconv.ParseUint(*teidS, 0, 32)
	if err != nil {
		return fmt.Errorf("teid: %w", err)
	}
	ueAddr, err := netip.ParseAddr(*ue)
	if err != nil {
		return err
	}
	var inner []byte
	to := *peer
	if mode == "dl" {
		to = *gnb
		inner = udp4(netip.MustParseAddr("198.51.100.1"), ueAddr, 443, 40000, []byte("downlink"))
	} else {
		d, err := netip.ParseAddrPort(*dst)
		if err != nil {
			return err
		}
		inner = udp4(ueAddr, d.Addr(), 40000, d.Port(), []byte(*msg))
	}
	pduType := byte(1) // UL PDU SESSION INFORMATION
	if mode == "dl" {
		pduType = 0
	}
	pkt := gpdu(uint32(teid), pduType, byte(*qfi), inner)
	// ul listens on 2152 for the answer, so it sends from there too (as a gNB does).
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{Port: gtpPort})
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.WriteToUDP(pkt, &net.UDPAddr{IP: net.ParseIP(to), Port: gtpPort}); err != nil {
		return err
	}
	fmt.Printf("sent %s G-PDU TEID 0x%x QFI %d: %s\n", mode, teid, *qfi, describe(inner))
	if mode == "dl" {
		return nil
	}
	_ = conn.SetReadDeadline(time.Now().Add(*wait))
	buf := make([]byte, 2048)
	n, from, err := conn.ReadFromUDP(buf)
	if err != nil {
		return fmt.Errorf("no answer on GTP-U port %d: %w", gtpPort, err)
	}
	t, q, in, err := parse(buf[:n])
	if err != nil {
		return err
	}
	fmt.Printf("answer from %s: G-PDU TEID 0x%x QFI %d: %s\n", from.IP, t, q, describe(in))
	return nil
}

// gpdu builds a GTPv1-U G-PDU with a sequence field and one PDU Session Container.
func gpdu(teid uint32, pduType, qfi byte, inner []byte) []byte {
	h := []byte{0x34, 0xff, 0, 0, 0, 0, 0, 0, // version 1, PT, E; G-PDU; length; TEID
		0, 0, 0, 0x85, // sequence, N-PDU, next extension: PDU Session Container
		1, pduType << 4, qfi & 0x3f, 0} // length 4 octets, type, QFI, no next extension
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)-8+len(inner)))
	binary.BigEndian.PutUint32(h[4:], teid)
	return append(h, inner...)
}

func parse(b []byte) (teid uint32, qfi byte, inner []byte, err error) {
	if len(b) < 8 || b[0]>>5 != 1 || b[1] != 0xff {
		return 0, 0, nil, errors.New("not a GTPv1-U G-PDU")
	}
	teid = binary.BigEndian.Uint32(b[4:])
	off := 8
	if b[0]&0x07 != 0 {
		if len(b) < 12 {
			return 0, 0, nil, errors.New("short GTP-U header")
		}
		next := b[11]
		off = 12
		for next != 0 {
			if off >= len(b) || int(b[off])*4 == 0 || off+int(b[off])*4 > len(b) {
				return 0, 0, nil, errors.New("bad GTP-U extension header")
			}
			l := int(b[off]) * 4
			if next == 0x85 {
				qfi = b[off+2] & 0x3f
			}
			next = b[off+l-1]
			off += l
		}
	}
	return teid, qfi, b[off:], nil
}

func udp4(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0], p[8], p[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint16(p[10:], ^fold(sum(p[:20])))
	u := p[20:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload)
	ph := append(append(s[:], d[:]...), 0, 17, byte(len(u)>>8), byte(len(u)))
	cs := ^fold(sum(ph) + sum(u))
	if cs == 0 {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], cs)
	return p
}

func sum(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func describe(p []byte) string {
	if len(p) < 28 || p[0]>>4 != 4 || p[9] != 17 {
		return fmt.Sprintf("%d bytes (not IPv4/UDP)", len(p))
	}
	src, _ := netip.AddrFromSlice(p[12:16])
	dst, _ := netip.AddrFromSlice(p[16:20])
	ihl := int(p[0]&0x0f) * 4
	u := p[ihl:]
	return fmt.Sprintf("%s:%d → %s:%d %q", src, binary.BigEndian.Uint16(u), dst, binary.BigEndian.Uint16(u[2:]), u[8:])
}

func echo(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "UDP listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	addr, err := net.ResolveUDPAddr("udp4", *listen)
	if err != nil {
		return err
	}
	conn, err := net.ListenUDP("udp4", addr)
	if err != nil {
		return err
	}
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return err
		}
		fmt.Printf("app received %q from %s\n", buf[:n], from)
		if _, err := conn.WriteToUDP(append([]byte("reply:"), buf[:n]...), from); err != nil {
			return err
		}
	}
}
