package dnsserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
)

// Server is the site DNS server. Create it with New, load rules with SetRules, serve with Run.
type Server struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	rules   atomic.Pointer[ruleTable]
	cache   *cache
	fwd     *forwarder
	rrl     *rateLimiter
	pc      net.PacketConn
	ln      *limitListener
	started atomic.Bool
	closeMu sync.Mutex
	closed  bool
}

// New validates cfg, applies the defaults and binds the UDP and TCP sockets, so that a busy
// port fails here and Addr is known before Run. The server answers nothing until Run; call
// Close instead of Run to release the sockets. reg may be nil (no metrics registered).
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dns server config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	cfg.AllowedClients = slices.Clone(cfg.AllowedClients)
	cfg.RateLimitExempt = slices.Clone(cfg.RateLimitExempt)
	for i, p := range cfg.AllowedClients {
		cfg.AllowedClients[i] = unmapPrefix(p)
	}
	s := &Server{cfg: cfg, log: logger}
	if cfg.CacheSize > 0 {
		s.cache = newCache(cfg.CacheSize, cfg.CacheMaxTTL, cfg.CacheNegativeTTL)
	}
	m, err := newMetrics(reg, func() float64 { return float64(s.cache.len()) })
	if err != nil {
		return nil, err
	}
	s.m = m
	s.fwd = newForwarder(cfg, logger, m)
	s.rules.Store(&ruleTable{domains: map[string]*domain{}})
	pc, ln, err := listen(cfg.Addr)
	if err != nil {
		return nil, err
	}
	s.pc = pc
	s.ln = newLimitListener(ln, cfg.MaxTCPConns, cfg.MaxTCPPerClient, m.tcpConns, m.dropped.WithLabelValues(dropTCPPerClient))
	s.rrl = newRateLimiter(cfg)
	return s, nil
}

// listen binds UDP and TCP on addr; with port 0 both get the same free port.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns listen %s: %w", addr, err)
	}
	var errs []error
	for range 10 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns listen udp %s: %w", addr, err)
		}
		tcpAddr := addr
		if port == "0" {
			tcpAddr = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		}
		ln, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		errs = append(errs, err)
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, nil, fmt.Errorf("dns listen tcp %s: %w", addr, errors.Join(errs...))
}

// Addr returns the bound UDP and TCP addresses.
func (s *Server) Addr() (udp, tcp net.Addr) {
	return s.pc.LocalAddr(), s.ln.Addr()
}

// SetRules replaces the whole rule set with rules (the ACTIVE rules of every app instance on
// the site). The new set answers the next query; queries in flight finish with the set they
// started with. Invalid rules are skipped and logged.
func (s *Server) SetRules(rules []Rule) {
	t, errs := buildTable(rules, s.cfg.DefaultTTL)
	old := s.rules.Swap(t)
	for _, err := range errs {
		s.log.Warn("dns rule skipped", slog.Any(logkeys.Error, err))
	}
	s.m.rules.Set(float64(t.rules))
	s.m.invalid.Set(float64(len(errs)))
	s.m.conflicts.Set(float64(len(t.conflicts)))
	known := map[string]string{}
	for _, c := range old.conflicts {
		known[c.Domain] = c.Winner.AppInstanceID
	}
	for _, c := range t.conflicts {
		if w, ok := known[c.Domain]; ok && w == c.Winner.AppInstanceID {
			continue
		}
		s.log.Warn("dns rule conflict", slog.String(logkeys.Name, c.Domain),
			slog.String(logkeys.AppInstanceID, c.Winner.AppInstanceID), slog.String(logkeys.Reason, c.Reason),
			slog.Int(logkeys.Count, len(c.Losers)+1))
	}
	s.log.Debug("dns rules set", slog.Int(logkeys.Count, t.rules))
}

// Conflicts returns the domains claimed by more than one app instance, sorted by domain, with
// the winner and losers of the resolution order in the package doc.
func (s *Server) Conflicts() []Conflict {
	return cloneConflicts(s.rules.Load().conflicts)
}

// Close releases the sockets of a server whose Run was never called. It is safe to call after
// Run returned.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return errors.Join(s.pc.Close(), s.ln.Close())
}

