package dnsserver

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// rawQuery packs a query for name/A with the given header tweaks.
func rawQuery(t *testing.T, name string, tweak func(*dns.Msg)) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	if tweak != nil {
		tweak(m)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	return b
}

// malformedPackets are inputs a hostile or broken client may send; want is the rcode of the
// answer, or -1 for no answer at all.
func malformedPackets(t *testing.T) []struct {
	name string
	pkt  []byte
	want int
} {
	valid := rawQuery(t, "ok.test.", nil)
	loop := slices.Clone(valid[:12])
	loop = append(loop, 0xC0, 12, 0, 1, 0, 1) // name is a pointer to itself
	long := slices.Clone(valid[:12])
	for range 300 { // name longer than 255 octets
		long = append(long, 1, 'a')
	}
	long = append(long, 0, 0, 1, 0, 1)
	return []struct {
		name string
		pkt  []byte
		want int
	}{
		{"empty", nil, -1},
		{"short header", valid[:5], -1},
		{"header only", valid[:12], dns.RcodeFormatError},
		{"truncated question", valid[:len(valid)-3], dns.RcodeFormatError},
		{"compression loop", loop, dns.RcodeFormatError},
		{"name too long", long, dns.RcodeFormatError},
		{"response bit", rawQuery(t, "ok.test.", func(m *dns.Msg) { m.Response = true }), -1},
		{"update opcode", rawQuery(t, "ok.test.", func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), dns.RcodeNotImplemented},
		{"notify opcode", rawQuery(t, "ok.test.", func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), dns.RcodeNotImplemented},
		{"two questions", rawQuery(t, "ok.test.", func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), dns.RcodeFormatError},
		{"no question", rawQuery(t, "ok.test.", func(m *dns.Msg) { m.Question = nil }), dns.RcodeFormatError},
		{"answer in query", rawQuery(t, "ok.test.", func(m *dns.Msg) { m.Answer = []dns.RR{mustRR("ok.test. 1 IN A 1.2.3.4")} }), dns.RcodeFormatError},
		{"AXFR", rawQuery(t, "ok.test.", func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAXFR }), dns.RcodeNotImplemented},
		{"garbage", []byte(strings.Repeat("\xff", 700)), -1},
		{"trailing garbage", append(slices.Clone(valid), 0xde, 0xad), dns.RcodeSuccess},
	}
}

func TestMalformedUDP(t *testing.T) {
	s := startServer(t, Config{}, []Rule{rule("a", "1", "ok.test", "10.0.0.1")})
	conn, err := net.Dial("udp", s.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tt := range malformedPackets(t) {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := conn.Write(tt.pkt); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 65535)
			wait := 2 * time.Second
			if tt.want < 0 {
				wait = 200 * time.Millisecond
			}
			conn.SetReadDeadline(time.Now().Add(wait))
			n, err := conn.Read(buf)
			switch {
			case tt.want < 0 && err == nil:
				t.Errorf("got a %d-byte answer; want none", n)
			case tt.want < 0:
			case err != nil:
				t.Errorf("read: %v; want an answer with rcode %s", err, dns.RcodeToString[tt.want])
			default:
				var m dns.Msg
				if err := m.Unpack(buf[:n]); err != nil {
					t.Fatalf("unpack answer: %v", err)
				}
				if m.Rcode != tt.want || !m.Response {
					t.Errorf("rcode: got %s QR=%v; want %s QR=true", dns.RcodeToString[m.Rcode], m.Response, dns.RcodeToString[tt.want])
				}
			}
		})
	}
	if got := addrs(ask(t, "udp", s.udp, "ok.test.", dns.TypeA, 0)); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Errorf("after malformed input: got %v; want [10.0.0.1]", got)
	}
	if got := metricValue(t, s.reg, "mep_dns_rejected_total", nil); got < 5 {
		t.Errorf("rejected packets counted: got %v; want >= 5", got)
	}
}

