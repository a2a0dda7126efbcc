package demo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// The N3 path demo.sh builds: gNB 10.0.0.1 and UPF 10.0.0.2 through the UPGW, the UE
// 10.60.0.5 in a tunnel with uplink TEID 0x100 and downlink TEID 0x1001, the apps' service
// address 192.0.2.10 in the app network's namespace.
var (
	gnbAddr    = netip.MustParseAddr("10.0.0.1")
	upfAddr    = netip.MustParseAddr("10.0.0.2")
	ueAddr     = netip.MustParseAddr("10.60.0.5")
	serviceIP  = netip.MustParseAddr("192.0.2.10")
	internetIP = netip.MustParseAddr("198.51.100.7")
)

const (
	gtpPort           = 2152
	ulTEID, dlTEID    = 0x100, 0x1001
	qfi               = 9
	ueTCPPort, svcTCP = 40001, 8080
)

// inNS runs fn on an OS thread switched into the named network namespace. Sockets fn creates
// stay in that namespace.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, err) // the thread stays locked and dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// gtpSocket is a UDP socket on port 2152 of an N3 end (gNB or UPF) in its namespace.
func gtpSocket(ns string, addr netip.Addr) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := inNS(ns, func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, gtpPort)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gtp-u socket in %s: %w", ns, err)
	}
	return c, nil
}

// rawSocket is an AF_PACKET socket receiving every frame of one interface of a namespace.
type rawSocket struct{ fd int }

func openRaw(ns, dev string) (*rawSocket, error) {
	var s rawSocket
	err := inNS(ns, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		s.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("packet socket on %s/%s: %w", ns, dev, err)
	}
	return &s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *rawSocket) close() { unix.Close(s.fd) }

// recv returns the IPv4 packet (without its Ethernet header) of the first incoming frame keep
// accepts, or nil after timeout.
func (s *rawSocket) recv(timeout time.Duration, keep func(ip []byte) bool) []byte {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 9000)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		_ = unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		n, from, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if n > 14 && buf[12] == 0x08 && buf[13] == 0 && keep(buf[14:n]) {
			return append([]byte(nil), buf[14:n]...)
		}
	}
}

// gpdu builds a GTPv1-U G-PDU with a sequence field and one PDU Session Container (pduType 0
// downlink, 1 uplink).
func gpdu(teid uint32, pduType byte, inner []byte) []byte {
	h := []byte{0x34, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x85, 1, pduType << 4, qfi, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)-8+len(inner)))
	binary.BigEndian.PutUint32(h[4:], teid)
	return append(h, inner...)
}

// parseGPDU returns a G-PDU's TEID and inner packet.
func parseGPDU(b []byte) (uint32, []byte, error) {
	if len(b) < 8 || b[0]>>5 != 1 || b[1] != 0xff {
		return 0, nil, errors.New("not a GTPv1-U G-PDU")
	}
	teid := binary.BigEndian.Uint32(b[4:])
	off := 8
	if b[0]&0x07 != 0 {
		if len(b) < 12 {
			return 0, nil, errors.New("short GTP-U header")
		}
		next := b[11]
		off = 12
		for next != 0 {
			if off >= len(b) || b[off] == 0 || off+int(b[off])*4 > len(b) {
				return 0, nil, errors.New("bad GTP-U extension header")
			}
			l := int(b[off]) * 4
			next = b[off+l-1]
			off += l
		}
	}
	return teid, b[off:], nil
}

