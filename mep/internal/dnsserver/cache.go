package dnsserver

import (
	"container/list"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// cacheKey identifies a forwarded question. Name is canonical; DO and CD change the answer.
type cacheKey struct {
	name   string
	qtype  uint16
	qclass uint16
	do, cd bool
}

// cacheEntry is one cached upstream answer.
type cacheEntry struct {
	key     cacheKey
	msg     *dns.Msg // never modified after insertion
	stored  time.Time
	expires time.Time
}

// cache is a size-bounded LRU of upstream answers that expire with their TTL.
type cache struct {
	mu      sync.Mutex
	max     int
	maxTTL  time.Duration
	negTTL  time.Duration
	entries map[cacheKey]*list.Element
	lru     list.List // front: most recently used
}

func newCache(size int, maxTTL, negTTL time.Duration) *cache {
	return &cache{max: size, maxTTL: maxTTL, negTTL: negTTL, entries: map[cacheKey]*list.Element{}}
}

// get returns the cached answer for k with TTLs lowered by its age, or nil. The returned
// message is a private copy.
func (c *cache) get(k cacheKey, now time.Time) *dns.Msg {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	el := c.entries[k]
	if el == nil {
		c.mu.Unlock()
		return nil
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, k)
		c.mu.Unlock()
		return nil
	}
	c.lru.MoveToFront(el)
	c.mu.Unlock()
	age := uint32(now.Sub(e.stored) / time.Second)
	m := e.msg.Copy()
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return m
}

// put stores m (which the cache then owns) for its TTL; answers that must not be cached are
// ignored.
func (c *cache) put(k cacheKey, m *dns.Msg, now time.Time) {
	if c == nil {
		return
	}
	ttl, ok := c.ttl(m)
	if !ok {
		return
	}
	e := &cacheEntry{key: k, msg: m, stored: now, expires: now.Add(ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.entries[k]; el != nil {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.entries[k] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
	}
}

// len returns the number of entries, expired ones included.
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// ttl is how long m may be cached: the smallest TTL of its records (RFC 2181 §5.2), capped;
// for negative answers the SOA's TTL and MINIMUM (RFC 2308 §5), capped at the negative TTL.
func (c *cache) ttl(m *dns.Msg) (time.Duration, bool) {
	if m.Truncated || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) {
		return 0, false
	}
	if m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0 {
		lowest := uint32(maxRuleTTL)
		for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range sec {
				if rr.Header().Rrtype == dns.TypeOPT {
					continue
				}
				lowest = min(lowest, rr.Header().Ttl)
			}
		}
		d := min(time.Duration(lowest)*time.Second, c.maxTTL)
		return d, d > 0
	}
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			d := min(time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second, c.negTTL, c.maxTTL)
			return d, d > 0
		}
	}
	return 0, false
}
