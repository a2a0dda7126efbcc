package dnsserver

import (
	"net/netip"
	"sync"
	"time"
)

// Prefix lengths that group clients for response rate limiting: one IPv4 /24 or one IPv6 /56
// is one client, as in BIND's RRL defaults, so that forging addresses from a victim's network
// does not multiply the allowance.
const (
	rrlPrefixV4 = 24
	rrlPrefixV6 = 56
	// rrlMaxPrefixes bounds the buckets kept; beyond it the idle ones are forgotten.
	rrlMaxPrefixes = 1 << 16
)

// verdict is the decision of the rate limiter on one answer.
type verdict int

const (
	verdictSend verdict = iota // within the rate: answer normally
	verdictDrop                // over the rate: send nothing
	verdictSlip                // over the rate: send an empty answer with TC
)

// rateLimiter is response rate limiting (RRL) for UDP answers: a token bucket per client
// prefix, refilled at rate per second up to burst. It is safe for concurrent use.
type rateLimiter struct {
	rate, burst float64
	slip        int
	exempt      []netip.Prefix

	mu      sync.Mutex
	buckets map[netip.Prefix]*bucket
}

// bucket is the allowance of one client prefix.
type bucket struct {
	tokens  float64
	last    time.Time
	limited int // answers limited since the last slip
}

// newRateLimiter returns the limiter of cfg (defaults applied), or nil when rate limiting is off.
func newRateLimiter(cfg Config) *rateLimiter {
	if cfg.RateLimit < 0 {
		return nil
	}
	exempt := make([]netip.Prefix, len(cfg.RateLimitExempt))
	for i, p := range cfg.RateLimitExempt {
		exempt[i] = unmapPrefix(p)
	}
	return &rateLimiter{rate: float64(cfg.RateLimit), burst: 2 * float64(cfg.RateLimit), slip: cfg.RateLimitSlip,
		exempt: exempt, buckets: map[netip.Prefix]*bucket{}}
}

// clientPrefix is the prefix a client is limited as.
func clientPrefix(a netip.Addr, v4, v6 int) netip.Prefix {
	bits := v6
	if a.Is4() {
		bits = v4
	}
	p, _ := a.Prefix(bits)
	return p
}

// check spends one token of client's prefix at now and says what to do with the answer.
// A nil limiter sends everything.
func (l *rateLimiter) check(client netip.Addr, now time.Time) verdict {
	if l == nil || !client.IsValid() {
		return verdictSend
	}
	for _, p := range l.exempt {
		if p.Contains(client) {
			return verdictSend
		}
	}
	key := clientPrefix(client, rrlPrefixV4, rrlPrefixV6)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= rrlMaxPrefixes {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return verdictSend
	}
	if l.slip < 0 {
		return verdictDrop
	}
	b.limited++
	if b.limited >= l.slip {
		b.limited = 0
		return verdictSlip
	}
	return verdictDrop
}

// prune forgets the buckets that have refilled completely (their prefix sent nothing for a
// while); if every bucket is in use, it forgets them all rather than grow without bound.
// Called with mu held; afterwards at least a quarter of rrlMaxPrefixes new prefixes fit
// before the next prune, so its cost is spread over them.
func (l *rateLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= rrlMaxPrefixes*3/4 {
		clear(l.buckets)
	}
}
