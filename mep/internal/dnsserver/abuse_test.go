package dnsserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestTCPPerClientLimit: one client opens as many idle TCP connections as the server has
// slots (issue 15 §4). It keeps at most MaxTCPPerClient of them, and another client's TCP
// query is still answered at once.
func TestTCPPerClientLimit(t *testing.T) {
	const slots = 24
	s := startServer(t, Config{MaxTCPConns: slots, ReadTimeout: 30 * time.Second, TCPIdleTimeout: 30 * time.Second},
		[]Rule{rule("a", "1", "ok.test", "10.0.0.1")})
	attacker := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: time.Second}
	var held []net.Conn
	for range slots {
		c, err := attacker.Dial("tcp", s.tcp)
		if err != nil {
			t.Fatalf("attacker dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		held = append(held, c)
	}
	// The server closes the connections beyond the per-client limit: reading them ends.
	open := 0
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				open++
			}
		}
	}
	if open > DefaultMaxTCPPerClient {
		t.Errorf("idle connections one client holds: got %d; want at most %d", open, DefaultMaxTCPPerClient)
	}
	start := time.Now()
	r, err := exchange("tcp", s.tcp, "ok.test.", dns.TypeA, 0, "127.0.0.3")
	if err != nil {
		t.Fatalf("other client's TCP query while %d connections are held: %v", slots, err)
	}
	if got := addrs(r); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Errorf("other client's answer: got %v; want [10.0.0.1]", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("other client waited %v; want an answer at once", d)
	}
	if got := metricValue(t, s.reg, "mep_dns_dropped_total", map[string]string{"reason": "tcp_per_client"}); got < slots-DefaultMaxTCPPerClient {
		t.Errorf("connections refused per client: got %v; want >= %d", got, slots-DefaultMaxTCPPerClient)
	}
	// The limited client is still served on the connections it has.
	c := &dns.Conn{Conn: held[0]}
	q := new(dns.Msg)
	q.SetQuestion("ok.test.", dns.TypeA)
	if err := c.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if m, err := c.ReadMsg(); err != nil || len(m.Answer) != 1 {
		t.Errorf("query on a held connection: got %v, %v; want one answer", m, err)
	}
}

// TestUDPAnswerCap: 256 AAAA rules on one name make a 7 kB answer. Over UDP it is cut to
// MaxUDPAnswer with TC whatever buffer the client announces, so a forged source gains little;
// over TCP the client gets it whole.
func TestUDPAnswerCap(t *testing.T) {
	var rules []Rule
	for i := range 256 {
		rules = append(rules, rule("amp", fmt.Sprintf("r%03d", i), "amp.test", fmt.Sprintf("2001:db8::%x", i+1)))
	}
	tests := []struct {
		name    string
		cfg     Config
		qtype   uint16
		edns    int
		wantMax int
	}{
		{"default cap, EDNS0 4096, AAAA", Config{}, dns.TypeAAAA, 4096, DefaultMaxUDPAnswer},
		{"default cap, EDNS0 4096, ANY", Config{}, dns.TypeANY, 4096, DefaultMaxUDPAnswer},
		{"default cap, EDNS0 65535", Config{}, dns.TypeAAAA, 65535, DefaultMaxUDPAnswer},
		{"default cap, no EDNS0", Config{}, dns.TypeAAAA, 0, dns.MinMsgSize},
		{"raised cap", Config{MaxUDPAnswer: 1000}, dns.TypeAAAA, 4096, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.cfg, rules)
			q := new(dns.Msg)
			q.SetQuestion("amp.test.", tt.qtype)
			if tt.edns > 0 {
				q.SetEdns0(uint16(tt.edns), false)
			}
			qb, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			conn, err := net.Dial("udp", s.udp)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(qb); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 65535)
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("UDP answer: %v", err)
			}
			var m dns.Msg
			if err := m.Unpack(buf[:n]); err != nil {
				t.Fatal(err)
			}
			if n > tt.wantMax || !m.Truncated {
				t.Errorf("UDP answer: got %d bytes TC=%v; want <= %d bytes with TC", n, m.Truncated, tt.wantMax)
			}
			if ratio := float64(n) / float64(len(qb)); tt.cfg.MaxUDPAnswer == 0 && ratio > 20 {
				t.Errorf("amplification: %d-byte answer to a %d-byte query (%.1fx); want at most 20x", n, len(qb), ratio)
			}
			full := ask(t, "tcp", s.tcp, "amp.test.", tt.qtype, tt.edns)
			if len(full.Answer) != 256 || full.Truncated {
				t.Errorf("TCP answer: got %d records TC=%v; want 256, TC=false", len(full.Answer), full.Truncated)
			}
			if got := metricValue(t, s.reg, "mep_dns_dropped_total", map[string]string{"reason": "udp_truncated"}); got != 1 {
				t.Errorf("truncated UDP answers counted: got %v; want 1", got)
			}
		})
	}
}