// Run serves UDP and TCP until ctx ends, then shuts down gracefully:
//
//  1. stop reading new queries (UDP read deadline, TCP listener closed, idle TCP reads cut);
//  2. wait up to Config.ShutdownTimeout for the queries in flight, whose upstream requests keep
//     their own timeouts (they do not see ctx end);
//  3. close the sockets.
//
// Run returns nil after a shutdown caused by ctx, or the error that stopped serving.
func (s *Server) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("dns server: run called twice")
	}
	defer s.Close()
	s.closeMu.Lock()
	closed := s.closed
	s.closeMu.Unlock()
	if closed {
		return errors.New("dns server: run after close")
	}
	hctx := context.WithoutCancel(ctx)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { s.serveDNS(hctx, w, r) })
	ready := make(chan struct{}, 2)
	common := func(srv *dns.Server) *dns.Server {
		srv.Handler = h
		srv.ReadTimeout = s.cfg.ReadTimeout
		srv.WriteTimeout = s.cfg.WriteTimeout
		srv.MsgAcceptFunc = s.accept
		srv.MsgInvalidFunc = func([]byte, error) { s.m.rejected.WithLabelValues("malformed").Inc() }
		srv.NotifyStartedFunc = func() { ready <- struct{}{} }
		return srv
	}
	udp := common(&dns.Server{PacketConn: s.pc, UDPSize: s.cfg.MaxUDPSize})
	idle := s.cfg.TCPIdleTimeout
	tcp := common(&dns.Server{Listener: s.ln, MaxTCPQueries: s.cfg.MaxTCPQueries, IdleTimeout: func() time.Duration { return idle }})
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	udpAddr, _ := s.Addr()
	var serveErr error
	for started := 0; started < 2 && serveErr == nil; {
		select {
		case <-ready:
			started++
		case err := <-errc:
			serveErr = fmt.Errorf("dns serve: %w", err)
		}
	}
	if serveErr == nil {
		// UDP and TCP share the port (see listen), so one address names both.
		s.log.InfoContext(ctx, "dns server started", slog.String(logkeys.Addr, udpAddr.String()))
		select {
		case <-ctx.Done():
		case err := <-errc:
			serveErr = fmt.Errorf("dns serve: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var shutErrs [2]error
	for i, srv := range []*dns.Server{udp, tcp} {
		wg.Go(func() {
			if err := srv.ShutdownContext(sctx); err != nil && sctx.Err() != nil {
				shutErrs[i] = fmt.Errorf("dns shutdown: %w", err)
			}
		})
	}
	wg.Wait()
	s.log.InfoContext(ctx, "dns server stopped")
	return errors.Join(serveErr, shutErrs[0], shutErrs[1])
}

// accept screens the header before the message is parsed (replaces dns.DefaultMsgAcceptFunc):
// responses are dropped, opcodes other than QUERY get NOTIMP, anything but one question with
// at most two additional records (OPT, cookie) gets FORMERR.
func (s *Server) accept(h dns.Header) dns.MsgAcceptAction {
	a := acceptHeader(h)
	switch a {
	case dns.MsgIgnore:
		s.m.rejected.WithLabelValues("response").Inc()
	case dns.MsgRejectNotImplemented:
		s.m.rejected.WithLabelValues("notimp").Inc()
	case dns.MsgReject:
		s.m.rejected.WithLabelValues("formerr").Inc()
	}
	return a
}

func acceptHeader(h dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	if h.Bits&qr != 0 {
		return dns.MsgIgnore
	}
	if int(h.Bits>>11)&0xF != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	if h.Qdcount != 1 || h.Ancount != 0 || h.Nscount != 0 || h.Arcount > 2 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}

// parseHeader reads the fixed DNS header (RFC 1035 §4.1.1); ok is false for short input.
func parseHeader(b []byte) (dns.Header, bool) {
	if len(b) < 12 {
		return dns.Header{}, false
	}
	return dns.Header{
		Id:      binary.BigEndian.Uint16(b[0:]),
		Bits:    binary.BigEndian.Uint16(b[2:]),
		Qdcount: binary.BigEndian.Uint16(b[4:]),
		Ancount: binary.BigEndian.Uint16(b[6:]),
		Nscount: binary.BigEndian.Uint16(b[8:]),
		Arcount: binary.BigEndian.Uint16(b[10:]),
	}, true
}

// serveDNS answers one parsed query and writes the answer, truncated to fit the transport.
// Over UDP, response rate limiting comes first, so a limited query costs no lookup.
func (s *Server) serveDNS(ctx context.Context, w dns.ResponseWriter, req *dns.Msg) {
	start := time.Now()
	proto := "udp"
	client := addrOf(w.RemoteAddr())
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	if proto == "udp" {
		switch s.rrl.check(client, start) {
		case verdictDrop:
			s.m.dropped.WithLabelValues(dropRateLimit).Inc()
			return
		case verdictSlip:
			s.m.dropped.WithLabelValues(dropRateLimitSlip).Inc()
			if err := w.WriteMsg(s.slipAnswer(req)); err != nil {
				s.log.DebugContext(ctx, "dns write failed", slog.String(logkeys.Addr, w.RemoteAddr().String()), slog.Any(logkeys.Error, err))
			}
			return
		}
	}
	resp, source := s.respond(ctx, req, client)
	resp.Truncate(s.replySize(req, proto == "tcp"))
	if resp.Truncated && proto == "udp" {
		s.m.dropped.WithLabelValues(dropUDPTruncated).Inc()
	}
	// Count before writing, so a client that has its answer sees it counted.
	qtype := "other"
	if len(req.Question) == 1 {
		qtype = qtypeLabel(req.Question[0].Qtype)
	}
	s.m.queries.WithLabelValues(proto, qtype, source, resultLabel(resp)).Inc()
	s.m.latency.WithLabelValues(source).Observe(time.Since(start).Seconds())
	if err := w.WriteMsg(resp); err != nil {
		s.log.DebugContext(ctx, "dns write failed", slog.String(logkeys.Addr, w.RemoteAddr().String()), slog.Any(logkeys.Error, err))
	}
}

// replySize is the largest answer sent: over UDP the client's EDNS0 buffer size (512 without
// EDNS0, at least 512; RFC 6891 §6.2.5) but never above MaxUDPAnswer, over TCP 65535.
func (s *Server) replySize(req *dns.Msg, tcp bool) int {
	if tcp {
		return dns.MaxMsgSize
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	return min(size, s.cfg.MaxUDPSize, s.cfg.MaxUDPAnswer)
}

// slipAnswer is the empty truncated answer sent in place of a rate-limited one (RRL "slip"):
// no bigger than the query, it tells a real client to retry over TCP.
func (s *Server) slipAnswer(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Question = slices.Clone(req.Question)
	m.Truncated = true
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(uint16(s.cfg.MaxUDPSize), opt.Do())
	}
	return m
}

// addrOf extracts the unmapped IP of a socket address.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// allowed reports whether client may use the forwarder.
func (s *Server) allowed(client netip.Addr) bool {
	for _, p := range s.cfg.AllowedClients {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// respond builds the answer to req from client, untruncated, and names its source. It never
// returns nil and never modifies req.
func (s *Server) respond(ctx context.Context, req *dns.Msg, client netip.Addr) (*dns.Msg, string) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Question = slices.Clone(req.Question)
	canForward := len(s.fwd.ups) > 0 && s.allowed(client)
	resp.RecursionAvailable = canForward
	opt := req.IsEdns0()
	if opt != nil {
		resp.SetEdns0(uint16(s.cfg.MaxUDPSize), opt.Do())
		if opt.Version() != 0 {
			// RFC 6891 §6.1.3: unknown EDNS version.
			resp.Rcode = dns.RcodeBadVers
			return resp, sourceNone
		}
	}
	if req.Response || req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		if req.Opcode != dns.OpcodeQuery {
			resp.Rcode = dns.RcodeNotImplemented
		}
		return resp, sourceNone
	}
	q := req.Question[0]
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeMAILA, dns.TypeMAILB:
		resp.Rcode = dns.RcodeNotImplemented
		return resp, sourceNone
	}
	name := dns.CanonicalName(q.Name)
	if q.Qclass == dns.ClassINET || q.Qclass == dns.ClassANY {
		if rrs, ok := s.rules.Load().lookup(name, client); ok {
			resp.Authoritative = true
			for _, l := range rrs {
				t := l.rr.Header().Rrtype
				if q.Qtype == t || q.Qtype == dns.TypeANY {
					rr := dns.Copy(l.rr)
					rr.Header().Name = q.Name
					resp.Answer = append(resp.Answer, rr)
				}
			}
			return resp, sourceLocal
		}
	}
	if !canForward {
		resp.Rcode = dns.RcodeRefused
		return resp, sourceNone
	}
	k := cacheKey{name: name, qtype: q.Qtype, qclass: q.Qclass, cd: req.CheckingDisabled}
	if opt != nil {
		k.do = opt.Do()
	}
	source := sourceCache
	up := s.cache.get(k, s.cfg.Now())
	if up != nil {
		s.m.cacheHits.Inc()
	} else {
		if s.cache != nil {
			s.m.cacheMiss.Inc()
		}
		shared, err := s.fwd.resolve(ctx, k)
		if err != nil {
			s.log.DebugContext(ctx, "dns forward failed", slog.String(logkeys.Name, name), slog.Any(logkeys.Error, err))
			resp.Rcode = dns.RcodeServerFailure
			return resp, sourceNone
		}
		up = shared.Copy()
		up.Extra = slices.DeleteFunc(up.Extra, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeOPT })
		s.cache.put(k, up.Copy(), s.cfg.Now())
		source = sourceUpstream
	}
	resp.Rcode = up.Rcode
	resp.AuthenticatedData = up.AuthenticatedData && k.do
	resp.Answer = up.Answer
	resp.Ns = up.Ns
	extra := slices.DeleteFunc(up.Extra, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeOPT })
	resp.Extra = append(extra, resp.Extra...) // keep our OPT last
	return resp, source
}
