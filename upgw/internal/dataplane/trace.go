package dataplane

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// Types of the packet trace, generated from BTF (see upgw/bpf/lib/upgw.h).
type (
	// TraceConfig is the active trace's selection and limits.
	TraceConfig = upgwUpgwTraceCfg
	// TraceEvent is one traced packet as the data plane wrote it.
	TraceEvent = upgwUpgwTraceEvent
)

// Trace selection fields (TraceConfig.Select).
const (
	TraceSelRule = uint32(upgwUpgwTraceSelectUPGW_TSEL_RULE)
	TraceSelUE   = uint32(upgwUpgwTraceSelectUPGW_TSEL_UE)
	TraceSelTEID = uint32(upgwUpgwTraceSelectUPGW_TSEL_TEID)
)

// Programs a trace event comes from (TraceEvent.Prog).
const (
	TraceProgUL  = uint8(upgwUpgwTraceProgUPGW_TPROG_UL)
	TraceProgDL  = uint8(upgwUpgwTraceProgUPGW_TPROG_DL)
	TraceProgApp = uint8(upgwUpgwTraceProgUPGW_TPROG_APP)
)

// TraceSnap is the most packet bytes an event carries (UPGW_TRACE_SNAP).
const TraceSnap = len(TraceEvent{}.Data)

// TraceNoRule is TraceEvent.RuleSlot when no rule matched.
const TraceNoRule = ^uint32(0)

// TraceStats are the trace counters summed over CPUs.
type TraceStats struct {
	Emitted uint64 // events written to the ring buffer
	Capped  uint64 // selected packets over the events-per-second cap
	Lost    uint64 // selected packets the full ring buffer had no room for
}

// ErrTraceBusy is returned by TraceReader while another reader is open.
var ErrTraceBusy = errors.New("the trace ring buffer already has a reader")

// TraceBucket returns the token-bucket parameters of a cap of rate events per second on
// ncpu CPUs with a burst of burst events: each CPU's bucket refills at rate/ncpu events per
// second and holds at most burst/ncpu events (at least one), so all CPUs together emit at
// most rate events per second after a burst of at most max(burst, ncpu).
func TraceBucket(rate, burst uint32, ncpu int) (costNs, burstNs uint64) {
	if rate == 0 || ncpu <= 0 {
		return ^uint64(0), 0
	}
	costNs = uint64(time.Second) * uint64(ncpu) / uint64(rate)
	perCPU := max(uint64(burst)/uint64(ncpu), 1)
	return costNs, costNs * perCPU
}

// StartTrace turns the packet trace on with cfg: it writes the selection while tracing is
// off, empties every CPU's token bucket of its history (each starts full), then turns the
// trace points on. Tracing a new selection over an active one is allowed: it is off while
// the selection changes.
func (d *Datapath) StartTrace(cfg TraceConfig) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.objs.UpgwTraceOn.Set(uint32(0)); err != nil {
		return fmt.Errorf("turn trace off: %w", err)
	}
	if cfg.Snaplen == 0 || cfg.Snaplen > uint32(TraceSnap) {
		return fmt.Errorf("trace snap length %d: want 1-%d", cfg.Snaplen, TraceSnap)
	}
	if err := d.objs.TraceCfg.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("write trace config: %w", err)
	}
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	if err := d.objs.TraceBucket.Put(uint32(0), make([]upgwUpgwTraceBucket, n)); err != nil {
		return fmt.Errorf("reset trace buckets: %w", err)
	}
	if err := d.objs.UpgwTraceOn.Set(uint32(1)); err != nil {
		return fmt.Errorf("turn trace on: %w", err)
	}
	return nil
}

// StopTrace turns the packet trace off. Events already in the ring buffer stay there.
func (d *Datapath) StopTrace() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.objs.UpgwTraceOn.Set(uint32(0)); err != nil {
		return fmt.Errorf("turn trace off: %w", err)
	}
	return nil
}

// TraceOn reports whether the trace points are on.
func (d *Datapath) TraceOn() (bool, error) {
	var on uint32
	if err := d.objs.UpgwTraceOn.Get(&on); err != nil {
		return false, err
	}
	return on != 0, nil
}

