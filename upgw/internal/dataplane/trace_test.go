package dataplane

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// traceAll selects every packet with a snap length of snap and a cap far above what the
// tests send.
func traceAll(snap uint32) TraceConfig {
	cost, burst := TraceBucket(1_000_000, 1_000_000, 1)
	return TraceConfig{Snaplen: snap, Sample: 1, CostNs: cost, BurstNs: burst}
}

// openTrace opens the trace reader and closes it with the test.
func openTrace(t *testing.T, d *Datapath) *TraceReader {
	t.Helper()
	r, err := d.OpenTraceReader()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// drain returns every event in the ring buffer, waiting at most 100 ms for the next one.
func drain(t *testing.T, r *TraceReader) []TraceEvent {
	t.Helper()
	var evs []TraceEvent
	for {
		r.SetDeadline(time.Now().Add(100 * time.Millisecond))
		ev, err := r.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

func traceStats(t *testing.T, d *Datapath) TraceStats {
	t.Helper()
	s, err := d.TraceStats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTraceEvents runs each path once with tracing on for everything and checks the one
// event it leaves: path, program, rule slot, TEID/QFI and the captured prefix (the packet as
// it arrived, or for dl_encap as it leaves), truncated to the snap length.
func TestTraceEvents(t *testing.T) {
	d := loadTest(t)
	drop := Match{RuleSlot: 3, Action: ActDrop, Fields: FieldProto, Proto: 6}
	if err := d.SwapRuleSet([]Entry{entry("192.0.2.10/32", decapRule(), drop)}); err != nil {
		t.Fatal(err)
	}
	r := openTrace(t, d)
	const snap = 64
	if err := d.StartTrace(traceAll(snap)); err != nil {
		t.Fatal(err)
	}
	breakout := ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: app4, sport: 40000, dport: 8080, payloadLen: 32}), 0x100, 9)
	miss := ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: netip.MustParseAddr("198.51.100.7"), sport: 40000, dport: 8080, payloadLen: 32}), 0x100, 9)
	tcp := ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: app4, proto: 6, sport: 40000, dport: 443, payloadLen: 8}), 0x101, 5)
	short := ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: app4, sport: 40000, dport: 8080, payloadLen: 0}), 0x100, 9)[:60]
	nonGTP := append(ethHdr(upfMAC, gnbMAC, 0x0806), make([]byte, 28)...)
	dl := dlPacket(t, ue4, tunnel{gnb: gnb4, mac: gnbMAC, teid: 0xd1, qfi: 9})
	tests := []struct {
		name     string
		prog     *ebpf.Program
		in       []byte
		path     Stat
		from     uint8
		rule     uint32
		teid     uint32
		qfi      uint8
		verdict  uint32
		outBytes bool // the event carries the packet as it leaves (dl_encap)
	}{
		{name: "breakout", prog: d.objs.UpgwUl, in: breakout, path: StatULDecap, from: TraceProgUL, rule: ruleSlot, teid: 0x100, qfi: 9, verdict: xdpRedir},
		{name: "pass-through", prog: d.objs.UpgwUl, in: miss, path: StatULPass, from: TraceProgUL, rule: TraceNoRule, teid: 0x100, qfi: 9, verdict: xdpRedir},
		{name: "drop", prog: d.objs.UpgwUl, in: tcp, path: StatULDrop, from: TraceProgUL, rule: 3, teid: 0x101, qfi: 5, verdict: xdpDrop},
		{name: "shorter than the snap length", prog: d.objs.UpgwUl, in: short, path: StatMalformed, from: TraceProgUL, rule: TraceNoRule, verdict: xdpRedir},
		{name: "not GTP-U", prog: d.objs.UpgwUl, in: nonGTP, path: StatNonGTP, from: TraceProgUL, rule: TraceNoRule, verdict: xdpRedir},
		{name: "downlink learn", prog: d.objs.UpgwDl, in: dl, path: StatDLLearn, from: TraceProgDL, rule: TraceNoRule, teid: 0xd1, qfi: 9, verdict: xdpRedir},
		{name: "downlink known", prog: d.objs.UpgwDl, in: dl, path: StatDLPass, from: TraceProgDL, rule: TraceNoRule, teid: 0xd1, qfi: 9, verdict: xdpRedir},
		{name: "reply encapsulated", prog: d.objs.UpgwApp, in: replyTo(t, ue4), path: StatDLEncap, from: TraceProgApp, rule: TraceNoRule, teid: 0xd1, qfi: 9, verdict: tcRedirect, outBytes: true},
		{name: "reply without session", prog: d.objs.UpgwApp, in: replyTo(t, netip.MustParseAddr("10.60.9.9")), path: StatDLMiss, from: TraceProgApp, rule: TraceNoRule, verdict: tcOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := traceStats(t, d)
			in := append([]byte(nil), tt.in...)
			ret, out := run(t, tt.prog, in)
			if ret != tt.verdict {
				t.Fatalf("verdict %d; want %d (tracing must not change it)", ret, tt.verdict)
			}
			evs := drain(t, r)
			if len(evs) != 1 {
				t.Fatalf("%d events; want 1", len(evs))
			}
			ev := evs[0]
			if Stat(ev.Path) != tt.path || ev.Prog != tt.from || ev.RuleSlot != tt.rule {
				t.Errorf("event path %s, program %d, rule slot %#x; want %s, %d, %#x", Stat(ev.Path), ev.Prog, ev.RuleSlot, tt.path, tt.from, tt.rule)
			}
			if ev.Teid != tt.teid || ev.Qfi != tt.qfi {
				t.Errorf("event TEID %#x QFI %d; want %#x, %d", ev.Teid, ev.Qfi, tt.teid, tt.qfi)
			}
			pkt := tt.in
			if tt.outBytes {
				pkt = out
			}
			if ev.PktLen != uint32(len(pkt)) {
				t.Errorf("event length %d; want %d", ev.PktLen, len(pkt))
			}
			want := pkt[:min(len(pkt), snap)]
			if !bytes.Equal(ev.Captured(), want) {
				t.Errorf("captured\n% x\nwant\n% x", ev.Captured(), want)
			}
			if ev.TsNs == 0 {
				t.Error("event without a timestamp")
			}
			if got := traceStats(t, d); got.Emitted != before.Emitted+1 || got.Lost != before.Lost || got.Capped != before.Capped {
				t.Errorf("trace stats %+v after %+v; want one more emitted", got, before)
			}
		})
	}
}

