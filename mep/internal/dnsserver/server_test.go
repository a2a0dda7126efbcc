package dnsserver

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var transports = []string{"udp", "tcp"}

func TestLocalAnswers(t *testing.T) {
	up := startUpstream(t, answerAll("192.0.2.99", 300))
	r1 := rule("app-1", "r1", "App.Example.COM", "10.0.0.1")
	r1.TTL = 30
	r2 := rule("app-1", "r2", "app.example.com.", "2001:db8::1")
	r3 := rule("app-2", "r3", "noTTL.example.org", "10.0.0.3")
	r4 := rule("app-2", "r4", "mapped.example.org", "::ffff:10.0.0.4")
	s := startServer(t, Config{Upstreams: []string{up.addr}, DefaultTTL: 77}, []Rule{r1, r2, r3, r4})

	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		want    []string
		wantTTL uint32
	}{
		{"A", "app.example.com.", dns.TypeA, []string{"10.0.0.1"}, 30},
		{"AAAA", "app.example.com.", dns.TypeAAAA, []string{"2001:db8::1"}, 77},
		{"upper case query", "APP.EXAMPLE.COM.", dns.TypeA, []string{"10.0.0.1"}, 30},
		{"mixed case query", "aPp.ExAmPlE.cOm.", dns.TypeAAAA, []string{"2001:db8::1"}, 77},
		{"ANY gives both", "app.example.com.", dns.TypeANY, []string{"10.0.0.1", "2001:db8::1"}, 30},
		{"NODATA for MX", "app.example.com.", dns.TypeMX, nil, 0},
		{"NODATA for TXT", "nottl.example.org.", dns.TypeTXT, nil, 0},
		{"NODATA for AAAA of v4-only name", "nottl.example.org.", dns.TypeAAAA, nil, 0},
		{"default TTL", "nottl.example.org.", dns.TypeA, []string{"10.0.0.3"}, 77},
		{"v4-mapped address answers A", "mapped.example.org.", dns.TypeA, []string{"10.0.0.4"}, 77},
	}
	for _, tt := range tests {
		for _, network := range transports {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				r := ask(t, network, s.udp, tt.qname, tt.qtype, 0)
				if r.Rcode != dns.RcodeSuccess {
					t.Fatalf("rcode: got %s; want NOERROR", dns.RcodeToString[r.Rcode])
				}
				if !r.Authoritative {
					t.Errorf("AA: got false; want true")
				}
				if got := addrs(r); !slices.Equal(got, tt.want) {
					t.Errorf("answers: got %v; want %v", got, tt.want)
				}
				for _, rr := range r.Answer {
					if rr.Header().Name != tt.qname {
						t.Errorf("owner: got %q; want %q (the question as asked)", rr.Header().Name, tt.qname)
					}
				}
				if len(r.Answer) > 0 && r.Answer[0].Header().Ttl != tt.wantTTL {
					t.Errorf("ttl: got %d; want %d", r.Answer[0].Header().Ttl, tt.wantTTL)
				}
			})
		}
	}
	if n := up.queries.Load(); n != 0 {
		t.Errorf("upstream queries for local names: got %d; want 0", n)
	}
	if got := ask(t, "udp", s.udp, "other.example.com.", dns.TypeA, 0); !slices.Equal(addrs(got), []string{"192.0.2.99"}) {
		t.Errorf("name without rule: got %v; want the upstream answer", addrs(got))
	}
}