// ipv4 builds an IPv4 packet around an L4 segment whose checksum is at csumOff (its
// pseudo-header checksum is filled in).
func ipv4(src, dst netip.Addr, proto byte, l4 []byte, csumOff int) []byte {
	p := make([]byte, 20+len(l4))
	p[0], p[8], p[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint16(p[10:], ^fold(sum(p[:20])))
	seg := p[20:]
	copy(seg, l4)
	ph := append(append(s[:], d[:]...), 0, proto, byte(len(seg)>>8), byte(len(seg)))
	cs := ^fold(sum(ph) + sum(seg))
	if cs == 0 && proto == unix.IPPROTO_UDP {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(seg[csumOff:], cs)
	return p
}

func udp4(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	u := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload)
	return ipv4(src, dst, unix.IPPROTO_UDP, u, 6)
}

// tcpSYN is a UE's TCP SYN (no options).
func tcpSYN(src, dst netip.Addr, sport, dport uint16, seq uint32) []byte {
	t := make([]byte, 20)
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], seq)
	t[12], t[13] = 5<<4, 0x02 // data offset 5 words; SYN
	binary.BigEndian.PutUint16(t[14:], 64240)
	return ipv4(src, dst, unix.IPPROTO_TCP, t, 16)
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

// packet is the decoded 5-tuple and TCP flags of an IPv4 packet.
type packet struct {
	Src, Dst         netip.Addr
	Proto            byte
	SrcPort, DstPort uint16
	TCPFlags         byte
}

func decode(p []byte) (packet, bool) {
	if len(p) < 20 || p[0]>>4 != 4 {
		return packet{}, false
	}
	ihl := int(p[0]&0x0f) * 4
	if len(p) < ihl+8 {
		return packet{}, false
	}
	k := packet{Proto: p[9]}
	k.Src, _ = netip.AddrFromSlice(p[12:16])
	k.Dst, _ = netip.AddrFromSlice(p[16:20])
	k.SrcPort = binary.BigEndian.Uint16(p[ihl:])
	k.DstPort = binary.BigEndian.Uint16(p[ihl+2:])
	if k.Proto == unix.IPPROTO_TCP && len(p) >= ihl+14 {
		k.TCPFlags = p[ihl+13]
	}
	return k, true
}

func (k packet) String() string {
	proto := map[byte]string{unix.IPPROTO_TCP: "TCP", unix.IPPROTO_UDP: "UDP"}[k.Proto]
	s := fmt.Sprintf("%s %s:%d → %s:%d", proto, k.Src, k.SrcPort, k.Dst, k.DstPort)
	if k.Proto == unix.IPPROTO_TCP {
		var f []string
		for bit, n := range map[byte]string{0x02: "SYN", 0x10: "ACK", 0x04: "RST", 0x01: "FIN"} {
			if k.TCPFlags&bit != 0 {
				f = append(f, n)
			}
		}
		if k.TCPFlags&0x12 == 0x12 {
			f = []string{"SYN-ACK"}
		}
		s += fmt.Sprintf(" %v", f)
	}
	return s
}

// BreakoutResult is what the N3 step saw.
type BreakoutResult struct {
	// AtApp is the UE's SYN as the app network received it: a plain IPv4 packet, no GTP-U.
	AtApp string
	// Decapsulated reports that AtApp is the inner packet the gNB sent, without its tunnel.
	Decapsulated bool
	// ReplyTEID and Reply are the G-PDU that came back to the gNB: the app's SYN-ACK in the
	// UE's downlink tunnel.
	ReplyTEID uint32
	Reply     string
	// UPFUntouched reports that the UE's packet to the internet reached the UPF byte for byte
	// as the gNB sent it.
	UPFUntouched bool
	// AfterTerminate reports that, once the app was gone, the same SYN reached the UPF.
	AfterTerminate bool
}

// n3 holds the ends of the N3 path.
type n3 struct {
	prefix   string
	gnb, upf *net.UDPConn
	app      *rawSocket
}

func openN3(prefix string) (*n3, error) {
	g, err := gtpSocket(prefix+"-gnb", gnbAddr)
	if err != nil {
		return nil, err
	}
	u, err := gtpSocket(prefix+"-upf", upfAddr)
	if err != nil {
		g.Close()
		return nil, err
	}
	a, err := openRaw(prefix+"-app", "a0")
	if err != nil {
		g.Close()
		u.Close()
		return nil, err
	}
	return &n3{prefix: prefix, gnb: g, upf: u, app: a}, nil
}