// burst sends n queries for name over one UDP socket bound to from, as fast as it can, and
// counts the full answers, the empty truncated ones (slips) and the queries left unanswered.
func burst(t *testing.T, addr, from, name string, n int) (answered, slipped, silent int) {
	t.Helper()
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadBuffer(1 << 20)
	ids := map[uint16]bool{}
	for i := range n {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		q.Id = uint16(i + 1)
		ids[q.Id] = true
		b, _ := q.Pack()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 65535)
	for {
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		k, err := conn.Read(buf)
		if err != nil {
			break
		}
		var m dns.Msg
		if err := m.Unpack(buf[:k]); err != nil || !ids[m.Id] {
			t.Fatalf("unexpected answer %v (%v)", m, err)
		}
		delete(ids, m.Id)
		if m.Truncated && len(m.Answer) == 0 {
			slipped++
		} else {
			answered++
		}
	}
	return answered, slipped, len(ids)
}

// TestRateLimit: a burst of UDP queries from one client prefix is answered up to the rate
// limit's burst; beyond it answers are dropped, every slip-th sent as an empty TC answer.
// Another prefix, exempt clients and TCP are not affected.
func TestRateLimit(t *testing.T) {
	const rate, n = 20, 200
	rules := []Rule{rule("a", "1", "rrl.test", "10.0.0.1")}
	none := []netip.Prefix{}
	tests := []struct {
		name                     string
		cfg                      Config
		from                     string
		wantMaxAnswered          int
		wantSlipMin, wantSlipMax int
	}{
		// Allowance 2*rate at once, plus the refill during the burst (well under a second).
		{"limited, slip 2", Config{RateLimit: rate, RateLimitExempt: none}, "127.0.0.5", 2*rate + rate, (n - 3*rate) / 2, (n - 2*rate) / 2},
		{"limited, slip 1", Config{RateLimit: rate, RateLimitSlip: 1, RateLimitExempt: none}, "127.0.0.5", 3 * rate, n - 3*rate, n - 2*rate},
		{"limited, never slip", Config{RateLimit: rate, RateLimitSlip: -1, RateLimitExempt: none}, "127.0.0.5", 3 * rate, 0, 0},
		{"loopback exempt by default", Config{RateLimit: rate}, "127.0.0.5", n, 0, 0},
		{"rate limiting off", Config{RateLimit: -1, RateLimitExempt: none}, "127.0.0.5", n, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.cfg, rules)
			answered, slipped, silent := burst(t, s.udp, tt.from, "rrl.test.", n)
			t.Logf("answered %d, slipped %d, silent %d", answered, slipped, silent)
			if answered > tt.wantMaxAnswered || answered < min(tt.wantMaxAnswered, 2*rate) {
				t.Errorf("full answers: got %d; want %d..%d", answered, min(tt.wantMaxAnswered, 2*rate), tt.wantMaxAnswered)
			}
			if slipped < tt.wantSlipMin || slipped > tt.wantSlipMax {
				t.Errorf("slipped (empty TC) answers: got %d; want %d..%d", slipped, tt.wantSlipMin, tt.wantSlipMax)
			}
			if got := metricValue(t, s.reg, "mep_dns_dropped_total", map[string]string{"reason": "rate_limit"}); int(got) != silent {
				t.Errorf("dropped answers counted: got %v; want %d (the unanswered queries)", got, silent)
			}
			if got := metricValue(t, s.reg, "mep_dns_dropped_total", map[string]string{"reason": "rate_limit_slip"}); int(got) != slipped {
				t.Errorf("slipped answers counted: got %v; want %d", got, slipped)
			}
			// The same client over TCP, and a client of another /24 over UDP, are answered.
			if r := ask(t, "tcp", s.tcp, "rrl.test.", dns.TypeA, 0); len(r.Answer) != 1 {
				t.Errorf("TCP answer to the limited client: got %v; want one record", r)
			}
			if r, err := exchange("udp", s.udp, "rrl.test.", dns.TypeA, 0, "127.0.1.5"); err != nil || len(r.Answer) != 1 {
				t.Errorf("UDP answer to another prefix: got %v, %v; want one record", r, err)
			}
		})
	}
}

func TestRateLimiterBuckets(t *testing.T) {
	l := newRateLimiter(Config{RateLimit: 10, RateLimitSlip: 2, RateLimitExempt: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("198.51.100.7")
	sameV4 := netip.MustParseAddr("198.51.100.200")
	v6 := netip.MustParseAddr("2001:db8:0:ff::1")
	sameV6 := netip.MustParseAddr("2001:db8:0:1::9") // same /56
	count := func(addr netip.Addr, n int, at time.Time) (sent int) {
		for range n {
			if l.check(addr, at) == verdictSend {
				sent++
			}
		}
		return sent
	}
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"burst of a new prefix", count(a, 50, now), 20},
		{"same /24 shares the bucket", count(sameV4, 5, now), 0},
		{"refill after half a second", count(a, 50, now.Add(500*time.Millisecond)), 5},
		{"full again after two seconds", count(a, 50, now.Add(3*time.Second)), 20},
		{"IPv6 /56 shares the bucket", count(v6, 15, now) + count(sameV6, 15, now), 20},
		{"exempt prefix", count(netip.MustParseAddr("192.0.2.9"), 100, now), 100},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %d sent; want %d", tt.name, tt.got, tt.want)
		}
	}
	for i := range rrlMaxPrefixes + 10 {
		l.check(netip.AddrFrom4([4]byte{byte(10 + i>>16), byte(i >> 8), byte(i), 1}), now.Add(10*time.Second))
	}
	if n := len(l.buckets); n > rrlMaxPrefixes {
		t.Errorf("buckets after %d prefixes: got %d; want at most %d", rrlMaxPrefixes+10, n, rrlMaxPrefixes)
	}
}