func TestForwardingAndCache(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, answerAll("192.0.2.1", 2))
	clock := newFakeClock()
	s := startServer(t, Config{Upstreams: []string{up.addr}, Now: clock.Now}, nil)

	r := ask(t, "udp", s.udp, "www.fwd.test.", dns.TypeA, 1232)
	if got := addrs(r); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("forwarded answer: got %v; want [192.0.2.1]", got)
	}
	if !r.RecursionAvailable || r.Authoritative {
		t.Errorf("flags: got RA=%v AA=%v; want RA=true AA=false", r.RecursionAvailable, r.Authoritative)
	}
	if opt := r.IsEdns0(); opt == nil || opt.UDPSize() != DefaultMaxUDPSize {
		t.Errorf("EDNS0 in answer: got %v; want OPT with size %d", opt, DefaultMaxUDPSize)
	}
	for _, network := range transports {
		r := ask(t, network, s.udp, "WWW.fwd.test.", dns.TypeA, 0)
		if got := addrs(r); !slices.Equal(got, []string{"192.0.2.1"}) {
			t.Errorf("cached answer over %s: got %v; want [192.0.2.1]", network, got)
		}
		if r.Question[0].Name != "WWW.fwd.test." {
			t.Errorf("question: got %q; want the client's spelling", r.Question[0].Name)
		}
	}
	if n := up.queries.Load(); n != 1 {
		t.Errorf("upstream queries within TTL: got %d; want 1", n)
	}
	if got := metricValue(t, s.reg, "mep_dns_cache_hits_total", nil); got != 2 {
		t.Errorf("cache hits: got %v; want 2", got)
	}
	// Negative answers are cached too, for the SOA's TTL.
	for range 2 {
		if r := ask(t, "udp", s.udp, "nx.fwd.test.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
			t.Errorf("rcode: got %s; want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
	}
	if n := up.queries.Load(); n != 2 {
		t.Errorf("upstream queries after NXDOMAIN twice: got %d; want 2", n)
	}
	clock.Add(2100 * time.Millisecond) // past the TTL of 2 s
	if got := addrs(ask(t, "udp", s.udp, "www.fwd.test.", dns.TypeA, 0)); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("answer after expiry: got %v", got)
	}
	if n := up.queries.Load(); n != 3 {
		t.Errorf("upstream queries after TTL expiry: got %d; want 3", n)
	}
}

func TestCachedTTLDecreases(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, answerAll("192.0.2.1", 100))
	clock := newFakeClock()
	s := startServer(t, Config{Upstreams: []string{up.addr}, Now: clock.Now}, nil)
	ask(t, "udp", s.udp, "ttl.fwd.test.", dns.TypeA, 0)
	clock.Add(1100 * time.Millisecond)
	r := ask(t, "udp", s.udp, "ttl.fwd.test.", dns.TypeA, 0)
	if len(r.Answer) != 1 {
		t.Fatalf("answers: got %d; want 1", len(r.Answer))
	}
	if ttl := r.Answer[0].Header().Ttl; ttl >= 100 || ttl < 90 {
		t.Errorf("ttl from cache after 1 s: got %d; want 90..99", ttl)
	}
}

func TestFailover(t *testing.T) {
	servfail := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
	})
	good := startUpstream(t, answerAll("192.0.2.7", 300))
	hole := blackhole(t)
	tests := []struct {
		name      string
		upstreams []string
		want      int // rcode
		wantAddrs []string
	}{
		{"closed port first", []string{closedPort(t), good.addr}, dns.RcodeSuccess, []string{"192.0.2.7"}},
		{"timeout first", []string{hole, good.addr}, dns.RcodeSuccess, []string{"192.0.2.7"}},
		{"servfail first", []string{servfail.addr, good.addr}, dns.RcodeSuccess, []string{"192.0.2.7"}},
		{"all dead", []string{closedPort(t), hole, servfail.addr}, dns.RcodeServerFailure, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, Config{Upstreams: tt.upstreams, UpstreamTimeout: 300 * time.Millisecond}, nil)
			for i, network := range transports {
				name := fmt.Sprintf("q%d.failover.test.", i)
				r := ask(t, network, s.udp, name, dns.TypeA, 0)
				if r.Rcode != tt.want {
					t.Errorf("%s: rcode: got %s; want %s", network, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.want])
				}
				if got := addrs(r); !slices.Equal(got, tt.wantAddrs) {
					t.Errorf("%s: answers: got %v; want %v", network, got, tt.wantAddrs)
				}
			}
			// The first query marked the dead upstream down: the second went to the good one
			// first, so the dead one was asked once (unless all are dead).
			first := metricValue(t, s.reg, "mep_dns_upstream_requests_total", map[string]string{"upstream": tt.upstreams[0]})
			if tt.want == dns.RcodeSuccess && first != 1 {
				t.Errorf("requests to the failed first upstream: got %v; want 1 (skipped while backing off)", first)
			}
		})
	}
}

