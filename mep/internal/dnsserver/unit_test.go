package dnsserver

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string // substrings; nil means valid
	}{
		{"zero value", Config{}, nil},
		{"full", Config{Addr: "[::]:5353", Upstreams: []string{"192.0.2.1:53", "[2001:db8::1]:53"}, UpstreamTimeout: time.Second,
			AllowedClients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, DefaultTTL: 30, CacheSize: 100, MaxUDPSize: 4096}, nil},
		{"port 0 listener", Config{Addr: "127.0.0.1:0"}, nil},
		{"bad addr", Config{Addr: "localhost"}, []string{"dns addr"}},
		{"upstream without host", Config{Upstreams: []string{":53"}}, []string{"dns upstream 0", "missing host"}},
		{"upstream port 0", Config{Upstreams: []string{"192.0.2.1:0"}}, []string{"port 0"}},
		{"upstream bad port", Config{Upstreams: []string{"192.0.2.1:dns"}}, []string{"port must be a number"}},
		{"too many upstreams", Config{Upstreams: make([]string, 17)}, []string{"at most 16"}},
		{"invalid prefix", Config{AllowedClients: []netip.Prefix{{}}}, []string{"allowed client 0"}},
		{"udp size", Config{MaxUDPSize: 100}, []string{"max udp size"}},
		{"negative limits", Config{MaxTCPConns: -1, MaxForwards: -2}, []string{"max tcp conns", "max forwards"}},
		{"negative timeout", Config{UpstreamTimeout: -time.Second}, []string{"upstream timeout"}},
		{"ttl", Config{DefaultTTL: 1 << 31}, []string{"default ttl"}},
		{"udp answer above udp size", Config{MaxUDPSize: 1000, MaxUDPAnswer: 1232}, []string{"max udp answer"}},
		{"udp answer below 512", Config{MaxUDPAnswer: 100}, []string{"max udp answer"}},
		{"udp answer up to the udp size", Config{MaxUDPSize: 4096, MaxUDPAnswer: 4096}, nil},
		{"negative per-client tcp", Config{MaxTCPPerClient: -1}, []string{"max tcp conns per client"}},
		{"rate limit off", Config{RateLimit: -1, RateLimitSlip: -1}, nil},
		{"rate limit too high", Config{RateLimit: 1 << 21}, []string{"dns rate limit"}},
		{"slip too high", Config{RateLimitSlip: 101}, []string{"rate limit slip"}},
		{"invalid exempt prefix", Config{RateLimitExempt: []netip.Prefix{{}}}, []string{"rate limit exempt 0"}},
		{"all problems at once", Config{Addr: "x", MaxUDPSize: 1, ReadTimeout: -1}, []string{"dns addr", "max udp size", "read timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("got %v; want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got nil; want an error mentioning %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q; want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Addr != ":53" || c.UpstreamTimeout != 2*time.Second || c.DefaultTTL != 60 || c.CacheSize != 10000 ||
		c.MaxUDPSize != 1232 || c.MaxTCPConns != 256 || len(c.AllowedClients) != 2 || c.MaxTCPPerClient != 16 ||
		c.MaxUDPAnswer != 512 || c.RateLimit != 200 || c.RateLimitSlip != 2 || len(c.RateLimitExempt) != 2 {
		t.Errorf("defaults: got %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestBuildTableSkipsInvalid(t *testing.T) {
	good := rule("a", "ok", "ok.test", "10.0.0.1")
	tests := []struct {
		name string
		r    Rule
		want string
	}{
		{"no app instance", Rule{RuleID: "x", Domain: "x.test", Addr: netip.MustParseAddr("10.0.0.1")}, "empty app instance id"},
		{"empty domain", Rule{AppInstanceID: "a", RuleID: "x", Addr: netip.MustParseAddr("10.0.0.1")}, "empty"},
		{"root domain", Rule{AppInstanceID: "a", RuleID: "x", Domain: ".", Addr: netip.MustParseAddr("10.0.0.1")}, "empty"},
		{"label too long", Rule{AppInstanceID: "a", RuleID: "x", Domain: strings.Repeat("a", 64) + ".test", Addr: netip.MustParseAddr("10.0.0.1")}, "not a domain name"},
		{"space in name", Rule{AppInstanceID: "a", RuleID: "x", Domain: "a b.test", Addr: netip.MustParseAddr("10.0.0.1")}, "not a domain name"},
		{"no address", Rule{AppInstanceID: "a", RuleID: "x", Domain: "x.test"}, "missing ip address"},
		{"bad subnet", Rule{AppInstanceID: "a", RuleID: "x", Domain: "x.test", Addr: netip.MustParseAddr("10.0.0.1"), ClientSubnets: []netip.Prefix{{}}}, "invalid client subnet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, errs := buildTable([]Rule{good, tt.r}, 60)
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.want) {
				t.Errorf("errors: got %v; want one mentioning %q", errs, tt.want)
			}
			if tab.rules != 1 {
				t.Errorf("valid rules: got %d; want 1", tab.rules)
			}
			if _, ok := tab.lookup("ok.test.", netip.MustParseAddr("127.0.0.1")); !ok {
				t.Errorf("the valid rule is not answered")
			}
		})
	}
}

func TestRuleOrderWithinInstance(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := func(id string, prio int, age time.Duration, addr string) Rule {
		x := rule("a", id, "o.test", addr)
		x.Priority, x.Created = prio, t0.Add(age)
		return x
	}
	tab, _ := buildTable([]Rule{r("z", 0, 0, "10.0.0.4"), r("b", 2, time.Hour, "10.0.0.2"), r("a", 2, time.Hour, "10.0.0.1"),
		r("c", 0, -time.Hour, "10.0.0.3"), r("d", 1, 2*time.Hour, "10.0.0.0")}, 60)
	rrs, _ := tab.lookup("o.test.", netip.MustParseAddr("10.1.1.1"))
	var got []string
	for _, l := range rrs {
		got = append(got, l.ruleID)
	}
	if want := "d a b c z"; strings.Join(got, " ") != want {
		t.Errorf("order: got %v; want %s (priority, created, rule id)", got, want)
	}
}

func TestCacheTTL(t *testing.T) {
	c := newCache(10, time.Hour, 5*time.Minute)
	msg := func(rcode int, rrs ...string) *dns.Msg {
		m := new(dns.Msg)
		m.Rcode = rcode
		for _, s := range rrs {
			rr := mustRR(s)
			if rr.Header().Rrtype == dns.TypeSOA {
				m.Ns = append(m.Ns, rr)
			} else {
				m.Answer = append(m.Answer, rr)
			}
		}
		return m
	}
	tests := []struct {
		name string
		m    *dns.Msg
		want time.Duration // 0: not cached
	}{
		{"lowest TTL wins", msg(dns.RcodeSuccess, "a.test. 300 IN A 1.1.1.1", "a.test. 30 IN A 1.1.1.2"), 30 * time.Second},
		{"capped at max TTL", msg(dns.RcodeSuccess, "a.test. 86400 IN A 1.1.1.1"), time.Hour},
		{"TTL 0 not cached", msg(dns.RcodeSuccess, "a.test. 0 IN A 1.1.1.1"), 0},
		{"NXDOMAIN with SOA uses its minimum", msg(dns.RcodeNameError, "test. 3600 IN SOA ns. h. 1 2 3 4 120"), 2 * time.Minute},
		{"NXDOMAIN SOA TTL lower than minimum", msg(dns.RcodeNameError, "test. 10 IN SOA ns. h. 1 2 3 4 120"), 10 * time.Second},
		{"negative capped", msg(dns.RcodeNameError, "test. 86400 IN SOA ns. h. 1 2 3 4 86400"), 5 * time.Minute},
		{"NODATA with SOA", msg(dns.RcodeSuccess, "test. 60 IN SOA ns. h. 1 2 3 4 60"), time.Minute},
		{"NXDOMAIN without SOA", msg(dns.RcodeNameError), 0},
		{"SERVFAIL", msg(dns.RcodeServerFailure), 0},
		{"truncated", func() *dns.Msg { m := msg(dns.RcodeSuccess, "a.test. 30 IN A 1.1.1.1"); m.Truncated = true; return m }(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.ttl(tt.m)
			if !ok {
				got = 0
			}
			if got != tt.want {
				t.Errorf("got %v; want %v", got, tt.want)
			}
		})
	}
}

func TestCacheLRUAndExpiry(t *testing.T) {
	c := newCache(2, time.Hour, time.Hour)
	now := time.Now()
	m := func(ttl string) *dns.Msg {
		x := new(dns.Msg)
		x.Answer = []dns.RR{mustRR("a.test. " + ttl + " IN A 1.1.1.1")}
		return x
	}
	k := func(n string) cacheKey { return cacheKey{name: n, qtype: dns.TypeA, qclass: dns.ClassINET} }
	c.put(k("a"), m("10"), now)
	c.put(k("b"), m("10"), now)
	if c.get(k("a"), now) == nil { // a is now most recently used
		t.Fatal("a: got miss; want hit")
	}
	c.put(k("c"), m("10"), now)
	if c.get(k("b"), now) != nil {
		t.Errorf("b: got hit; want evicted as least recently used")
	}
	if c.len() != 2 {
		t.Errorf("len: got %d; want 2", c.len())
	}
	got := c.get(k("a"), now.Add(4*time.Second))
	if got == nil || got.Answer[0].Header().Ttl != 6 {
		t.Errorf("a after 4s: got %v; want TTL 6", got)
	}
	if c.get(k("a"), now.Add(10*time.Second)) != nil {
		t.Errorf("a after its TTL: got hit; want miss")
	}
	if c.get(k("a"), now) != nil {
		t.Errorf("expired entry not removed")
	}
	if c.get(cacheKey{name: "c", qtype: dns.TypeA, qclass: dns.ClassINET, do: true}, now) != nil {
		t.Errorf("DO bit not part of the key")
	}
}