func TestMalformedTCP(t *testing.T) {
	s := startServer(t, Config{ReadTimeout: 300 * time.Millisecond, TCPIdleTimeout: 300 * time.Millisecond},
		[]Rule{rule("a", "1", "ok.test", "10.0.0.1")})
	frame := func(b []byte) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...) }
	tests := []struct {
		name string
		send []byte
		want int // rcode, or -1: the server closes the connection without an answer
	}{
		{"nothing sent", nil, -1},
		{"half a length prefix", []byte{0}, -1},
		{"length larger than the data", []byte{0xff, 0xff, 1, 2, 3}, -1},
		{"zero length", []byte{0, 0}, -1},
		{"header only", frame(rawQuery(t, "ok.test.", nil)[:12]), dns.RcodeFormatError},
		{"compression loop", frame(malformedPackets(t)[4].pkt), dns.RcodeFormatError},
		{"valid", frame(rawQuery(t, "ok.test.", nil)), dns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.tcp)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			start := time.Now()
			c := &dns.Conn{Conn: conn}
			m, err := c.ReadMsg()
			switch {
			case tt.want < 0:
				if err == nil {
					t.Errorf("got answer %v; want the connection closed", m)
				} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
					t.Errorf("read: got %v; want EOF (closed by the server)", err)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("server held a stalled connection for %v; want about the 300ms read timeout", d)
				}
			case err != nil:
				t.Errorf("read: %v", err)
			case m.Rcode != tt.want:
				t.Errorf("rcode: got %s; want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.want])
			}
		})
	}
	if got := addrs(ask(t, "tcp", s.tcp, "ok.test.", dns.TypeA, 0)); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Errorf("after malformed input: got %v; want [10.0.0.1]", got)
	}
}

func TestTCPConnectionLimit(t *testing.T) {
	s := startServer(t, Config{MaxTCPConns: 2, ReadTimeout: 5 * time.Second}, []Rule{rule("a", "1", "ok.test", "10.0.0.1")})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.tcp)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		held = append(held, c)
	}
	// Both slots are taken by silent clients: a third client is not served...
	third, err := dns.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	q := new(dns.Msg)
	q.SetQuestion("ok.test.", dns.TypeA)
	if err := third.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if m, err := third.ReadMsg(); err == nil {
		t.Fatalf("third connection served while 2 of 2 slots are held: %v", m)
	}
	if got := metricValue(t, s.reg, "mep_dns_tcp_connections", nil); got != 2 {
		t.Errorf("open TCP connections gauge: got %v; want 2", got)
	}
	// ...until a slot frees up.
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(3 * time.Second))
	m, err := third.ReadMsg()
	if err != nil {
		t.Fatalf("third connection after a slot freed: %v", err)
	}
	if got := addrs(m); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Errorf("answer: got %v; want [10.0.0.1]", got)
	}
}