func TestServfailNotCached(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	good := answerAll("192.0.2.8", 300)
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		if fail.Load() {
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeServerFailure)
			_ = w.WriteMsg(m)
			return
		}
		good(w, r)
	})
	clock := newFakeClock()
	s := startServer(t, Config{Upstreams: []string{up.addr}, UpstreamBackoff: time.Millisecond, Now: clock.Now}, nil)
	if r := ask(t, "udp", s.udp, "flaky.test.", dns.TypeA, 0); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode with failing upstream: got %s; want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	fail.Store(false)
	clock.Add(5 * time.Millisecond) // past the upstream's backoff
	if got := addrs(ask(t, "udp", s.udp, "flaky.test.", dns.TypeA, 0)); !slices.Equal(got, []string{"192.0.2.8"}) {
		t.Errorf("answer after the upstream recovered: got %v; want [192.0.2.8]", got)
	}
}

func TestRefused(t *testing.T) {
	up := startUpstream(t, answerAll("192.0.2.1", 300))
	local := rule("app-1", "r1", "local.test", "10.1.1.1")
	tests := []struct {
		name  string
		cfg   Config
		from  string
		qname string
		want  int
		ra    bool
	}{
		{"outside allowed clients", Config{Upstreams: []string{up.addr}, AllowedClients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "", "remote.test.", dns.RcodeRefused, false},
		{"rule answered outside allowed clients", Config{Upstreams: []string{up.addr}, AllowedClients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "", "local.test.", dns.RcodeSuccess, false},
		{"no upstreams", Config{}, "", "remote.test.", dns.RcodeRefused, false},
		{"default allows loopback", Config{Upstreams: []string{up.addr}}, "127.0.0.2", "remote.test.", dns.RcodeSuccess, true},
		{"other loopback address outside /32", Config{Upstreams: []string{up.addr}, AllowedClients: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, "127.0.0.3", "remote.test.", dns.RcodeRefused, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.cfg, []Rule{local})
			before := up.queries.Load()
			for _, network := range transports {
				r, err := exchange(network, s.udp, tt.qname, dns.TypeA, 0, tt.from)
				if err != nil {
					t.Fatalf("%s: %v", network, err)
				}
				if r.Rcode != tt.want {
					t.Errorf("%s: rcode: got %s; want %s", network, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.want])
				}
				if r.RecursionAvailable != tt.ra {
					t.Errorf("%s: RA: got %v; want %v", network, r.RecursionAvailable, tt.ra)
				}
			}
			if tt.want == dns.RcodeRefused && up.queries.Load() != before {
				t.Errorf("upstream was asked for a refused query")
			}
		})
	}
}

// bigRules returns n A rules of one app instance for one name.
func bigRules(name string, n int) []Rule {
	var rules []Rule
	for i := range n {
		rules = append(rules, rule("app-big", fmt.Sprintf("r%03d", i), name, fmt.Sprintf("10.9.%d.%d", i/250, i%250+1)))
	}
	return rules
}

// resolve is what a stub resolver does: UDP first, TCP again when the answer is truncated.
func resolve(t *testing.T, addr, name string, qtype uint16, edns int) (first, final *dns.Msg) {
	t.Helper()
	first = ask(t, "udp", addr, name, qtype, edns)
	if !first.Truncated {
		return first, first
	}
	return first, ask(t, "tcp", addr, name, qtype, edns)
}

