package dnsserver

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultAddr              = ":53"
	DefaultUpstreamTimeout   = 2 * time.Second
	DefaultUpstreamBackoff   = 5 * time.Second
	DefaultRuleTTL           = 60
	DefaultCacheSize         = 10000
	DefaultCacheMaxTTL       = time.Hour
	DefaultCacheNegativeTTL  = 5 * time.Minute
	DefaultMaxUDPSize        = 1232
	DefaultMaxTCPConns       = 256
	DefaultMaxTCPPerClient   = 16
	DefaultMaxUDPAnswer      = 512
	DefaultRateLimit         = 200
	DefaultRateLimitSlip     = 2
	DefaultMaxTCPQueries     = 128
	DefaultReadTimeout       = 2 * time.Second
	DefaultWriteTimeout      = 2 * time.Second
	DefaultTCPIdleTimeout    = 8 * time.Second
	DefaultMaxForwards       = 512
	DefaultShutdownTimeout   = 5 * time.Second
	maxRuleTTL               = 1<<31 - 1 // RFC 2181 §8
	maxCacheSize             = 10_000_000
	maxConcurrencyLimit      = 1 << 20
	minUDPSize, maxUDPSize   = 512, 65535
	maxConfiguredUpstreams   = 16
	maxUpstreamTimeout       = time.Minute
	maxConfiguredIdleTimeout = 10 * time.Minute
)

