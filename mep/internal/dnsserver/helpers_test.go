package dnsserver

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// testServer is a running Server on loopback with its registry.
type testServer struct {
	*Server
	udp, tcp string
	reg      *prometheus.Registry
}

// startServer starts a Server on 127.0.0.1:0 with cfg and rules and stops it at cleanup,
// failing the test if Run does not return cleanly.
func startServer(t *testing.T, cfg Config, rules []Rule) *testServer {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := New(cfg, log, reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.SetRules(rules)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: got %v; want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	u, tc := s.Addr()
	return &testServer{Server: s, udp: u.String(), tcp: tc.String(), reg: reg}
}

// upstream is an in-process miekg/dns server playing an upstream resolver.
type testUpstream struct {
	addr    string
	queries atomic.Int64
}

// startUpstream serves h on 127.0.0.1:0 over UDP and TCP (same port) until cleanup.
func startUpstream(t testing.TB, h dns.HandlerFunc) *testUpstream {
	t.Helper()
	pc, ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen upstream: %v", err)
	}
	u := &testUpstream{addr: pc.LocalAddr().String()}
	counted := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		u.queries.Add(1)
		h(w, r)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: counted}, {Listener: ln, Handler: counted}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe() //nolint:errcheck // ends at Shutdown
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

// answerAll is an upstream handler that answers any A question with addr and ttl, and any
// name under "nx." with NXDOMAIN plus a SOA (negative TTL ttl).
func answerAll(addr string, ttl uint32) dns.HandlerFunc {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		q := r.Question[0]
		switch {
		case strings.HasPrefix(dns.CanonicalName(q.Name), "nx."):
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{mustRR("test. " + itoa(ttl) + " IN SOA ns.test. host.test. 1 3600 600 86400 " + itoa(ttl))}
		case q.Qtype == dns.TypeA:
			m.Answer = []dns.RR{mustRR(q.Name + " " + itoa(ttl) + " IN A " + addr)}
		}
		_ = w.WriteMsg(m)
	}
}

// blackhole returns the address of a UDP socket that reads and never answers.
func blackhole(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// closedPort returns a loopback UDP address nothing listens on (ICMP port unreachable).
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().String()
	pc.Close()
	return a
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

// ask sends one query over network ("udp" or "tcp") and fails the test on a transport error.
func ask(t *testing.T, network, addr, name string, qtype uint16, edns int) *dns.Msg {
	t.Helper()
	r, err := exchange(network, addr, name, qtype, edns, "")
	if err != nil {
		t.Fatalf("%s query %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return r
}

// exchange sends one query; edns > 0 adds an EDNS0 OPT with that buffer size; from binds the
// client to a local address.
func exchange(network, addr, name string, qtype uint16, edns int, from string) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(uint16(edns), false)
	}
	c := &dns.Client{Net: network, Timeout: 3 * time.Second, UDPSize: 65535}
	if from != "" {
		var la net.Addr = &net.UDPAddr{IP: net.ParseIP(from)}
		if network == "tcp" {
			la = &net.TCPAddr{IP: net.ParseIP(from)}
		}
		c.Dialer = &net.Dialer{LocalAddr: la, Timeout: 3 * time.Second}
	}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// addrs returns the A/AAAA addresses of the answer section, in order.
func addrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	return out
}

// rule is a short constructor for test rules.
func rule(app, id, domain, addr string) Rule {
	return Rule{AppInstanceID: app, RuleID: id, Domain: domain, Addr: netip.MustParseAddr(addr),
		Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// metricValue sums the samples of the named counter/gauge (or histogram sample counts) whose
// labels include all of want.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// fakeClock is a clock a test moves by hand (Config.Now), so that a TTL or a backoff passes
// without waiting for it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

// Now returns the clock's time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock forward by d.
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