func TestTruncationAndTCPRetry(t *testing.T) {
	// The upstream honours the EDNS0 size it is asked with, so the forwarder must retry over
	// TCP to get all 100 AAAA records (about 2.8 kB).
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for i := range 100 {
			m.Answer = append(m.Answer, mustRR(fmt.Sprintf("%s 300 IN AAAA 2001:db8::%x", r.Question[0].Name, i+1)))
		}
		size := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
			m.SetEdns0(opt.UDPSize(), false)
		}
		if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
	})
	// The UDP answer cap is raised to MaxUDPSize, so that the client's EDNS0 size decides
	// (TestUDPAnswerCap covers the default cap).
	s := startServer(t, Config{Upstreams: []string{up.addr}, MaxUDPAnswer: DefaultMaxUDPSize}, bigRules("big.test", 60))

	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		edns      int
		wantTC    bool
		wantFinal int
	}{
		{"local no EDNS0 truncates at 512", "big.test.", dns.TypeA, 0, true, 60},
		{"local EDNS0 512", "big.test.", dns.TypeA, 512, true, 60},
		{"local EDNS0 1232 fits", "big.test.", dns.TypeA, 1232, false, 60},
		{"local EDNS0 4096 capped at MaxUDPSize still fits", "big.test.", dns.TypeA, 4096, false, 60},
		{"forwarded no EDNS0", "many.fwd.test.", dns.TypeAAAA, 0, true, 100},
		{"forwarded EDNS0 1232 still too big", "many.fwd.test.", dns.TypeAAAA, 1232, true, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, final := resolve(t, s.udp, tt.qname, tt.qtype, tt.edns)
			if first.Truncated != tt.wantTC {
				t.Errorf("TC over UDP: got %v; want %v", first.Truncated, tt.wantTC)
			}
			if tt.wantTC {
				limit := dns.MinMsgSize
				if tt.edns > dns.MinMsgSize {
					limit = min(tt.edns, DefaultMaxUDPSize)
				}
				first.Compress = true // the wire form was compressed
				if n := first.Len(); n > limit {
					t.Errorf("UDP answer size: got %d; want <= %d", n, limit)
				}
				if len(first.Answer) >= tt.wantFinal {
					t.Errorf("truncated answer has %d records; want fewer than %d", len(first.Answer), tt.wantFinal)
				}
			}
			if len(final.Answer) != tt.wantFinal || final.Truncated {
				t.Errorf("final answer: got %d records TC=%v; want %d, TC=false", len(final.Answer), final.Truncated, tt.wantFinal)
			}
		})
	}
	if got := metricValue(t, s.reg, "mep_dns_upstream_requests_total", map[string]string{"proto": "tcp", "result": "ok"}); got != 1 {
		t.Errorf("upstream TCP retries: got %v; want 1 (the UDP answer was truncated once, then cached)", got)
	}
}