// TestGracefulShutdown cancels Run while a forwarded query waits on a slow upstream: the query
// still gets its answer, and Run returns nil.
func TestGracefulShutdown(t *testing.T) {
	slow := answerAll("192.0.2.5", 60)
	arrived := make(chan struct{}, 1)
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		time.Sleep(300 * time.Millisecond)
		slow(w, r)
	})
	s, err := New(Config{Addr: "127.0.0.1:0", Upstreams: []string{up.addr}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	udp, _ := s.Addr()
	// Make sure Run is serving before cancelling.
	s.SetRules([]Rule{rule("a", "1", "ready.test", "10.0.0.1")})
	ask(t, "udp", udp.String(), "ready.test.", dns.TypeA, 0)
	answer := make(chan *dns.Msg, 1)
	go func() {
		r, err := exchange("udp", udp.String(), "slow.test.", dns.TypeA, 0, "")
		if err != nil {
			t.Errorf("in-flight query: %v", err)
		}
		answer <- r
	}()
	select {
	case <-arrived: // the query is now waiting on the upstream
	case <-time.After(10 * time.Second):
		t.Fatal("the query never reached the upstream")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if r := <-answer; r == nil || !slices.Equal(addrs(r), []string{"192.0.2.5"}) {
		t.Errorf("in-flight query during shutdown: got %v; want the upstream answer", r)
	}
	if _, err := exchange("udp", udp.String(), "ready.test.", dns.TypeA, 0, ""); err == nil {
		t.Errorf("query after shutdown answered; want no server")
	}
	if err := s.Run(context.Background()); err == nil {
		t.Errorf("second Run: got nil; want an error")
	}
}

func TestNewErrors(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := New(Config{Addr: busy.LocalAddr().String()}, nil, nil); err == nil {
		t.Errorf("New on a busy port: got nil; want an error")
	}
	reg := prometheus.NewRegistry()
	s, err := New(Config{Addr: "127.0.0.1:0"}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := New(Config{Addr: "127.0.0.1:0"}, nil, reg); err == nil {
		t.Errorf("second server on one registry: got nil; want a registration error")
	}
	if _, err := New(Config{Addr: "127.0.0.1:0", Upstreams: []string{"nope"}}, nil, nil); err == nil {
		t.Errorf("New with a bad upstream: got nil; want an error")
	}
	udp, tcp := s.Addr()
	if udp.(*net.UDPAddr).Port != tcp.(*net.TCPAddr).Port || udp.(*net.UDPAddr).Port == 0 {
		t.Errorf("ports: got udp %v tcp %v; want the same non-zero port", udp, tcp)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Run(t.Context()); err == nil {
		t.Errorf("Run after Close: got nil; want an error")
	}
}

func TestMetrics(t *testing.T) {
	up := startUpstream(t, answerAll("192.0.2.1", 300))
	s := startServer(t, Config{Upstreams: []string{up.addr}}, []Rule{rule("a", "1", "m.test", "10.0.0.1"), {AppInstanceID: "a", RuleID: "bad"}})
	ask(t, "udp", s.udp, "m.test.", dns.TypeA, 0)
	ask(t, "tcp", s.udp, "m.test.", dns.TypeMX, 0)
	ask(t, "udp", s.udp, "fwd.test.", dns.TypeA, 0)
	ask(t, "udp", s.udp, "fwd.test.", dns.TypeA, 0)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mep_dns_queries_total", map[string]string{"proto": "udp", "qtype": "A", "source": "local", "result": "answer"}, 1},
		{"mep_dns_queries_total", map[string]string{"proto": "tcp", "qtype": "MX", "source": "local", "result": "nodata"}, 1},
		{"mep_dns_queries_total", map[string]string{"source": "upstream", "result": "answer"}, 1},
		{"mep_dns_queries_total", map[string]string{"source": "cache", "result": "answer"}, 1},
		{"mep_dns_query_duration_seconds", map[string]string{"source": "local"}, 2},
		{"mep_dns_query_duration_seconds", nil, 4},
		{"mep_dns_cache_hits_total", nil, 1},
		{"mep_dns_cache_misses_total", nil, 1},
		{"mep_dns_cache_entries", nil, 1},
		{"mep_dns_upstream_requests_total", map[string]string{"upstream": up.addr, "proto": "udp", "result": "ok"}, 1},
		{"mep_dns_rules", nil, 1},
		{"mep_dns_rules_invalid", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := metricValue(t, s.reg, tt.name, tt.labels); got != tt.want {
				t.Errorf("%s%v: got %v; want %v", tt.name, tt.labels, got, tt.want)
			}
		})
	}
}

func TestLogsConflict(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	s, err := New(Config{Addr: "127.0.0.1:0"}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetRules([]Rule{rule("a", "1", "x.test", "10.0.0.1"), rule("b", "1", "x.test", "10.0.0.2")})
	s.SetRules([]Rule{rule("a", "1", "x.test", "10.0.0.1"), rule("b", "1", "x.test", "10.0.0.2")})
	if n := strings.Count(buf.String(), `"msg":"dns rule conflict"`); n != 1 {
		t.Errorf("conflict log lines for one unchanged conflict: got %d; want 1\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), `"app_instance_id":"a"`) {
		t.Errorf("conflict log lacks the winner: %s", buf.String())
	}
}
