// Package trace runs the UPGW's packet traces (issue 14): an operator asks which packets hit
// which rule, and sees them, decoded, as the data plane handles them.
//
// A trace goes through these steps:
//  1. Tracer.Start checks the request and resolves it into the data plane's selection: rule
//     and app instance ids become a mask of rule counter slots (from the active rule set),
//     the UE address, TEID and path names their data plane forms, the rate a token bucket.
//  2. It claims the one trace slot (a second trace is ErrBusy), opens the reader of the
//     trace ring buffer and turns the trace points on (dataplane.StartTrace).
//  3. Session.Run reads events, decodes them with gopacket (Decode) and hands them to the
//     caller, until the duration passes, the caller's context ends (the client went away),
//     the caller cannot take an event, or the Tracer closes (the agent stops).
//  4. It then turns the trace points off, hands over what is left in the ring buffer,
//     releases the reader and the slot, and reports how many events were sent, capped by the
//     rate and lost to a full ring buffer.
//
// The data plane enforces the selection, the sampling, the cap and (one second after the
// duration, as a backstop) the time limit, so a forgotten trace costs forwarding nothing
// beyond the trace points' check. One trace runs at a time: the data plane has one selection
// and the ring buffer one reader.
package trace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
	"github.com/edgemec/edgemec/upgw/internal/ruleset"
)

// Limits and defaults of a trace request (api/openapi/upgw.yaml says the same).
const (
	DefaultRate     = 100
	MaxRate         = 10000
	DefaultSample   = 1
	MaxSample       = 1_000_000
	DefaultDuration = 30 * time.Second
	MaxDuration     = 10 * time.Minute
	DefaultSnaplen  = 128
	MinSnaplen      = 64
	MaxSnaplen      = dataplane.TraceSnap
)

// Errors of Start. ErrInvalid wraps every problem with the request.
var (
	ErrInvalid = errors.New("invalid trace request")
	ErrBusy    = errors.New("a packet trace is already running; one runs at a time")
	ErrClosed  = errors.New("the tracer is closed")
)

// Request is what an operator asks to trace. Zero values take the defaults; unset
// selectors select everything.
type Request struct {
	RuleID        string   // traffic rule id (with AppInstanceID: that app instance's rule)
	AppInstanceID string   // app instance id (alone: every active rule of it)
	UE            string   // UE address: inner source or destination
	TEID          *uint32  // TEID of the G-PDU (or of an app reply's tunnel)
	Paths         []string // path names (dataplane.Stat), each may hold several separated by commas
	Rate          int      // most events per second
	Sample        int      // trace 1 in Sample selected packets
	Duration      time.Duration
	Snaplen       int // bytes captured per packet
}

// Datapath is what a trace needs from the loaded programs.
type Datapath interface {
	StartTrace(dataplane.TraceConfig) error
	StopTrace() error
	OpenTraceReader() (*dataplane.TraceReader, error)
	TraceStats() (dataplane.TraceStats, error)
}

// Rules gives the active rule set, against which rule and app instance ids resolve.
type Rules interface {
	Current() ruleset.RuleSet
}

// Tracer starts traces, one at a time.
type Tracer struct {
	dp     Datapath
	rules  Rules
	logger *slog.Logger
	ncpu   int

	mu     sync.Mutex
	busy   bool
	closed bool
	stop   chan struct{} // closed by Close
}

// New returns a Tracer over the data plane and the rule-set manager.
func New(dp Datapath, rules Rules, logger *slog.Logger) (*Tracer, error) {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("count CPUs: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Tracer{dp: dp, rules: rules, logger: logger, ncpu: n, stop: make(chan struct{})}, nil
}

// Close ends the running trace (its end reason is "shutdown") and refuses new ones.
func (t *Tracer) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.stop)
	}
}

// tracePaths are the path names a trace can select: every dataplane.Stat a trace point
// reports (dl_slow and dup_done are counted beside another path, never traced).
var tracePaths = func() map[string]dataplane.Stat {
	m := map[string]dataplane.Stat{}
	for i := range dataplane.NumStats {
		s := dataplane.Stat(i)
		if s != dataplane.StatDLSlow && s != dataplane.StatDupDone {
			m[s.String()] = s
		}
	}
	return m
}()