func TestBadEDNSVersion(t *testing.T) {
	s := startServer(t, Config{}, []Rule{rule("a", "r", "v.test", "10.0.0.1")})
	m := new(dns.Msg)
	m.SetQuestion("v.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	r, err := dns.Exchange(m, s.udp)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeBadVers || len(r.Answer) != 0 {
		t.Errorf("got rcode %s with %d answers; want BADVERS and none", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
}

func TestConflicts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(app, id, domain, addr string, prio int, created time.Duration) Rule {
		r := rule(app, id, domain, addr)
		r.Priority, r.Created = prio, t0.Add(created)
		return r
	}
	tests := []struct {
		name       string
		rules      []Rule
		want       []string // A answers for shared.test
		wantWinner string
		wantLosers []string
		wantReason string
	}{
		{
			name:  "priority beats age",
			rules: []Rule{mk("old", "o1", "shared.test", "10.0.0.1", 5, 0), mk("new", "n1", "Shared.Test.", "10.0.0.2", 1, time.Hour)},
			want:  []string{"10.0.0.2"}, wantWinner: "new", wantLosers: []string{"old"}, wantReason: ReasonPriority,
		},
		{
			name:  "set priority beats unset",
			rules: []Rule{mk("old", "o1", "shared.test", "10.0.0.1", 0, 0), mk("new", "n1", "shared.test", "10.0.0.2", 9, time.Hour)},
			want:  []string{"10.0.0.2"}, wantWinner: "new", wantLosers: []string{"old"}, wantReason: ReasonPriority,
		},
		{
			name:  "older wins on equal priority",
			rules: []Rule{mk("new", "n1", "shared.test", "10.0.0.2", 0, time.Hour), mk("old", "o1", "shared.test", "10.0.0.1", 0, 0)},
			want:  []string{"10.0.0.1"}, wantWinner: "old", wantLosers: []string{"new"}, wantReason: ReasonCreated,
		},
		{
			name: "app instance id breaks a full tie",
			rules: []Rule{mk("b", "1", "shared.test", "10.0.0.2", 3, 0), mk("c", "1", "shared.test", "10.0.0.3", 3, 0),
				mk("a", "1", "shared.test", "10.0.0.1", 3, 0)},
			want: []string{"10.0.0.1"}, wantWinner: "a", wantLosers: []string{"b", "c"}, wantReason: ReasonAppInstanceID,
		},
		{
			name: "winner owns the domain for every type",
			rules: []Rule{mk("v4", "1", "shared.test", "10.0.0.1", 0, 0), mk("v6", "1", "shared.test", "2001:db8::1", 0, time.Minute),
				mk("v4", "2", "shared.test", "10.0.0.9", 0, time.Second)},
			want: []string{"10.0.0.1", "10.0.0.9"}, wantWinner: "v4", wantLosers: []string{"v6"}, wantReason: ReasonCreated,
		},
		{
			name:  "one instance with several rules is no conflict",
			rules: []Rule{mk("a", "1", "shared.test", "10.0.0.1", 0, 0), mk("a", "2", "shared.test", "10.0.0.2", 0, 0)},
			want:  []string{"10.0.0.1", "10.0.0.2"},
		},
	}
	s := startServer(t, Config{}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 { // the same input in any order gives the same result
				rules := slices.Clone(tt.rules)
				slices.Reverse(rules)
				s.SetRules(rules)
				if got := addrs(ask(t, "udp", s.udp, "shared.test.", dns.TypeA, 0)); !slices.Equal(got, tt.want) {
					t.Errorf("answers: got %v; want %v", got, tt.want)
				}
			}
			cs := s.Conflicts()
			if tt.wantWinner == "" {
				if len(cs) != 0 {
					t.Errorf("conflicts: got %+v; want none", cs)
				}
				return
			}
			if len(cs) != 1 {
				t.Fatalf("conflicts: got %d; want 1", len(cs))
			}
			c := cs[0]
			var losers []string
			for _, l := range c.Losers {
				losers = append(losers, l.AppInstanceID)
			}
			if c.Domain != "shared.test" || c.Winner.AppInstanceID != tt.wantWinner || !slices.Equal(losers, tt.wantLosers) || c.Reason != tt.wantReason {
				t.Errorf("conflict: got %s won by %s over %v (%s); want shared.test won by %s over %v (%s)",
					c.Domain, c.Winner.AppInstanceID, losers, c.Reason, tt.wantWinner, tt.wantLosers, tt.wantReason)
			}
			if got := metricValue(t, s.reg, "mep_dns_rule_conflicts", nil); got != 1 {
				t.Errorf("conflict gauge: got %v; want 1", got)
			}
		})
	}
	// The loser takes over when the winner's rules go away.
	s.SetRules([]Rule{mk("old", "o1", "shared.test", "10.0.0.1", 5, 0)})
	if got := addrs(ask(t, "udp", s.udp, "shared.test.", dns.TypeA, 0)); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Errorf("after the winner left: got %v; want [10.0.0.1]", got)
	}
	if cs := s.Conflicts(); len(cs) != 0 {
		t.Errorf("conflicts after the winner left: got %+v; want none", cs)
	}
}

func TestClientSubnets(t *testing.T) {
	up := startUpstream(t, answerAll("192.0.2.50", 300))
	ue := rule("app-1", "r1", "edge.test", "10.0.0.1")
	ue.ClientSubnets = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("::ffff:127.0.5.0/120")}
	s := startServer(t, Config{Upstreams: []string{up.addr}}, []Rule{ue})
	tests := []struct {
		from string
		want string
		aa   bool
	}{
		{"127.0.0.2", "10.0.0.1", true},
		{"127.0.5.9", "10.0.0.1", true}, // mapped prefix matches the plain IPv4 client
		{"127.0.0.1", "192.0.2.50", false},
		{"127.0.0.3", "192.0.2.50", false},
	}
	for _, tt := range tests {
		for _, network := range transports {
			t.Run(tt.from+"/"+network, func(t *testing.T) {
				r, err := exchange(network, s.udp, "edge.test.", dns.TypeA, 0, tt.from)
				if err != nil {
					t.Fatal(err)
				}
				if got := addrs(r); !slices.Equal(got, []string{tt.want}) || r.Authoritative != tt.aa {
					t.Errorf("got %v AA=%v; want [%s] AA=%v", got, r.Authoritative, tt.want, tt.aa)
				}
			})
		}
	}
}

