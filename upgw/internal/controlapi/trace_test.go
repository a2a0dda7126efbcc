package controlapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/rlimit"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
	"github.com/edgemec/edgemec/upgw/internal/rules"
	"github.com/edgemec/edgemec/upgw/internal/ruleset"
	"github.com/edgemec/edgemec/upgw/internal/trace"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

const apiToken = "trace-token-1"

// traceAPI is the control API over a real data plane (loaded, not attached: packets enter
// through BPF_PROG_RUN) with snapV1 applied.
type traceAPI struct {
	url string
	dp  *dataplane.Datapath
}

func newTraceAPI(t *testing.T, token string) *traceAPI {
	t.Helper()
	testutil.RequireRoot(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	d, err := dataplane.Load(dataplane.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	for slot, kind := range map[uint32]uint8{dataplane.SlotGNB: dataplane.TargetN3, dataplane.SlotUPF: dataplane.TargetN3, 2: dataplane.TargetApp} {
		if err := d.SetTarget(slot, dataplane.Target{Ifindex: 1, Kind: kind}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SetConfig(1, 1); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	m := ruleset.New(d, oneApp{}, "", logger, noop.NewTracerProvider())
	var snap rules.Snapshot
	if err := json.Unmarshal([]byte(snapV1), &snap); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(t.Context(), snap, ruleset.SourceAPI, true); err != nil {
		t.Fatal(err)
	}
	tr, err := trace.New(d, m, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	h, err := NewHandler(m, nil, Options{Token: token, Tracer: tr}, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &traceAPI{url: srv.URL + "/upgw/v1", dp: d}
}

func (a *traceAPI) get(t *testing.T, ctx context.Context, path, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ulPacket is an uplink G-PDU (TEID 0x100, QFI 9) from UE 10.60.0.1 to dst:dport.
func ulPacket(t *testing.T, dst string, dport uint16) []byte {
	t.Helper()
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	iip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP("10.60.0.1"), DstIP: net.ParseIP(dst)}
	iu := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(dport)}
	_ = iu.SetNetworkLayerForChecksum(iip)
	inner := ser(iip, iu, gopacket.Payload(bytes.Repeat([]byte("x"), 200)))
	// GTP-U by hand (gopacket serialises extension headers after the payload): E flag, one UL PSC.
	g := []byte{0x34, 0xff, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0, 0x85, 1, 0x10, 9, 0}
	binary.BigEndian.PutUint16(g[2:], uint16(8+len(inner)))
	oip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP("10.0.0.1"), DstIP: net.ParseIP("10.0.0.2")}
	ou := &layers.UDP{SrcPort: 2152, DstPort: 2152}
	_ = ou.SetNetworkLayerForChecksum(oip)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	return ser(eth, oip, ou, gopacket.Payload(append(g, inner...)))
}

func TestTraceAuth(t *testing.T) {
	open := newTraceAPI(t, "")
	locked := newTraceAPI(t, apiToken)
	tests := []struct {
		name      string
		api       *traceAPI
		path      string
		token     string
		code      int
		contains  string
		challenge bool
	}{
		{name: "trace without a configured token", api: open, path: "/trace?duration=1", code: 403, contains: "--api-token"},
		{name: "status without a configured token", api: open, path: "/status", code: 200, contains: `"ruleSetVersion":1`},
		{name: "trace without a token", api: locked, path: "/trace?duration=1", code: 401, contains: "bearer token", challenge: true},
		{name: "trace with a wrong token", api: locked, path: "/trace?duration=1", token: "trace-token-2", code: 401, contains: "bearer token", challenge: true},
		{name: "status without a token", api: locked, path: "/status", code: 401, contains: `"status":401`, challenge: true},
		{name: "bad selector without a token", api: locked, path: "/trace?teid=x", code: 401, contains: `"status":401`, challenge: true},
		{name: "status with the token", api: locked, path: "/status", token: apiToken, code: 200, contains: `"ruleSetVersion":1`},
		{name: "trace with the token", api: locked, path: "/trace?duration=1", token: apiToken, code: 200, contains: `"end":{"capped":0,"events":0,"lost":0,"reason":"time_limit"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.api.get(t, t.Context(), tt.path, tt.token)
			body := readAll(t, r)
			if r.StatusCode != tt.code || !strings.Contains(body, tt.contains) {
				t.Errorf("got %d %s; want %d containing %s", r.StatusCode, body, tt.code, tt.contains)
			}
			if tt.code >= 400 && r.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("content type %q; want application/problem+json", r.Header.Get("Content-Type"))
			}
			if got := r.Header.Get("WWW-Authenticate"); (got != "") != tt.challenge {
				t.Errorf("WWW-Authenticate %q; want a challenge: %v", got, tt.challenge)
			}
		})
	}
}

func TestTraceBadSelectors(t *testing.T) {
	a := newTraceAPI(t, apiToken)
	tests := []struct{ name, query, contains string }{
		{"ue not an address", "ue=10.60.0", "ue"},
		{"ue with a zone", "ue=fe80::1%25eth0", "ue"},
		{"teid not a number", "teid=abc", "teid"},
		{"teid negative", "teid=-1", "teid"},
		{"teid above 32 bits", "teid=4294967296", "teid"},
		{"unknown path", "path=ul_decap,upside_down", `path \"upside_down\": want one of`},
		{"rate zero", "rate=0", "rate"},
		{"rate above the limit", "rate=10001", "rate"},
		{"sample zero", "sample=0", "sample"},
		{"duration zero", "duration=0", "duration"},
		{"duration above ten minutes", "duration=601", "duration"},
		{"snaplen below the headers", "snaplen=20", "snaplen"},
		{"unknown rule", "rule=tr9", `no active traffic rule \"tr9\"`},
		{"unknown app", "app=app9", `app instance \"app9\" has no active traffic rule`},
		{"rule of another app", "app=app2&rule=tr1", `app instance \"app2\" has no active traffic rule \"tr1\"`},
		{"inactive rule", "rule=tr3", `no active traffic rule \"tr3\"`},
		{"unknown parameter", "protocol=udp", `unknown query parameter \"protocol\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.get(t, t.Context(), "/trace?"+tt.query, apiToken)
			body := readAll(t, r)
			if r.StatusCode != 400 || r.Header.Get("Content-Type") != "application/problem+json" ||
				!strings.Contains(body, `"status":400`) || !strings.Contains(body, tt.contains) {
				t.Errorf("got %d %s %s; want 400 ProblemDetails containing %s", r.StatusCode, r.Header.Get("Content-Type"), body, tt.contains)
			}
		})
	}
}

// readLines returns the stream's lines as they arrive; the channel closes at its end.
func readLines(r *http.Response) <-chan upgwapi.TraceLine {
	ch := make(chan upgwapi.TraceLine, 64)
	go func() {
		defer close(ch)
		defer r.Body.Close()
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			var l upgwapi.TraceLine
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				return
			}
			ch <- l
		}
	}()
	return ch
}

// TestTraceStream traces a rule for one second: the breakout packet sent during it must
// arrive, decoded and attributed to the rule, a pass-through packet must not (the rule
// selects), and the stream must end by itself with the time limit.
func TestTraceStream(t *testing.T) {
	a := newTraceAPI(t, apiToken)
	start := time.Now()
	r := a.get(t, t.Context(), "/trace?rule=tr1&duration=1&snaplen=96", apiToken)
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("got %d %s %s; want 200 application/x-ndjson", r.StatusCode, r.Header.Get("Content-Type"), readAll(t, r))
	}
	lines := readLines(r)
	// The headers came after the trace started: packets from now on are traced.
	breakout := ulPacket(t, "192.0.2.10", 8080)
	for _, p := range [][]byte{breakout, ulPacket(t, "198.51.100.7", 8080)} {
		if _, _, err := a.dp.RunPacket(dataplane.ProgUplink, p); err != nil {
			t.Fatal(err)
		}
	}
	// A second trace while this one runs is refused.
	busy := a.get(t, t.Context(), "/trace?duration=1", apiToken)
	if body := readAll(t, busy); busy.StatusCode != 409 || !strings.Contains(body, "one runs at a time") {
		t.Errorf("second trace: %d %s; want 409", busy.StatusCode, body)
	}
	var events []upgwapi.TraceEvent
	var end *upgwapi.TraceEnd
	for l := range lines {
		switch {
		case l.Event != nil:
			events = append(events, *l.Event)
		case l.End != nil:
			end = l.End
		}
	}
	elapsed := time.Since(start)
	if end == nil || end.Reason != upgwapi.TimeLimit || end.Events != 1 {
		t.Fatalf("end %+v; want time_limit after 1 event", end)
	}
	if elapsed < time.Second || elapsed > 3*time.Second {
		t.Errorf("the trace took %s; want about 1s", elapsed)
	}
	if len(events) != 1 {
		t.Fatalf("%d events; want 1", len(events))
	}
	ev := events[0]
	check := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s %v; want %v", what, got, want)
		}
	}
	check("path", ev.Path, "ul_decap")
	check("program", ev.Program, upgwapi.Uplink)
	check("rule", deref(ev.TrafficRuleId), "tr1")
	check("app", deref(ev.AppInstanceId), "app1")
	check("teid", *ev.Teid, int64(0x100))
	check("qfi", *ev.Qfi, 9)
	check("length", ev.Length, len(breakout))
	check("captured", ev.Captured, 96)
	check("data", string(ev.Data), string(breakout[:96]))
	if ev.Outer == nil || ev.Inner == nil || ev.Gtp == nil {
		t.Fatalf("event %+v; want outer, GTP-U and inner decoded", ev)
	}
	check("outer", ev.Outer.Src+">"+ev.Outer.Dst+" "+ev.Outer.Protocol, "10.0.0.1>10.0.0.2 UDP")
	check("inner", ev.Inner.Src+">"+ev.Inner.Dst+" "+ev.Inner.Protocol, "10.60.0.1>192.0.2.10 UDP")
	check("inner ports", *ev.Inner.SrcPort*100000+*ev.Inner.DstPort, 40000*100000+8080)
	check("gtp", ev.Gtp.Teid, int64(0x100))
	check("gtp extensions", len(ev.Gtp.ExtensionHeaders), 1)
	check("gtp qfi", *ev.Gtp.Qfi, 9)
}

// TestTraceClientGone checks that a trace ends when its client goes away, and that the next
// one can start.
func TestTraceClientGone(t *testing.T) {
	a := newTraceAPI(t, apiToken)
	ctx, cancel := context.WithCancel(t.Context())
	r := a.get(t, ctx, "/trace?duration=600", apiToken)
	if r.StatusCode != 200 {
		t.Fatalf("trace: %d %s", r.StatusCode, readAll(t, r))
	}
	cancel()
	r.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		next := a.get(t, t.Context(), "/trace?duration=1", apiToken)
		body := readAll(t, next)
		if next.StatusCode == 200 {
			if !strings.Contains(body, `"reason":"time_limit"`) {
				t.Errorf("next trace: %s; want its end", body)
			}
			return
		}
		if next.StatusCode != 409 || time.Now().After(deadline) {
			t.Fatalf("next trace: %d %s; want 200 once the first one ended", next.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
