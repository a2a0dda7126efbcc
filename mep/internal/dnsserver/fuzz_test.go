package dnsserver

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fuzzServer is a Server with rules (plain, per-subnet, conflicting) and a live in-process
// upstream, not serving sockets: the fuzz targets drive its query path directly.
func fuzzServer(f *testing.F) *Server {
	up := startUpstream(f, answerAll("192.0.2.1", 60))
	s, err := New(Config{Addr: "127.0.0.1:0", Upstreams: []string{up.addr}, UpstreamTimeout: 500 * time.Millisecond}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	ue := rule("a", "2", "ue.test", "10.0.0.2")
	ue.ClientSubnets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/30")}
	rules := []Rule{rule("a", "1", "app.test", "10.0.0.1"), rule("a", "1b", "app.test", "2001:db8::1"), ue,
		rule("b", "3", "app.test", "10.0.0.3")}
	rules = append(rules, bigRules("big.test", 80)...)
	s.SetRules(rules)
	return s
}

// seedQueries are well-formed and borderline queries used as seeds.
func seedQueries(f *testing.F) [][]byte {
	var out [][]byte
	add := func(name string, qtype uint16, tweak func(*dns.Msg)) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if tweak != nil {
			tweak(m)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	add("app.test.", dns.TypeA, nil)
	add("APP.TEST.", dns.TypeAAAA, func(m *dns.Msg) { m.SetEdns0(4096, true) })
	add("app.test.", dns.TypeMX, nil)
	add("app.test.", dns.TypeANY, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassANY })
	add("ue.test.", dns.TypeA, nil)
	add("big.test.", dns.TypeA, nil)
	add("big.test.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(600, false) })
	add("fwd.test.", dns.TypeA, func(m *dns.Msg) { m.CheckingDisabled = true })
	add("nx.fwd.test.", dns.TypeA, nil)
	add("app.test.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) })
	add("app.test.", dns.TypeA, func(m *dns.Msg) {
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
	})
	add("app.test.", dns.TypeAXFR, nil)
	add("app.test.", dns.TypeA, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify })
	add("a\\.b\\000c.app.test.", dns.TypeA, nil)
	return out
}

// FuzzQuery runs arbitrary packets through the server's query path as the socket loop does
// (header screen, parse, respond, truncate, pack) and checks the answer is well-formed, fits
// the transport, matches the query, and comes back in bounded time.
func FuzzQuery(f *testing.F) {
	for i, q := range seedQueries(f) {
		f.Add(q, byte(i%4+1), i%2 == 0)
	}
	f.Add([]byte{}, byte(1), false)
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, byte(1), true)
	s := fuzzServer(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, pkt []byte, host byte, tcp bool) {
		// Clients 127.0.0.1-3 are in the UE subnet and allowed to recurse; 10.0.0.x is neither.
		client := netip.AddrFrom4([4]byte{127, 0, 0, host})
		if host >= 128 {
			client = netip.AddrFrom4([4]byte{10, 0, 0, host})
		}
		h, ok := parseHeader(pkt)
		if !ok {
			return // the socket loop drops packets shorter than a header
		}
		if acceptHeader(h) != dns.MsgAccept {
			return // answered by miekg/dns with a header-only FORMERR/NOTIMP, or dropped
		}
		req := new(dns.Msg)
		if err := req.Unpack(pkt); err != nil {
			return // answered by miekg/dns with FORMERR
		}
		start := time.Now()
		resp, source := s.respond(ctx, req, client)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("respond took %v", d)
		}
		size := s.replySize(req, tcp)
		resp.Truncate(size)
		b, err := resp.Pack()
		if err != nil {
			t.Fatalf("pack answer (%s, rcode %d): %v\n%v", source, resp.Rcode, err, resp)
		}
		if len(b) > size {
			t.Fatalf("answer is %d bytes; the client takes %d", len(b), size)
		}
		var back dns.Msg
		if err := back.Unpack(b); err != nil {
			t.Fatalf("answer does not parse back: %v", err)
		}
		if back.Id != req.Id || !back.Response || len(back.Question) != len(req.Question) {
			t.Fatalf("answer header does not match the query:\n%v\nquery:\n%v", &back, req)
		}
		if len(req.Question) != 1 {
			// A header that promises a question the packet lacks parses to none.
			if back.Rcode != dns.RcodeFormatError {
				t.Fatalf("query with %d questions: got rcode %s; want FORMERR", len(req.Question), dns.RcodeToString[back.Rcode])
			}
			return
		}
		if back.Question[0] != req.Question[0] {
			t.Fatalf("answer question %v; want %v", back.Question[0], req.Question[0])
		}
		if (req.IsEdns0() != nil) != (back.IsEdns0() != nil) {
			t.Fatalf("EDNS0 in query %v, in answer %v", req.IsEdns0() != nil, back.IsEdns0() != nil)
		}
		if source == sourceLocal {
			if !back.Authoritative {
				t.Fatalf("local answer without AA")
			}
			for _, rr := range back.Answer {
				if !strings.EqualFold(rr.Header().Name, req.Question[0].Name) {
					t.Fatalf("local answer owner %q for question %q", rr.Header().Name, req.Question[0].Name)
				}
			}
		}
		if host >= 128 && source != sourceLocal && back.Rcode != dns.RcodeRefused && back.Rcode != dns.RcodeNotImplemented &&
			back.Rcode != dns.RcodeFormatError && back.Rcode != dns.RcodeBadVers {
			t.Fatalf("client outside AllowedClients got rcode %s from %s; want REFUSED", dns.RcodeToString[back.Rcode], source)
		}
	})
}

// FuzzRuleDomain feeds arbitrary domainName strings (they come from AppDs and Mp1 bodies)
// through SetRules: invalid ones are skipped, valid ones are answered for the same name.
func FuzzRuleDomain(f *testing.F) {
	for _, d := range []string{"app.test", "App.Test.", "", ".", "a..b", "a b", strings.Repeat("a", 64), "\\065pp.test",
		"xn--bcher-kva.example", "_svc._tcp.test", "*.wild.test", "\x00", "a.b\\.c"} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, domain string) {
		tab, errs := buildTable([]Rule{{AppInstanceID: "a", RuleID: "1", Domain: domain, Addr: netip.MustParseAddr("10.0.0.1")}}, 60)
		if len(errs) > 0 {
			if tab.rules != 0 {
				t.Fatalf("invalid rule %q counted", domain)
			}
			return
		}
		name := dns.CanonicalName(strings.TrimSpace(domain))
		rrs, ok := tab.lookup(name, netip.MustParseAddr("127.0.0.1"))
		if !ok || len(rrs) != 1 {
			t.Fatalf("valid rule %q not found under %q", domain, name)
		}
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Answer = []dns.RR{dns.Copy(rrs[0].rr)}
		if _, err := m.Pack(); err != nil {
			t.Logf("rule %q accepted but its answer does not pack: %v", domain, err)
			t.Fail()
		}
	})
}