// TestRuleToggle is the DNS side of "Mp1 PUT state INACTIVE": the MEP calls SetRules without
// the rule and the name is forwarded at once (well within the 1 s of issue 3), and answered
// locally again when the rule comes back.
func TestRuleToggle(t *testing.T) {
	up := startUpstream(t, answerAll("192.0.2.80", 300))
	s := startServer(t, Config{Upstreams: []string{up.addr}, CacheSize: -1}, nil)
	active := []Rule{rule("app-1", "r1", "toggle.test", "10.0.0.1")}
	steps := []struct {
		name  string
		rules []Rule
		want  string
	}{
		{"no rule forwards", nil, "192.0.2.80"},
		{"ACTIVE answers locally", active, "10.0.0.1"},
		{"INACTIVE forwards", nil, "192.0.2.80"},
		{"ACTIVE again", active, "10.0.0.1"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			start := time.Now()
			s.SetRules(st.rules)
			for _, network := range transports {
				if got := addrs(ask(t, network, s.udp, "toggle.test.", dns.TypeA, 0)); !slices.Equal(got, []string{st.want}) {
					t.Errorf("%s: got %v; want [%s]", network, got, st.want)
				}
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("change took %v to show; want < 1s", d)
			}
		})
	}
}

// TestSetRulesUnderLoad swaps rule sets while clients query over UDP and TCP: every query
// must get an answer from either set, none may fail or time out.
func TestSetRulesUnderLoad(t *testing.T) {
	up := startUpstream(t, answerAll("192.0.2.200", 300))
	s := startServer(t, Config{Upstreams: []string{up.addr}}, nil)
	sets := [][]Rule{
		{rule("a", "1", "load.test", "10.0.0.1"), rule("a", "2", "other.test", "10.0.0.2")},
		{rule("b", "1", "load.test", "10.0.0.3")},
		nil, // forwarded
	}
	allowed := []string{"10.0.0.1", "10.0.0.3", "192.0.2.200"}
	s.SetRules(sets[0])
	stop := make(chan struct{})
	var queries, failures atomic.Int64
	var wg sync.WaitGroup
	for i := range 4 {
		network := transports[i%2]
		wg.Go(func() {
			m := new(dns.Msg)
			m.SetQuestion("load.test.", dns.TypeA)
			c := &dns.Client{Net: network, Timeout: 2 * time.Second}
			conn, err := c.Dial(s.udp)
			if err != nil {
				failures.Add(1)
				t.Errorf("dial: %v", err)
				return
			}
			defer func() { conn.Close() }()
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if network == "tcp" && n%50 == 0 { // stay under MaxTCPQueries
					conn.Close()
					if conn, err = c.Dial(s.udp); err != nil {
						failures.Add(1)
						return
					}
				}
				m.Id = dns.Id()
				r, _, err := c.ExchangeWithConn(m, conn)
				queries.Add(1)
				if err != nil || r.Rcode != dns.RcodeSuccess || len(addrs(r)) != 1 || !slices.Contains(allowed, addrs(r)[0]) {
					if failures.Add(1) <= 5 {
						t.Errorf("%s query: got %v err %v", network, r, err)
					}
				}
			}
		})
	}
	swaps := 0
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); swaps++ {
		s.SetRules(sets[swaps%len(sets)])
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Errorf("failed queries: got %d of %d; want 0", f, queries.Load())
	}
	if q := queries.Load(); q < 100 {
		t.Errorf("queries during %d swaps: got %d; want at least 100", swaps, q)
	}
	t.Logf("%d queries during %d rule swaps", queries.Load(), swaps)
}