// TraceStats returns the trace counters summed over CPUs.
func (d *Datapath) TraceStats() (TraceStats, error) {
	var s TraceStats
	for i, dst := range []*uint64{&s.Emitted, &s.Capped, &s.Lost} {
		var vals []uint64
		if err := d.objs.TraceStats.Lookup(uint32(i), &vals); err != nil {
			return TraceStats{}, fmt.Errorf("read trace stats: %w", err)
		}
		for _, v := range vals {
			*dst += v
		}
	}
	return s, nil
}

// TraceReader reads trace events from the ring buffer. The ring buffer has one consumer:
// a second reader while one is open gets ErrTraceBusy.
type TraceReader struct {
	d  *Datapath
	rd *ringbuf.Reader
}

// OpenTraceReader opens the reader of the trace ring buffer. Close it to let another open.
func (d *Datapath) OpenTraceReader() (*TraceReader, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.traceReader {
		return nil, ErrTraceBusy
	}
	rd, err := ringbuf.NewReader(d.objs.TraceEvents)
	if err != nil {
		return nil, fmt.Errorf("open trace ring buffer: %w", err)
	}
	d.traceReader = true
	return &TraceReader{d: d, rd: rd}, nil
}

// SetDeadline makes Read return os.ErrDeadlineExceeded once t has passed with no event.
func (r *TraceReader) SetDeadline(t time.Time) { r.rd.SetDeadline(t) }

// Read waits for the next event. It returns os.ErrDeadlineExceeded after the deadline and
// ringbuf.ErrClosed after Close.
func (r *TraceReader) Read() (TraceEvent, error) {
	rec, err := r.rd.Read()
	if err != nil {
		return TraceEvent{}, err
	}
	return ParseTraceEvent(rec.RawSample)
}

// Close releases the ring buffer; a Read blocked in another goroutine returns.
func (r *TraceReader) Close() error {
	err := r.rd.Close()
	r.d.mu.Lock()
	r.d.traceReader = false
	r.d.mu.Unlock()
	return err
}

// ParseTraceEvent decodes a ring-buffer record.
func ParseTraceEvent(raw []byte) (TraceEvent, error) {
	var ev TraceEvent
	if err := binary.Read(bytes.NewReader(raw), binary.NativeEndian, &ev); err != nil {
		return TraceEvent{}, fmt.Errorf("decode trace event of %d bytes: %w", len(raw), err)
	}
	if ev.CapLen > uint32(TraceSnap) {
		return TraceEvent{}, fmt.Errorf("trace event claims %d captured bytes", ev.CapLen)
	}
	return ev, nil
}

// Captured returns the packet bytes an event carries.
func (ev *TraceEvent) Captured() []byte { return ev.Data[:min(ev.CapLen, uint32(TraceSnap))] }

// MonotonicNow returns CLOCK_MONOTONIC, the clock of TraceEvent.TsNs and TraceConfig.EndNs.
func MonotonicNow() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("read monotonic clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// Program names a packet program for RunPacket.
type Program int

// Packet programs.
const (
	ProgUplink   Program = iota // upgw_ul (XDP, gNB-side port)
	ProgDownlink                // upgw_dl (XDP, UPF-side port)
	ProgApp                     // upgw_app (TC, app ports)
)

// RunPacket runs one packet through a program with BPF_PROG_RUN, as if it had arrived on
// the program's port, and returns the verdict and the packet as the program left it.
// Nothing is sent. Tests and diagnostics use it to drive the data plane, the trace included.
func (d *Datapath) RunPacket(p Program, data []byte) (uint32, []byte, error) {
	var prog *ebpf.Program
	switch p {
	case ProgUplink:
		prog = d.objs.UpgwUl
	case ProgDownlink:
		prog = d.objs.UpgwDl
	case ProgApp:
		prog = d.objs.UpgwApp
	default:
		return 0, nil, fmt.Errorf("program %d: unknown", p)
	}
	opts := &ebpf.RunOptions{Data: data, DataOut: make([]byte, len(data)+256)}
	ret, err := prog.Run(opts)
	if err != nil {
		return 0, nil, fmt.Errorf("run %s: %w", prog, err)
	}
	return ret, opts.DataOut, nil
}
