package auth

import (
	"sync"
	"time"
)

// Limiter slows down guessing at the token endpoint: every failed token request takes one
// token from a bucket per key (the client id, the source address), and a key whose bucket
// is empty is refused until it refills. Successful requests cost nothing, so an app that
// knows its secret is never slowed by its own traffic; a guesser gets Burst tries, then one
// per Every.
type Limiter struct {
	// Burst is the number of failures a key may have in a row (default 10).
	Burst int
	// Every is the time one failure takes to be forgiven (default 6 s: 10 a minute).
	Every time.Duration
	// MaxKeys bounds the keys held (default 10,000): when full, refilled buckets are
	// dropped first, then all of them (a flood of source addresses must not grow memory).
	MaxKeys int
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func (l *Limiter) defaults() {
	if l.Burst == 0 {
		l.Burst = 10
	}
	if l.Every == 0 {
		l.Every = 6 * time.Second
	}
	if l.MaxKeys == 0 {
		l.MaxKeys = 10000
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
}

// refill returns the bucket of key brought up to now (nil: a full bucket, not held).
func (l *Limiter) refill(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		return nil
	}
	b.tokens += float64(now.Sub(b.at)) / float64(l.Every)
	b.at = now
	if b.tokens >= float64(l.Burst) {
		delete(l.buckets, key)
		return nil
	}
	return b
}

// Wait returns how long the caller must wait before a request under any of keys may be
// tried again (0: now).
func (l *Limiter) Wait(keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.defaults()
	now := l.Now()
	var wait time.Duration
	for _, k := range keys {
		if b := l.refill(k, now); b != nil && b.tokens < 1 {
			wait = max(wait, time.Duration((1-b.tokens)*float64(l.Every)))
		}
	}
	return wait
}

// Fail records a failed request under every key.
func (l *Limiter) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.defaults()
	now := l.Now()
	for _, k := range keys {
		b := l.refill(k, now)
		if b == nil {
			if len(l.buckets) >= l.MaxKeys {
				l.evict(now)
			}
			b = &bucket{tokens: float64(l.Burst), at: now}
			l.buckets[k] = b
		}
		b.tokens = max(b.tokens-1, 0)
	}
}

func (l *Limiter) evict(now time.Time) {
	for k := range l.buckets {
		l.refill(k, now)
	}
	if len(l.buckets) >= l.MaxKeys {
		clear(l.buckets)
	}
}
