//go:build e2e

// Package upgwe2e runs the UPGW binary in a gNB / UPGW / UPF / app topology of network
// namespaces and checks real traffic: breakout to the app, the re-encapsulated return path,
// byte-identical pass-through and a rule-set swap under continuous traffic.
package upgwe2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

var (
	gnbIP  = netip.MustParseAddr("10.0.0.1")
	upfIP  = netip.MustParseAddr("10.0.0.2")
	ueIP   = netip.MustParseAddr("10.60.0.1")
	appIP  = netip.MustParseAddr("192.0.2.10")
	farIP  = netip.MustParseAddr("198.51.100.7")
	ulTEID = uint32(0x100)
)

// gtpu builds a G-PDU header (or another message type) with one PDU Session Container.
// GTP-U is built by hand: gopacket v1.1.19 writes extension headers after the payload.
func gtpu(msgType byte, teid uint32, pduType, qfi byte, payloadLen int) []byte {
	h := []byte{0x34, msgType, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x85, 1, pduType << 4, qfi, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(8+payloadLen))
	binary.BigEndian.PutUint32(h[4:], teid)
	return h
}

func udpPacket(t *testing.T, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	t.Helper()
	ipl := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	_ = u.SetNetworkLayerForChecksum(ipl)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ipl, u, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// n3 wraps an inner packet (or a GTP message without payload) into an N3 frame.
func n3(t *testing.T, smac, dmac net.HardwareAddr, src, dst netip.Addr, gtp, inner []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv4}
	ipl := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	u := &layers.UDP{SrcPort: 2152, DstPort: 2152}
	_ = u.SetNetworkLayerForChecksum(ipl)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ipl, u, gopacket.Payload(append(append([]byte(nil), gtp...), inner...))); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func (tp *topo) ul(t *testing.T, dst netip.Addr, dport uint16, payload []byte) []byte {
	inner := udpPacket(t, ueIP, dst, 40000, dport, payload)
	return n3(t, tp.gnbMAC, tp.upfMAC, gnbIP, upfIP, gtpu(0xff, ulTEID, 1, 9, len(inner)), inner)
}

func (tp *topo) dl(t *testing.T, teid uint32, qfi byte, payload []byte) []byte {
	inner := udpPacket(t, farIP, ueIP, 443, 40000, payload)
	return n3(t, tp.upfMAC, tp.gnbMAC, upfIP, gnbIP, gtpu(0xff, teid, 0, qfi, len(inner)), inner)
}

func ruleJSON(id string, prio int, action, filter string) upgwapi.AppTrafficRule {
	js := fmt.Sprintf(`{"trafficRuleId":%q,"filterType":"FLOW","priority":%d,"action":%q,"state":"ACTIVE",
		"dstInterface":{"interfaceType":"IP","dstIpAddress":"192.0.2.10"},"trafficFilter":[%s]}`, id, prio, action, filter)
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		panic(err)
	}
	return upgwapi.AppTrafficRule{AppInstanceId: "app1", TrafficRule: m}
}

func (tp *topo) putRules(t *testing.T, version int64, rs ...upgwapi.AppTrafficRule) {
	t.Helper()
	r, err := tp.api.PutRuleSetWithResponse(t.Context(), upgwapi.RuleSnapshot{Version: version, Rules: rs})
	if err != nil {
		t.Fatal(err)
	}
	if r.JSON200 == nil {
		t.Fatalf("PUT ruleset %d: %d %s", version, r.StatusCode(), r.Body)
	}
	if len(r.JSON200.Rejected) != 0 {
		t.Fatalf("rules rejected: %+v", r.JSON200.Rejected)
	}
}

// appServer is a UDP echo in the app namespace that records what it received.
type appServer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  []string
}

func startApp(t *testing.T, tp *topo, reply bool) *appServer {
	t.Helper()
	var conn *net.UDPConn
	if err := inNS(tp.app, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: appIP.AsSlice(), Port: 8080})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadBuffer(8 << 20)
	s := &appServer{conn: conn}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			s.mu.Lock()
			s.got = append(s.got, msg)
			s.mu.Unlock()
			if reply {
				_, _ = conn.WriteToUDPAddrPort([]byte("reply:"+msg), from)
			}
		}
	}()
	return s
}