func (n *n3) close() {
	n.gnb.Close()
	n.upf.Close()
	n.app.close()
}

// learnDownlink sends a downlink G-PDU from the UPF to the gNB, from which the UPGW learns the
// UE's downlink tunnel.
func (n *n3) learnDownlink() error {
	inner := udp4(internetIP, ueAddr, 443, 40000, []byte("downlink"))
	if _, err := n.upf.WriteToUDPAddrPort(gpdu(dlTEID, 0, inner), netip.AddrPortFrom(gnbAddr, gtpPort)); err != nil {
		return err
	}
	_, _, err := n.readGTP(n.gnb, 2*time.Second, func(uint32, []byte) bool { return true })
	return err
}

// readGTP reads G-PDUs on c until keep accepts one.
func (n *n3) readGTP(c *net.UDPConn, timeout time.Duration, keep func(uint32, []byte) bool) (uint32, []byte, error) {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 9000)
	for {
		_ = c.SetReadDeadline(deadline)
		k, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return 0, nil, err
		}
		teid, inner, err := parseGPDU(buf[:k])
		if err == nil && keep(teid, inner) {
			return teid, append([]byte(nil), buf[:k]...), nil
		}
	}
}

// toUPF sends an uplink G-PDU and reports whether the UPF received it byte for byte.
func (n *n3) toUPF(inner []byte) (bool, error) {
	sent := gpdu(ulTEID, 1, inner)
	if _, err := n.gnb.WriteToUDPAddrPort(sent, netip.AddrPortFrom(upfAddr, gtpPort)); err != nil {
		return false, err
	}
	_, got, err := n.readGTP(n.upf, 2*time.Second, func(teid uint32, in []byte) bool { return teid == ulTEID })
	if err != nil {
		return false, fmt.Errorf("nothing reached the UPF: %w", err)
	}
	return bytes.Equal(got, sent), nil
}

// breakout sends the UE's SYN to the service address and returns what the app network
// received and what came back to the gNB.
func (n *n3) breakout(r *BreakoutResult) error {
	syn := tcpSYN(ueAddr, serviceIP, ueTCPPort, svcTCP, 0x1000)
	if _, err := n.gnb.WriteToUDPAddrPort(gpdu(ulTEID, 1, syn), netip.AddrPortFrom(upfAddr, gtpPort)); err != nil {
		return err
	}
	at := n.app.recv(3*time.Second, func(ip []byte) bool {
		k, ok := decode(ip)
		return ok && k.Proto == unix.IPPROTO_TCP && k.Dst == serviceIP && k.DstPort == svcTCP
	})
	if at == nil {
		return errors.New("the UE's SYN did not reach the app network")
	}
	k, _ := decode(at)
	r.AtApp = k.String()
	r.Decapsulated = sameIgnoringTTL(at, syn)
	teid, reply, err := n.readGTP(n.gnb, 5*time.Second, func(_ uint32, in []byte) bool {
		k, ok := decode(in)
		return ok && k.Proto == unix.IPPROTO_TCP && k.Src == serviceIP && k.Dst == ueAddr && k.DstPort == ueTCPPort
	})
	if err != nil {
		return fmt.Errorf("no reply came back to the gNB in the UE's tunnel: %w", err)
	}
	_, inner, _ := parseGPDU(reply)
	k, _ = decode(inner)
	r.ReplyTEID, r.Reply = teid, k.String()
	return nil
}

// sameIgnoringTTL compares two IPv4 packets except for the TTL and the header checksum, which
// a hop may change.
func sameIgnoringTTL(a, b []byte) bool {
	if len(a) != len(b) || len(a) < 20 {
		return false
	}
	return bytes.Equal(a[:8], b[:8]) && a[9] == b[9] && bytes.Equal(a[12:], b[12:])
}
