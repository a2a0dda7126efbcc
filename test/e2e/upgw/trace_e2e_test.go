//go:build e2e

package upgwe2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/upgw/tracefmt"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

const traceToken = "e2e-upgw-token"

// TestTrace follows a packet trace of the real upgw binary (GET /upgw/v1/trace, its JSON
// lines written to a pcap with upgw/tracefmt, as the CLI does), while a breakout packet and a pass-through
// packet cross the UPGW: both must arrive where they belong, show up in the trace decoded
// (paths, rule, TEID/QFI, outer and inner headers, the captured bytes) and be in the pcap,
// which gopacket's pcap reader reads back.
func TestTrace(t *testing.T) {
	testutil.RequireRoot(t)
	tp := newTopo(t, "native", "--api-token", traceToken)
	gnbSock := openRaw(t, tp.gnb, "g0")
	upfSock := openRaw(t, tp.upf, "u0")
	app := startApp(t, tp, false)
	tp.putRules(t, 1, ruleJSON("tr1", 1, "FORWARD_DECAPSULATED", `{"dstAddress":["192.0.2.10"],"dstPort":["8080"],"protocol":["UDP"]}`))

	// The stream, read as mecctl does: JSON lines, each event also written to a pcap file.
	pcapFile := filepath.Join(t.TempDir(), "trace.pcap")
	pf, err := os.Create(pcapFile)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	pw, err := tracefmt.NewPcapWriter(pf)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet,
		tp.apiBase+"/upgw/v1/trace?path=ul_decap,ul_pass&duration=6&snaplen=128", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+traceToken)
	stream := &http.Client{Transport: tp.http.Transport} // no timeout: the response is a stream
	resp, err := stream.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("trace: %d %s", resp.StatusCode, b)
	}
	var (
		mu    sync.Mutex
		lines []upgwapi.TraceLine
	)
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l upgwapi.TraceLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				done <- err
				return
			}
			if l.Event != nil {
				if err := pw.Write(*l.Event); err != nil {
					done <- err
					return
				}
			}
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
		}
		done <- sc.Err()
	}()
	first := func(path string) *upgwapi.TraceEvent {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			if l.Event != nil && l.Event.Path == path {
				return l.Event
			}
		}
		return nil
	}

	// The trace starts once mecctl's request arrives: send a pair every 300 ms until
	// both have been traced. Each frame carries its number, so it can be told apart.
	breakout := map[string][]byte{}
	pass := map[string][]byte{}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; first("ul_decap") == nil || first("ul_pass") == nil; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no breakout and pass-through events within 5 s")
		}
		b := tp.ul(t, appIP, 8080, []byte("traced-"+string(rune('a'+i%26))))
		p := tp.ul(t, farIP, 8080, []byte("passed-"+string(rune('a'+i%26))))
		breakout[string(b)], pass[string(p)] = b, p
		gnbSock.send(t, b)
		gnbSock.send(t, p)
		if got := upfSock.recv(5*time.Second, isGTPU); !equalFrames(got, p) {
			t.Fatalf("pass-through frame at the UPF:\n got %x\nwant %x", got, p)
		}
		time.Sleep(300 * time.Millisecond)
	}
	waitUntil(t, "the app to receive every breakout packet", func() bool { return len(app.received()) == len(breakout) })

	// The stream ends with the trace's time limit.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("reading the trace: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the trace did not end with its time limit")
	}
	last := lines[len(lines)-1]
	if last.End == nil || last.End.Reason != upgwapi.TimeLimit || last.End.Events != int64(len(lines)-1) || last.End.Lost != 0 {
		t.Fatalf("last line %+v; want the end: time limit, %d events, none lost", last, len(lines)-1)
	}

	dec := first("ul_decap")
	if frame, ok := breakout[string(dec.Data)]; !ok || dec.Length != len(frame) || dec.Captured != len(frame) {
		t.Errorf("breakout event: %d bytes captured of %d; want one of the sent frames, whole (it is under the 128-byte snap length)",
			dec.Captured, dec.Length)
	}
	checkEvent(t, dec, "tr1", "192.0.2.10")
	ps := first("ul_pass")
	if _, ok := pass[string(ps.Data)]; !ok {
		t.Errorf("pass-through event data %x is none of the sent frames", ps.Data)
	}
	checkEvent(t, ps, "", "198.51.100.7")
	for _, l := range lines[:len(lines)-1] {
		if l.Event == nil || (l.Event.Path != "ul_decap" && l.Event.Path != "ul_pass") {
			t.Errorf("line %+v: want only ul_decap and ul_pass events", l)
		}
	}

	pf.Close()
	// The pcap holds every event, byte for byte, and decodes as the frames that were sent.
	f, err := os.Open(pcapFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("pcap link type %s; want Ethernet", r.LinkType())
	}
	n := 0
	for {
		b, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ev := lines[n].Event
		n++
		if !bytes.Equal(b, ev.Data) || ci.Length != ev.Length || !ci.Timestamp.Equal(ev.Time) {
			t.Errorf("pcap record %d: %d bytes of %d at %s; want the event's %d of %d at %s", n, len(b), ci.Length, ci.Timestamp, len(ev.Data), ev.Length, ev.Time)
		}
		p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
		g, _ := p.Layer(layers.LayerTypeGTPv1U).(*layers.GTPv1U)
		if g == nil || g.TEID != ulTEID {
			t.Errorf("pcap record %d does not decode as a G-PDU with TEID %#x: %v", n, ulTEID, p)
		}
	}
	if n != len(lines)-1 {
		t.Errorf("pcap has %d records; want %d", n, len(lines)-1)
	}
}