// TestTraceOff checks that nothing is traced before StartTrace and after StopTrace.
func TestTraceOff(t *testing.T) {
	d := loadTest(t)
	if err := d.SwapRuleSet([]Entry{entry("192.0.2.10/32", decapRule())}); err != nil {
		t.Fatal(err)
	}
	r := openTrace(t, d)
	in := ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: app4, sport: 40000, dport: 8080, payloadLen: 32}), 0x100, 9)
	if on, err := d.TraceOn(); err != nil || on {
		t.Fatalf("trace on %v (%v) after load; want off", on, err)
	}
	run(t, d.objs.UpgwUl, in)
	if err := d.StartTrace(traceAll(128)); err != nil {
		t.Fatal(err)
	}
	if err := d.StopTrace(); err != nil {
		t.Fatal(err)
	}
	run(t, d.objs.UpgwUl, in)
	if evs := drain(t, r); len(evs) != 0 {
		t.Fatalf("%d events with tracing off; want none", len(evs))
	}
	if s := traceStats(t, d); s != (TraceStats{}) {
		t.Fatalf("trace stats %+v with tracing off; want zero", s)
	}
}

// TestTraceSelection checks each selector against packets it must and must not select.
func TestTraceSelection(t *testing.T) {
	d := loadTest(t)
	other := Match{RuleSlot: 70, Action: ActPassthrough, Fields: FieldProto, Proto: 6}
	if err := d.SwapRuleSet([]Entry{entry("192.0.2.10/32", decapRule(), other)}); err != nil {
		t.Fatal(err)
	}
	r := openTrace(t, d)
	ue2 := netip.MustParseAddr("10.60.0.2")
	far := netip.MustParseAddr("198.51.100.7")
	pkts := map[string][]byte{
		"decap ue1 teid 0x100":  ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: app4, sport: 1, dport: 8080, payloadLen: 8}), 0x100, 9),
		"decap ue2 teid 0x200":  ulFrame(t, true, innerPacket(t, innerSpec{src: ue2, dst: app4, sport: 1, dport: 8080, payloadLen: 8}), 0x200, 9),
		"rule70 ue2 teid 0x200": ulFrame(t, true, innerPacket(t, innerSpec{src: ue2, dst: app4, proto: 6, sport: 1, dport: 80, payloadLen: 8}), 0x200, 9),
		"miss ue1 teid 0x100":   ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: far, sport: 1, dport: 8080, payloadLen: 8}), 0x100, 9),
	}
	var mask [16]uint64
	mask[ruleSlot/64] |= 1 << (ruleSlot % 64)
	tests := []struct {
		name string
		cfg  func(c *TraceConfig)
		want []string
	}{
		{name: "all", cfg: func(*TraceConfig) {}, want: []string{"decap ue1 teid 0x100", "decap ue2 teid 0x200", "rule70 ue2 teid 0x200", "miss ue1 teid 0x100"}},
		{name: "rule", cfg: func(c *TraceConfig) { c.Select, c.RuleMask = TraceSelRule, mask }, want: []string{"decap ue1 teid 0x100", "decap ue2 teid 0x200"}},
		{name: "ue", cfg: func(c *TraceConfig) { c.Select, c.Ue = TraceSelUE, AddrFrom(ue2) }, want: []string{"decap ue2 teid 0x200", "rule70 ue2 teid 0x200"}},
		{name: "teid", cfg: func(c *TraceConfig) { c.Select, c.Teid = TraceSelTEID, 0x100 }, want: []string{"decap ue1 teid 0x100", "miss ue1 teid 0x100"}},
		{name: "path", cfg: func(c *TraceConfig) { c.Paths = 1 << StatULPassRule }, want: []string{"rule70 ue2 teid 0x200"}},
		{name: "rule and ue", cfg: func(c *TraceConfig) { c.Select, c.RuleMask, c.Ue = TraceSelRule|TraceSelUE, mask, AddrFrom(ue4) }, want: []string{"decap ue1 teid 0x100"}},
		{name: "time limit passed", cfg: func(c *TraceConfig) { c.EndNs = 1 }, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := traceAll(128)
			tt.cfg(&cfg)
			if err := d.StartTrace(cfg); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, name := range []string{"decap ue1 teid 0x100", "decap ue2 teid 0x200", "rule70 ue2 teid 0x200", "miss ue1 teid 0x100"} {
				run(t, d.objs.UpgwUl, pkts[name])
				if n := len(drain(t, r)); n > 1 {
					t.Fatalf("%s: %d events; want at most 1", name, n)
				} else if n == 1 {
					got = append(got, name)
				}
			}
			if !equalStrings(got, tt.want) {
				t.Errorf("traced %q; want %q", got, tt.want)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTraceCap floods the uplink program (BPF_PROG_RUN with repeat, one CPU) with tracing
// on for everything and a cap of 1,000 events per second: the events must stay within the
// cap over the flood's duration plus the burst, the rest counted as capped, and the flood
// must still be forwarded.
func TestTraceCap(t *testing.T) {
	d := loadTest(t)
	if err := d.SwapRuleSet([]Entry{entry("192.0.2.10/32", decapRule())}); err != nil {
		t.Fatal(err)
	}
	r := openTrace(t, d)
	const rate, burst = 1000, 10
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	cfg := traceAll(128)
	cfg.CostNs, cfg.BurstNs = TraceBucket(rate, burst, ncpu)
	if err := d.StartTrace(cfg); err != nil {
		t.Fatal(err)
	}
	// Pass-through: the packet is not changed, so a repeated run sees the same packet.
	in := ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: netip.MustParseAddr("198.51.100.7"), sport: 1, dport: 8080, payloadLen: 32}), 0x100, 9)
	const flood = 2_000_000
	before := statsDelta(t, d)[StatULPass]
	start := time.Now()
	ret, err := d.objs.UpgwUl.Run(&ebpf.RunOptions{Data: in, Repeat: flood})
	elapsed := time.Since(start)
	if err != nil || ret != xdpRedir {
		t.Fatalf("flood: verdict %d, %v", ret, err)
	}
	if got := statsDelta(t, d)[StatULPass] - before; got < flood {
		t.Fatalf("ul_pass counted %d of %d packets", got, flood)
	}
	evs := drain(t, r)
	s := traceStats(t, d)
	// One CPU ran the flood: its bucket refills at rate/ncpu per second and holds
	// max(burst/ncpu, 1) events.
	limit := uint64(elapsed.Seconds()*rate/float64(ncpu)) + uint64(max(burst/ncpu, 1)) + 1
	t.Logf("%d packets in %s: %d events (limit %d), %d capped, %d lost", flood, elapsed, s.Emitted, limit, s.Capped, s.Lost)
	if uint64(len(evs)) != s.Emitted || s.Emitted == 0 || s.Emitted > limit {
		t.Errorf("%d events read, %d emitted; want 1..%d", len(evs), s.Emitted, limit)
	}
	if s.Emitted+s.Capped+s.Lost < flood {
		t.Errorf("emitted %d + capped %d + lost %d < %d selected packets", s.Emitted, s.Capped, s.Lost, flood)
	}
}

