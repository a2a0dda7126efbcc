package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
)

// errBusy means MaxForwards queries already wait on upstreams.
var errBusy = errors.New("too many queries waiting on upstreams")

// upstream is one configured resolver and its health.
type upstream struct {
	addr      string
	downUntil atomic.Int64 // unix nanoseconds; tried after healthy upstreams until then
}

// forwarder sends questions to the upstreams in order with failover, one request per question
// at a time (singleflight), at most maxForwards at once.
type forwarder struct {
	ups     []*upstream
	timeout time.Duration
	backoff time.Duration
	udpSize uint16
	udp     *dns.Client
	tcp     *dns.Client
	slots   chan struct{}
	flight  singleflight.Group
	log     *slog.Logger
	m       *metrics
	now     func() time.Time
}

func newForwarder(cfg Config, log *slog.Logger, m *metrics) *forwarder {
	f := &forwarder{
		timeout: cfg.UpstreamTimeout,
		backoff: cfg.UpstreamBackoff,
		udpSize: uint16(cfg.MaxUDPSize),
		udp:     &dns.Client{Net: "udp", Timeout: cfg.UpstreamTimeout, UDPSize: uint16(cfg.MaxUDPSize)},
		tcp:     &dns.Client{Net: "tcp", Timeout: cfg.UpstreamTimeout},
		slots:   make(chan struct{}, cfg.MaxForwards),
		log:     log,
		m:       m,
		now:     cfg.Now,
	}
	for _, a := range cfg.Upstreams {
		f.ups = append(f.ups, &upstream{addr: a})
	}
	return f
}

// resolve returns the upstream answer for k. Concurrent calls for the same key share one
// upstream exchange; the returned message is shared and must not be modified.
func (f *forwarder) resolve(ctx context.Context, k cacheKey) (*dns.Msg, error) {
	v, err, _ := f.flight.Do(flightKey(k), func() (any, error) {
		select {
		case f.slots <- struct{}{}:
		default:
			return nil, errBusy
		}
		defer func() { <-f.slots }()
		return f.exchange(ctx, k)
	})
	if err != nil {
		return nil, err
	}
	return v.(*dns.Msg), nil
}

func flightKey(k cacheKey) string {
	var b strings.Builder
	b.WriteString(k.name)
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(int(k.qtype)))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(int(k.qclass)))
	if k.do {
		b.WriteString("/do")
	}
	if k.cd {
		b.WriteString("/cd")
	}
	return b.String()
}

// order returns the upstreams to try: healthy ones in configured order, then those in backoff.
func (f *forwarder) order(now time.Time) []*upstream {
	out := make([]*upstream, 0, len(f.ups))
	var later []*upstream
	for _, u := range f.ups {
		if u.downUntil.Load() > now.UnixNano() {
			later = append(later, u)
			continue
		}
		out = append(out, u)
	}
	return append(out, later...)
}

// exchange asks the upstreams in order until one gives a usable answer.
func (f *forwarder) exchange(ctx context.Context, k cacheKey) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.Id = dns.Id()
	q.RecursionDesired = true
	q.CheckingDisabled = k.cd
	q.Question = []dns.Question{{Name: k.name, Qtype: k.qtype, Qclass: k.qclass}}
	q.SetEdns0(f.udpSize, k.do)
	var errs []error
	for _, u := range f.order(f.now()) {
		r, err := f.try(ctx, u, q)
		if err == nil {
			if u.downUntil.Swap(0) != 0 {
				f.log.InfoContext(ctx, "dns upstream recovered", slog.String(logkeys.Addr, u.addr))
			}
			return r, nil
		}
		errs = append(errs, err)
		if u.downUntil.Swap(f.now().Add(f.backoff).UnixNano()) == 0 {
			f.log.WarnContext(ctx, "dns upstream failed", slog.String(logkeys.Addr, u.addr), slog.Any(logkeys.Error, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("no upstreams configured")
	}
	return nil, fmt.Errorf("all upstreams failed: %w", errors.Join(errs...))
}

// try asks one upstream, over UDP and then over TCP when the UDP answer is truncated.
func (f *forwarder) try(ctx context.Context, u *upstream, q *dns.Msg) (*dns.Msg, error) {
	r, err := f.once(ctx, f.udp, u, q)
	if err == nil && r.Truncated {
		r, err = f.once(ctx, f.tcp, u, q)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", u.addr, err)
	}
	return r, nil
}

// once does one exchange and checks the answer belongs to the question.
func (f *forwarder) once(ctx context.Context, c *dns.Client, u *upstream, q *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	r, _, err := c.ExchangeContext(ctx, q, u.addr)
	result := "ok"
	defer func() { f.m.upstream.WithLabelValues(u.addr, c.Net, result).Inc() }()
	switch {
	case err != nil:
		result = "error"
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			result = "timeout"
		}
		return nil, err
	case !r.Response || len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, q.Question[0].Name) ||
		r.Question[0].Qtype != q.Question[0].Qtype || r.Question[0].Qclass != q.Question[0].Qclass:
		result = "mismatch"
		return nil, errors.New("answer does not match the question")
	case r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused || r.Rcode == dns.RcodeNotImplemented ||
		r.Rcode == dns.RcodeFormatError || r.Rcode > 0xF:
		result = "rcode"
		return nil, fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	return r, nil
}