func (s *appServer) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBreakout(t *testing.T) {
	testutil.RequireRoot(t)
	for _, mode := range []string{"native", "generic"} {
		t.Run(mode, func(t *testing.T) { testBreakout(t, mode) })
	}
}

func testBreakout(t *testing.T, mode string) {
	tp := newTopo(t, mode)
	gnbSock := openRaw(t, tp.gnb, "g0")
	upfSock := openRaw(t, tp.upf, "u0")
	app := startApp(t, tp, true)
	tp.putRules(t, 1, ruleJSON("tr1", 1, "FORWARD_DECAPSULATED", `{"dstAddress":["192.0.2.10"],"dstPort":["8080"],"protocol":["UDP"]}`))

	// 1. Downlink G-PDU from the UPF reaches the gNB untouched; the UPGW learns the tunnel.
	dl := tp.dl(t, 0xd1, 9, []byte("downlink"))
	upfSock.send(t, dl)
	got := gnbSock.recv(5*time.Second, isGTPU)
	if !equalFrames(got, dl) {
		t.Fatalf("downlink at the gNB:\n got %x\nwant %x", got, dl)
	}
	waitUntil(t, "learned session", func() bool {
		r, err := tp.api.ListSessionsWithResponse(t.Context())
		return err == nil && r.JSON200 != nil && len(*r.JSON200) == 1 && (*r.JSON200)[0].Teid == 0xd1
	})

	// 2. Matching uplink reaches the app decapsulated; the reply reaches the gNB encapsulated
	//    with the learned TEID and QFI, as if it came from the UPF.
	gnbSock.send(t, tp.ul(t, appIP, 8080, []byte("hello-1")))
	waitUntil(t, "app to receive hello-1", func() bool { return strings.Join(app.received(), ",") == "hello-1" })
	checkReply(t, tp, gnbSock, 0xd1, 9, "reply:hello-1")

	// 3. Handover: a new DL TEID replaces the old one for the next replies.
	dl2 := tp.dl(t, 0xd2, 5, []byte("after handover"))
	upfSock.send(t, dl2)
	if got := gnbSock.recv(5*time.Second, isGTPU); !equalFrames(got, dl2) {
		t.Fatalf("downlink after handover changed")
	}
	waitUntil(t, "handover learned", func() bool {
		r, err := tp.api.ListSessionsWithResponse(t.Context())
		return err == nil && r.JSON200 != nil && len(*r.JSON200) == 1 && (*r.JSON200)[0].Teid == 0xd2 && (*r.JSON200)[0].Learned == 2
	})
	gnbSock.send(t, tp.ul(t, appIP, 8080, []byte("hello-2")))
	checkReply(t, tp, gnbSock, 0xd2, 5, "reply:hello-2")

	// 4. Everything else reaches the UPF byte-identical.
	echo := n3(t, tp.gnbMAC, tp.upfMAC, gnbIP, upfIP, []byte{0x32, 1, 0, 4, 0, 0, 0, 0, 0, 9, 0, 0}, nil)
	for name, f := range map[string][]byte{
		"other destination": tp.ul(t, farIP, 8080, []byte("to the internet")),
		"other port":        tp.ul(t, appIP, 9090, []byte("not the app's port")),
		"echo request":      echo,
	} {
		gnbSock.send(t, f)
		got := upfSock.recv(5*time.Second, isGTPU)
		if !equalFrames(got, f) {
			t.Errorf("%s at the UPF:\n got %x\nwant %x", name, got, f)
		}
	}
	if got := app.received(); len(got) != 2 {
		t.Errorf("app received %v; want only hello-1 and hello-2", got)
	}

	// 5. Counters: the rule matched twice; the paths add up.
	rc, err := tp.api.GetRuleCountersWithResponse(t.Context())
	if err != nil || rc.JSON200 == nil || len(*rc.JSON200) != 1 || (*rc.JSON200)[0].Packets != 2 {
		t.Errorf("rule counters %+v, %v; want tr1 with 2 packets", rc.JSON200, err)
	}
	pc, err := tp.api.GetPathCountersWithResponse(t.Context())
	if err != nil || pc.JSON200 == nil {
		t.Fatalf("path counters: %v", err)
	}
	paths := map[string]int64{}
	for _, p := range *pc.JSON200 {
		paths[p.Path] = p.Packets
	}
	// dl_slow 0: the replies found their sessions in the session cache.
	for path, want := range map[string]int64{"ul_decap": 2, "dl_encap": 2, "dl_learn": 2, "ul_pass": 2, "gtp_other": 1, "dl_slow": 0} {
		if got, ok := paths[path]; !ok || got != want {
			t.Errorf("path %s: %d packets (listed: %v); want %d (all: %v)", path, got, ok, want, paths)
		}
	}
	// The same figures on /metrics. The sessions are counted in the background (every 2 s).
	var body []byte
	waitUntil(t, "upgw_sessions 1 on /metrics", func() bool {
		resp, err := tp.http.Get(tp.apiBase + "/metrics")
		if err != nil {
			return false
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(body), "upgw_sessions 1\n")
	})
	for _, want := range []string{`upgw_path_packets_total{path="ul_decap"} 2`, `upgw_rule_packets_total{app_instance_id="app1",traffic_rule_id="tr1"} 2`,
		"upgw_ruleset_version 1", "upgw_sessions 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// checkReply waits for the app's reply at the gNB and checks every header.
func checkReply(t *testing.T, tp *topo, gnbSock *rawSock, teid uint32, qfi byte, payload string) {
	t.Helper()
	f := gnbSock.recv(5*time.Second, isGTPU)
	if f == nil {
		t.Fatalf("no reply %q at the gNB", payload)
	}
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	outer, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if eth == nil || outer == nil {
		t.Fatalf("reply is not Ethernet/IPv4: %x", f)
	}
	if eth.SrcMAC.String() != tp.upfMAC.String() || eth.DstMAC.String() != tp.gnbMAC.String() {
		t.Errorf("reply MACs %s -> %s; want UPF %s -> gNB %s", eth.SrcMAC, eth.DstMAC, tp.upfMAC, tp.gnbMAC)
	}
	if outer.SrcIP.String() != upfIP.String() || outer.DstIP.String() != gnbIP.String() {
		t.Errorf("outer %s -> %s; want %s -> %s", outer.SrcIP, outer.DstIP, upfIP, gnbIP)
	}
	if !ipv4ChecksumOK(f[14 : 14+20]) {
		t.Errorf("outer IPv4 checksum invalid")
	}
	g := f[14+20+8:]
	want := []byte{0x34, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x85, 1, 0, qfi, 0}
	binary.BigEndian.PutUint16(want[2:], uint16(len(g)-8))
	binary.BigEndian.PutUint32(want[4:], teid)
	if !equalFrames(g[:16], want) {
		t.Errorf("GTP-U header %x; want %x", g[:16], want)
	}
	inner := gopacket.NewPacket(g[16:], layers.LayerTypeIPv4, gopacket.Default)
	iip, _ := inner.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	iudp, _ := inner.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if iip == nil || iudp == nil {
		t.Fatalf("inner is not IPv4/UDP: %x", g[16:])
	}
	if iip.SrcIP.String() != appIP.String() || iip.DstIP.String() != ueIP.String() || iudp.SrcPort != 8080 || iudp.DstPort != 40000 {
		t.Errorf("inner %s:%d -> %s:%d; want app -> UE", iip.SrcIP, iudp.SrcPort, iip.DstIP, iudp.DstPort)
	}
	if string(iudp.Payload) != payload {
		t.Errorf("inner payload %q; want %q", iudp.Payload, payload)
	}
	// The app's socket left a partial checksum; the UPGW's TC path must have completed it.
	if !udpChecksumOK(iip, g[16+int(iip.IHL)*4:]) {
		t.Errorf("inner UDP checksum %#x invalid", iudp.Checksum)
	}
}

func ipv4ChecksumOK(h []byte) bool { return fold(sum(h)) == 0xffff }

func udpChecksumOK(ip *layers.IPv4, udp []byte) bool {
	ph := append(append([]byte(nil), ip.SrcIP.To4()...), ip.DstIP.To4()...)
	ph = append(ph, 0, 17, byte(len(udp)>>8), byte(len(udp)))
	return fold(sum(ph)+sum(udp)) == 0xffff
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

func fold(s uint32) uint32 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return s
}

// TestSwapUnderTraffic swaps between two rule sets that differ in every entry but agree on
// where two flows go, while both flows run: no packet may be lost or land on the wrong side.
func TestSwapUnderTraffic(t *testing.T) {
	testutil.RequireRoot(t)
	tp := newTopo(t, "native")
	gnbSock := openRaw(t, tp.gnb, "g0")
	upfSock := openRaw(t, tp.upf, "u0")
	app := startApp(t, tp, false)
	sets := [][]upgwapi.AppTrafficRule{
		{
			ruleJSON("tr1", 1, "FORWARD_DECAPSULATED", `{"dstAddress":["192.0.2.10"],"dstPort":["8080"],"protocol":["UDP"]}`),
			ruleJSON("drop", 2, "DROP", `{"dstAddress":["203.0.113.0/24"]}`),
		},
		{
			ruleJSON("pass", 1, "PASSTHROUGH", `{"dstAddress":["198.51.100.0/24"]}`),
			ruleJSON("drop", 2, "DROP", `{"dstAddress":["203.0.113.0/24","198.51.100.99"]}`),
			ruleJSON("tr1b", 3, "FORWARD_DECAPSULATED", `{"dstAddress":["192.0.2.0/24"],"dstPort":["8000-8100"]}`),
		},
	}
	tp.putRules(t, 1, sets[0]...)

	const pairs = 3000
	// UPF side: collect the sequence numbers of pass-through packets.
	upfSeqs := make(chan map[string]int, 1)
	stopUPF := make(chan struct{})
	go func() {
		seen := map[string]int{}
		for {
			select {
			case <-stopUPF:
				upfSeqs <- seen
				return
			default:
			}
			f := upfSock.recv(200*time.Millisecond, isGTPU)
			if f != nil && len(f) > 14+20+8+16+28 {
				seen[string(f[14+20+8+16+28:])]++
			}
		}
	}()
	// Control plane: swap as fast as it can while traffic runs.
	stopSwap := make(chan struct{})
	swaps := make(chan int, 1)
	go func() {
		n := 0
		for v := int64(2); ; v++ {
			select {
			case <-stopSwap:
				swaps <- n
				return
			default:
			}
			r, err := tp.api.PutRuleSetWithResponse(t.Context(), upgwapi.RuleSnapshot{Version: v, Rules: sets[v%2]})
			if err != nil || r.JSON200 == nil {
				t.Errorf("swap %d failed: %v", v, err)
				swaps <- n
				return
			}
			n++
		}
	}()
	for i := range pairs {
		gnbSock.send(t, tp.ul(t, appIP, 8080, fmt.Appendf(nil, "a-%d", i)))
		gnbSock.send(t, tp.ul(t, farIP, 8080, fmt.Appendf(nil, "b-%d", i)))
		if i%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	close(stopSwap)
	nswaps := <-swaps
	waitUntil(t, "all app packets", func() bool { return len(app.received()) >= pairs })
	time.Sleep(300 * time.Millisecond)
	close(stopUPF)
	upf := <-upfSeqs

	if nswaps < 10 {
		t.Errorf("only %d swaps during the traffic; want at least 10", nswaps)
	}
	appSeen := map[string]int{}
	for _, m := range app.received() {
		appSeen[m]++
	}
	for i := range pairs {
		a, b := fmt.Sprintf("a-%d", i), fmt.Sprintf("b-%d", i)
		if appSeen[a] != 1 {
			t.Errorf("%s reached the app %d times; want 1", a, appSeen[a])
		}
		if upf[b] != 1 {
			t.Errorf("%s reached the UPF %d times; want 1", b, upf[b])
		}
		if upf[a] != 0 || appSeen[b] != 0 {
			t.Errorf("misrouted: %s at the UPF %d times, %s at the app %d times", a, upf[a], b, appSeen[b])
		}
	}
	if len(appSeen) != pairs || len(upf) != pairs {
		t.Errorf("app saw %d distinct packets, UPF %d; want %d each", len(appSeen), len(upf), pairs)
	}
	t.Logf("%d rule-set swaps during %d packets", nswaps, 2*pairs)
}

// TestDuplicateAndEncap covers the actions that copy or re-address tunnels: the app
// namespace also hosts a local GTP-U endpoint at 192.0.2.20.
func TestDuplicateAndEncap(t *testing.T) {
	testutil.RequireRoot(t)
	tp := newTopo(t, "native", "--gtpu-endpoint", "192.0.2.20,app0,{appMAC}")
	nsExec(t, tp.app, "ip", "addr", "add", "192.0.2.20/24", "dev", "a0")
	gnbSock := openRaw(t, tp.gnb, "g0")
	upfSock := openRaw(t, tp.upf, "u0")
	app := startApp(t, tp, false)
	var ep *net.UDPConn
	if err := inNS(tp.app, func() error {
		var err error
		ep, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(192, 0, 2, 20), Port: 2152})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })

	tunnel := func(id string, prio int, action, dst string) upgwapi.AppTrafficRule {
		r := ruleJSON(id, prio, action, fmt.Sprintf(`{"dstAddress":[%q]}`, dst))
		r.TrafficRule["dstInterface"] = map[string]any{"interfaceType": "TUNNEL",
			"tunnelInfo": map[string]any{"tunnelType": "GTP_U", "tunnelDstAddress": "192.0.2.20"}}
		return r
	}
	tp.putRules(t, 1,
		ruleJSON("dup", 1, "DUPLICATE_DECAPSULATED", `{"dstAddress":["192.0.2.10"],"dstPort":["8080"]}`),
		tunnel("fwd-enc", 2, "FORWARD_ENCAPSULATED", "192.0.2.30"),
		tunnel("dup-enc", 3, "DUPLICATE_ENCAPSULATED", "192.0.2.40"))

	readEP := func() []byte {
		_ = ep.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2048)
		n, err := ep.Read(buf)
		if err != nil {
			return nil
		}
		return buf[:n]
	}

	// DUPLICATE_DECAPSULATED: the original goes on to the UPF unchanged, a decapsulated
	// copy reaches the app.
	f := tp.ul(t, appIP, 8080, []byte("copy-me"))
	gnbSock.send(t, f)
	if got := upfSock.recv(5*time.Second, isGTPU); !equalFrames(got, f) {
		t.Errorf("DUPLICATE_DECAPSULATED original at the UPF:\n got %x\nwant %x", got, f)
	}
	waitUntil(t, "the app's copy", func() bool { return strings.Join(app.received(), ",") == "copy-me" })

	// FORWARD_ENCAPSULATED: the tunnel is re-addressed to the local endpoint, payload intact.
	f = tp.ul(t, netip.MustParseAddr("192.0.2.30"), 5000, []byte("to-endpoint"))
	gnbSock.send(t, f)
	if got := readEP(); !equalFrames(got, f[14+20+8:]) {
		t.Errorf("FORWARD_ENCAPSULATED at the endpoint:\n got %x\nwant %x", got, f[14+20+8:])
	}
	if got := upfSock.recv(300*time.Millisecond, isGTPU); got != nil {
		t.Errorf("FORWARD_ENCAPSULATED also reached the UPF: %x", got)
	}

	// DUPLICATE_ENCAPSULATED: both the UPF (original) and the endpoint (copy) get it.
	f = tp.ul(t, netip.MustParseAddr("192.0.2.40"), 5000, []byte("both"))
	gnbSock.send(t, f)
	if got := upfSock.recv(5*time.Second, isGTPU); !equalFrames(got, f) {
		t.Errorf("DUPLICATE_ENCAPSULATED original at the UPF:\n got %x\nwant %x", got, f)
	}
	if got := readEP(); !equalFrames(got, f[14+20+8:]) {
		t.Errorf("DUPLICATE_ENCAPSULATED copy at the endpoint:\n got %x\nwant %x", got, f[14+20+8:])
	}
}