// TestTraceSampling checks that a sampling rate of 1 in 4 traces about a quarter of the
// packets.
func TestTraceSampling(t *testing.T) {
	d := loadTest(t)
	r := openTrace(t, d)
	cfg := traceAll(64)
	cfg.Sample = 4
	if err := d.StartTrace(cfg); err != nil {
		t.Fatal(err)
	}
	in := ulFrame(t, true, innerPacket(t, innerSpec{src: ue4, dst: app4, sport: 1, dport: 8080, payloadLen: 8}), 0x100, 9)
	const n = 2000
	if _, err := d.objs.UpgwUl.Run(&ebpf.RunOptions{Data: in, Repeat: n}); err != nil {
		t.Fatal(err)
	}
	got := len(drain(t, r))
	if got < n/4*7/10 || got > n/4*13/10 {
		t.Errorf("%d of %d packets traced at 1 in 4; want about %d", got, n, n/4)
	}
}

// TestTraceReaderBusy checks that the ring buffer has one reader at a time.
func TestTraceReaderBusy(t *testing.T) {
	d := loadTest(t)
	r, err := d.OpenTraceReader()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenTraceReader(); !errors.Is(err, ErrTraceBusy) {
		t.Fatalf("second reader: %v; want ErrTraceBusy", err)
	}
	r.Close()
	r2, err := d.OpenTraceReader()
	if err != nil {
		t.Fatalf("reader after close: %v", err)
	}
	r2.Close()
}