// PathNames returns the path names a trace can select, sorted.
func PathNames() []string {
	out := make([]string, 0, len(tracePaths))
	for n := range tracePaths {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Session is one running trace.
type Session struct {
	t        *Tracer
	rd       *dataplane.TraceReader
	req      Request
	names    map[uint32][2]string // rule slot -> app instance id, traffic rule id
	startMon time.Duration        // CLOCK_MONOTONIC at start
	start    time.Time
	before   dataplane.TraceStats
	once     sync.Once
}

// Start checks and resolves req, then starts the trace (steps 1 and 2 of the package
// comment). The caller must Run or Close the session.
func (t *Tracer) Start(req Request) (*Session, error) {
	cfg, names, req, err := t.resolve(req)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	if t.busy {
		return nil, ErrBusy
	}
	rd, err := t.dp.OpenTraceReader()
	if errors.Is(err, dataplane.ErrTraceBusy) {
		return nil, ErrBusy
	}
	if err != nil {
		return nil, err
	}
	// Events a previous trace left behind are not this one's.
	for {
		rd.SetDeadline(time.Now())
		if _, err := rd.Read(); err != nil {
			break
		}
	}
	before, err := t.dp.TraceStats()
	if err != nil {
		rd.Close()
		return nil, err
	}
	mon, err := dataplane.MonotonicNow()
	if err != nil {
		rd.Close()
		return nil, err
	}
	// The data plane's own time limit is a backstop, a second after Run's.
	cfg.EndNs = uint64(mon + req.Duration + time.Second)
	if err := t.dp.StartTrace(cfg); err != nil {
		rd.Close()
		return nil, fmt.Errorf("start trace: %w", err)
	}
	t.busy = true
	return &Session{t: t, rd: rd, req: req, names: names, startMon: mon, start: time.Now(), before: before}, nil
}

// resolve checks the request, fills its defaults and returns the data plane selection and
// the names of the rule slots.
func (t *Tracer) resolve(req Request) (dataplane.TraceConfig, map[uint32][2]string, Request, error) {
	var cfg dataplane.TraceConfig
	var errs []error
	if req.Rate == 0 {
		req.Rate = DefaultRate
	}
	if req.Sample == 0 {
		req.Sample = DefaultSample
	}
	if req.Duration == 0 {
		req.Duration = DefaultDuration
	}
	if req.Snaplen == 0 {
		req.Snaplen = DefaultSnaplen
	}
	if req.Rate < 1 || req.Rate > MaxRate {
		errs = append(errs, invalid("rate %d: want 1-%d events per second", req.Rate, MaxRate))
	}
	if req.Sample < 1 || req.Sample > MaxSample {
		errs = append(errs, invalid("sample %d: want 1-%d", req.Sample, MaxSample))
	}
	if req.Duration < time.Second || req.Duration > MaxDuration {
		errs = append(errs, invalid("duration %s: want 1s-%s", req.Duration, MaxDuration))
	}
	if req.Snaplen < MinSnaplen || req.Snaplen > MaxSnaplen {
		errs = append(errs, invalid("snaplen %d: want %d-%d bytes", req.Snaplen, MinSnaplen, MaxSnaplen))
	}
	if req.UE != "" {
		a, err := netip.ParseAddr(req.UE)
		if err != nil || a.Zone() != "" {
			errs = append(errs, invalid("ue %q: want an IPv4 or IPv6 address", req.UE))
		} else {
			cfg.Select |= dataplane.TraceSelUE
			cfg.Ue = dataplane.AddrFrom(a.Unmap())
		}
	}
	if req.TEID != nil {
		cfg.Select |= dataplane.TraceSelTEID
		cfg.Teid = *req.TEID
	}
	for _, ps := range req.Paths {
		for p := range strings.SplitSeq(ps, ",") {
			s, ok := tracePaths[strings.TrimSpace(p)]
			if !ok {
				errs = append(errs, invalid("path %q: want one of %s", p, strings.Join(PathNames(), ", ")))
				continue
			}
			cfg.Paths |= 1 << s
		}
	}
	names := map[uint32][2]string{}
	var slots []uint32
	for _, r := range t.rules.Current().Rules {
		names[r.Slot] = [2]string{r.AppInstanceID, r.TrafficRuleID}
		if (req.RuleID != "" || req.AppInstanceID != "") &&
			(req.RuleID == "" || r.TrafficRuleID == req.RuleID) && (req.AppInstanceID == "" || r.AppInstanceID == req.AppInstanceID) {
			slots = append(slots, r.Slot)
		}
	}
	if req.RuleID != "" || req.AppInstanceID != "" {
		if len(slots) == 0 {
			switch {
			case req.AppInstanceID == "":
				errs = append(errs, invalid("no active traffic rule %q", req.RuleID))
			case req.RuleID == "":
				errs = append(errs, invalid("app instance %q has no active traffic rule", req.AppInstanceID))
			default:
				errs = append(errs, invalid("app instance %q has no active traffic rule %q", req.AppInstanceID, req.RuleID))
			}
		}
		cfg.Select |= dataplane.TraceSelRule
		for _, s := range slots {
			if s < uint32(len(cfg.RuleMask))*64 {
				cfg.RuleMask[s/64] |= 1 << (s % 64)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, nil, req, err
	}
	cfg.Sample = uint32(req.Sample)
	cfg.Snaplen = uint32(req.Snaplen)
	// A burst of a tenth of a second's events.
	cfg.CostNs, cfg.BurstNs = dataplane.TraceBucket(uint32(req.Rate), uint32(max(req.Rate/10, 1)), t.ncpu)
	return cfg, names, req, nil
}

// Request returns the request with its defaults filled in.
func (s *Session) Request() Request { return s.req }

// Reasons a trace ends (End.Reason).
const (
	EndTimeLimit    = "time_limit"
	EndClientClosed = "client_closed"
	EndShutdown     = "shutdown"
	EndFailed       = "failed"
)

// End is how a trace ended.
type End struct {
	Reason string
	Events uint64 // events handed to the caller
	Capped uint64 // selected packets over the rate cap
	Lost   uint64 // selected packets the full ring buffer dropped
}

// poll bounds how long Run waits for an event before it checks its end conditions.
const poll = 100 * time.Millisecond

// Run hands every event to emit until the trace ends (steps 3 and 4 of the package
// comment). An error from emit ends the trace as client_closed.
func (s *Session) Run(ctx context.Context, emit func(Event) error) End {
	end := End{Reason: EndTimeLimit}
	deadline := s.start.Add(s.req.Duration)
	send := func(ev dataplane.TraceEvent) bool {
		if time.Duration(ev.TsNs) < s.startMon {
			return true // stale: emitted before this trace began
		}
		if err := emit(s.decode(ev)); err != nil {
			end.Reason = EndClientClosed
			return false
		}
		end.Events++
		return true
	}
loop:
	for {
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			end.Reason = EndClientClosed
			break loop
		case <-s.t.stop:
			end.Reason = EndShutdown
			break loop
		default:
		}
		s.rd.SetDeadline(now.Add(min(poll, deadline.Sub(now))))
		ev, err := s.rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			s.t.logger.Error("read packet trace", logkeys.Error, err)
			end.Reason = EndFailed
			break
		}
		if !send(ev) {
			break
		}
	}
	if err := s.t.dp.StopTrace(); err != nil {
		s.t.logger.Error("stop packet trace", logkeys.Error, err)
	}
	// What the data plane emitted before the trace points went off is still this trace's.
	for end.Reason == EndTimeLimit || end.Reason == EndShutdown {
		s.rd.SetDeadline(time.Now())
		ev, err := s.rd.Read()
		if err != nil || !send(ev) {
			break
		}
	}
	if after, err := s.t.dp.TraceStats(); err == nil {
		end.Capped = after.Capped - s.before.Capped
		end.Lost = after.Lost - s.before.Lost
	}
	s.Close()
	return end
}

// Close ends the trace without reading it (a session whose Run never started) and releases
// the ring buffer and the trace slot. Run closes its session itself.
func (s *Session) Close() {
	s.once.Do(func() {
		if err := s.t.dp.StopTrace(); err != nil {
			s.t.logger.Error("stop packet trace", logkeys.Error, err)
		}
		s.rd.Close()
		s.t.mu.Lock()
		s.t.busy = false
		s.t.mu.Unlock()
	})
}

// decode turns a data plane event into an Event: the rule's names, the wall-clock time and
// the packet decoded from its captured bytes.
func (s *Session) decode(ev dataplane.TraceEvent) Event {
	out := Decode(ev.Captured())
	out.Time = s.start.Add(time.Duration(ev.TsNs) - s.startMon)
	out.Path = dataplane.Stat(ev.Path).String()
	out.Program = programs[ev.Prog]
	out.Ifindex = int(ev.Ifindex)
	out.Length = int(ev.PktLen)
	if n, ok := s.names[ev.RuleSlot]; ok && ev.RuleSlot != dataplane.TraceNoRule {
		out.AppInstanceID, out.TrafficRuleID = n[0], n[1]
	}
	if ev.Teid != 0 || out.GTP != nil {
		teid := ev.Teid
		out.TEID = &teid
		if ev.Qfi != 0 || (out.GTP != nil && out.GTP.QFI != nil) {
			q := ev.Qfi
			out.QFI = &q
		}
	}
	return out
}

// Programs an event can come from, by dataplane.TraceEvent.Prog.
var programs = map[uint8]string{
	dataplane.TraceProgUL: ProgramUplink, dataplane.TraceProgDL: ProgramDownlink, dataplane.TraceProgApp: ProgramApp,
}

// Program names (Event.Program).
const (
	ProgramUplink   = "uplink"
	ProgramDownlink = "downlink"
	ProgramApp      = "app"
)