// loopbackPrefixes is the default AllowedClients: only the host itself may use the forwarder.
func loopbackPrefixes() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// Addr is the host:port the server listens on for both UDP and TCP (default ":53").
	// Port 0 picks a free port, the same for UDP and TCP; see Server.Addr.
	Addr string
	// Upstreams are the host:port resolvers names without a rule are forwarded to, tried in
	// order with failover (at most 16). Empty means no forwarding: such names get REFUSED.
	Upstreams []string
	// UpstreamTimeout bounds one attempt at one upstream (default 2s).
	UpstreamTimeout time.Duration
	// UpstreamBackoff is how long an upstream that failed is tried only after the healthy ones
	// (default 5s), so a dead first upstream does not cost a timeout on every query.
	UpstreamBackoff time.Duration
	// AllowedClients are the networks whose queries are forwarded (recursion). Queries from
	// elsewhere for names without a rule get REFUSED. Nil means loopback only (127.0.0.0/8,
	// ::1); an empty non-nil slice means nobody. Rule answers do not depend on this: they go to
	// every client the rule's ClientSubnets allow.
	AllowedClients []netip.Prefix
	// DefaultTTL is the TTL of rule answers whose rule has no TTL (default 60 s).
	DefaultTTL uint32
	// CacheSize is the maximum number of forwarded answers kept (default 10000). The least
	// recently used entry is evicted first. Negative disables the cache.
	CacheSize int
	// CacheMaxTTL caps how long a forwarded answer is cached, whatever its TTL (default 1h).
	CacheMaxTTL time.Duration
	// CacheNegativeTTL caps how long NXDOMAIN/NODATA answers are cached (default 5m; RFC 2308
	// takes the TTL from the SOA in the authority section, answers without one are not cached).
	CacheNegativeTTL time.Duration
	// MaxUDPSize is the largest UDP answer sent and the EDNS0 buffer size advertised (default
	// 1232, the DNS flag day 2020 value; 512..65535). A client's smaller EDNS0 size is honoured.
	MaxUDPSize int
	// MaxTCPConns bounds concurrent TCP connections (default 256); further connections wait
	// in the listen backlog until one closes.
	MaxTCPConns int
	// MaxTCPPerClient bounds the concurrent TCP connections of one client (one IPv4 address,
	// one IPv6 /64) (default 16), so that one client cannot hold every MaxTCPConns slot; a
	// connection beyond it is closed at once and counted in mep_dns_dropped_total.
	MaxTCPPerClient int
	// MaxUDPAnswer is the largest answer sent over UDP, whatever EDNS0 buffer size the client
	// announces (default 512, at most MaxUDPSize): a larger answer is truncated with TC and the
	// client retries over TCP, whose handshake proves its address. It bounds how much a forged
	// source address can be amplified.
	MaxUDPAnswer int
	// RateLimit is response rate limiting (RRL) of UDP: the answers per second sent to one
	// client prefix (an IPv4 /24, an IPv6 /56), with bursts of twice that (default 200;
	// negative disables). Answers beyond it are dropped, except every RateLimitSlip-th, which
	// is sent as an empty truncated answer so that a real client retries over TCP (which is
	// not rate limited). Clients in RateLimitExempt are never limited.
	RateLimit int
	// RateLimitSlip is how many limited answers make one slipped (TC) answer (default 2;
	// 1 slips every one; negative never slips).
	RateLimitSlip int
	// RateLimitExempt are the networks response rate limiting ignores. Nil means loopback
	// (127.0.0.0/8, ::1), whose addresses cannot be forged from outside the host; an empty
	// non-nil slice means nobody.
	RateLimitExempt []netip.Prefix
	// MaxTCPQueries bounds the queries served on one TCP connection (default 128).
	MaxTCPQueries int
	// ReadTimeout bounds reading the first query of a TCP connection (default 2s).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one answer (default 2s).
	WriteTimeout time.Duration
	// TCPIdleTimeout closes a TCP connection idle that long between queries (default 8s,
	// RFC 7766 §6.2.3 suggests seconds).
	TCPIdleTimeout time.Duration
	// MaxForwards bounds the queries waiting on upstreams at once (default 512); beyond it
	// new forwards get SERVFAIL at once instead of piling up goroutines.
	MaxForwards int
	// ShutdownTimeout bounds the graceful drain when Run's context ends (default 5s).
	ShutdownTimeout time.Duration
	// Now is the clock of the answer cache's TTLs and of the upstreams' backoff (default
	// time.Now); tests inject one to move past a TTL without waiting.
	Now func() time.Time
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if c.UpstreamBackoff == 0 {
		c.UpstreamBackoff = DefaultUpstreamBackoff
	}
	if c.AllowedClients == nil {
		c.AllowedClients = loopbackPrefixes()
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = DefaultRuleTTL
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.CacheMaxTTL == 0 {
		c.CacheMaxTTL = DefaultCacheMaxTTL
	}
	if c.CacheNegativeTTL == 0 {
		c.CacheNegativeTTL = DefaultCacheNegativeTTL
	}
	if c.MaxUDPSize == 0 {
		c.MaxUDPSize = DefaultMaxUDPSize
	}
	if c.MaxTCPConns == 0 {
		c.MaxTCPConns = DefaultMaxTCPConns
	}
	if c.MaxTCPPerClient == 0 {
		c.MaxTCPPerClient = DefaultMaxTCPPerClient
	}
	if c.MaxUDPAnswer == 0 {
		c.MaxUDPAnswer = min(DefaultMaxUDPAnswer, c.MaxUDPSize)
	}
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateLimitSlip == 0 {
		c.RateLimitSlip = DefaultRateLimitSlip
	}
	if c.RateLimitExempt == nil {
		c.RateLimitExempt = loopbackPrefixes()
	}
	if c.MaxTCPQueries == 0 {
		c.MaxTCPQueries = DefaultMaxTCPQueries
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.TCPIdleTimeout == 0 {
		c.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if c.MaxForwards == 0 {
		c.MaxForwards = DefaultMaxForwards
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	return c
}

// Validate reports every problem with the configuration at once. Zero values are valid (they
// take the defaults); New validates the configuration after applying them.
func (c Config) Validate() error {
	var errs []error
	if c.Addr != "" {
		if err := validHostPort(c.Addr, true); err != nil {
			errs = append(errs, fmt.Errorf("dns addr: %w", err))
		}
	}
	if len(c.Upstreams) > maxConfiguredUpstreams {
		errs = append(errs, fmt.Errorf("dns upstreams: %d given, at most %d", len(c.Upstreams), maxConfiguredUpstreams))
	}
	for i, u := range c.Upstreams {
		if err := validHostPort(u, false); err != nil {
			errs = append(errs, fmt.Errorf("dns upstream %d: %w", i, err))
		}
	}
	for i, p := range c.AllowedClients {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("dns allowed client %d: invalid prefix", i))
		}
	}
	if c.DefaultTTL > maxRuleTTL {
		errs = append(errs, fmt.Errorf("dns default ttl %d: at most %d", c.DefaultTTL, maxRuleTTL))
	}
	if c.CacheSize > maxCacheSize {
		errs = append(errs, fmt.Errorf("dns cache size %d: at most %d", c.CacheSize, maxCacheSize))
	}
	if c.MaxUDPSize != 0 && (c.MaxUDPSize < minUDPSize || c.MaxUDPSize > maxUDPSize) {
		errs = append(errs, fmt.Errorf("dns max udp size %d: want %d..%d", c.MaxUDPSize, minUDPSize, maxUDPSize))
	}
	if c.MaxUDPAnswer != 0 {
		if udp := cmp.Or(c.MaxUDPSize, DefaultMaxUDPSize); c.MaxUDPAnswer < minUDPSize || c.MaxUDPAnswer > udp {
			errs = append(errs, fmt.Errorf("dns max udp answer %d: want %d..%d (the max udp size)", c.MaxUDPAnswer, minUDPSize, udp))
		}
	}
	if c.RateLimit > maxConcurrencyLimit {
		errs = append(errs, fmt.Errorf("dns rate limit %d: at most %d answers per second", c.RateLimit, maxConcurrencyLimit))
	}
	if c.RateLimitSlip > 100 {
		errs = append(errs, fmt.Errorf("dns rate limit slip %d: at most 100", c.RateLimitSlip))
	}
	for i, p := range c.RateLimitExempt {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("dns rate limit exempt %d: invalid prefix", i))
		}
	}
	for _, l := range []struct {
		name string
		v    int
	}{{"max tcp conns", c.MaxTCPConns}, {"max tcp conns per client", c.MaxTCPPerClient}, {"max tcp queries", c.MaxTCPQueries}, {"max forwards", c.MaxForwards}} {
		if l.v < 0 || l.v > maxConcurrencyLimit {
			errs = append(errs, fmt.Errorf("dns %s %d: want 1..%d (0 for the default)", l.name, l.v, maxConcurrencyLimit))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		max  time.Duration
	}{
		{"upstream timeout", c.UpstreamTimeout, maxUpstreamTimeout},
		{"upstream backoff", c.UpstreamBackoff, maxConfiguredIdleTimeout},
		{"cache max ttl", c.CacheMaxTTL, 7 * 24 * time.Hour},
		{"cache negative ttl", c.CacheNegativeTTL, 7 * 24 * time.Hour},
		{"read timeout", c.ReadTimeout, maxUpstreamTimeout},
		{"write timeout", c.WriteTimeout, maxUpstreamTimeout},
		{"tcp idle timeout", c.TCPIdleTimeout, maxConfiguredIdleTimeout},
		{"shutdown timeout", c.ShutdownTimeout, maxConfiguredIdleTimeout},
	} {
		if d.v < 0 || d.v > d.max {
			errs = append(errs, fmt.Errorf("dns %s %v: want 0..%v", d.name, d.v, d.max))
		}
	}
	return errors.Join(errs...)
}

// validHostPort checks a host:port; the host may be empty (all addresses) only for a listener
// and port 0 is allowed only for a listener.
func validHostPort(s string, listen bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	if host == "" && !listen {
		return fmt.Errorf("%q: missing host", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("%q: port must be a number 0..65535", s)
	}
	if n == 0 && !listen {
		return fmt.Errorf("%q: port 0", s)
	}
	return nil
}