// checkEvent checks the decoded fields every uplink event of the test shares, and its rule
// and inner destination.
func checkEvent(t *testing.T, ev *upgwapi.TraceEvent, rule, dst string) {
	t.Helper()
	var gotRule string
	if ev.TrafficRuleId != nil {
		gotRule = *ev.TrafficRuleId
		if ev.AppInstanceId == nil || *ev.AppInstanceId != "app1" {
			t.Errorf("%s: app instance %v; want app1", ev.Path, ev.AppInstanceId)
		}
	}
	if gotRule != rule {
		t.Errorf("%s: rule %q; want %q", ev.Path, gotRule, rule)
	}
	if ev.Program != upgwapi.Uplink || ev.Teid == nil || *ev.Teid != int64(ulTEID) || ev.Qfi == nil || *ev.Qfi != 9 {
		t.Errorf("%s: program %s, TEID %v, QFI %v; want uplink, %#x, 9", ev.Path, ev.Program, ev.Teid, ev.Qfi, ulTEID)
	}
	if ev.Outer == nil || ev.Outer.Src != gnbIP.String() || ev.Outer.Dst != upfIP.String() || ev.Outer.Protocol != "UDP" {
		t.Errorf("%s: outer %+v; want gNB -> UPF UDP", ev.Path, ev.Outer)
	}
	if ev.Gtp == nil || ev.Gtp.Teid != int64(ulTEID) || len(ev.Gtp.ExtensionHeaders) != 1 || ev.Gtp.ExtensionHeaders[0] != 0x85 ||
		ev.Gtp.PduType == nil || *ev.Gtp.PduType != 1 {
		t.Errorf("%s: GTP-U %+v; want TEID %#x with one UL PDU Session Container", ev.Path, ev.Gtp, ulTEID)
	}
	in := ev.Inner
	if in == nil || in.Src != ueIP.String() || in.Dst != dst || in.Protocol != "UDP" || in.SrcPort == nil || *in.SrcPort != 40000 ||
		in.DstPort == nil || *in.DstPort != 8080 {
		t.Errorf("%s: inner %+v; want %s:40000 -> %s:8080 UDP", ev.Path, in, ueIP, dst)
	}
	if !strings.HasPrefix(string(ev.Data[12:14]), "\x08\x00") {
		t.Errorf("%s: captured bytes do not start with an IPv4 Ethernet header", ev.Path)
	}
}
