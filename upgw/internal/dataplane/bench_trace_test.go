package dataplane

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/edgemec/edgemec/upgw/internal/dataplane/benchobj"
)

// The packet trace's cost on the uplink paths: with the trace points compiled in and off
// (the shipped build) against the same build with them compiled out (UPGW_NO_TRACE), and
// with tracing on for every packet at its cap.

// BenchmarkTraceOffUplinkBreakout is BenchmarkUplinkBreakout for the build with the trace
// points compiled in and off (ns/op) and the build without them (ns/op-notrace), in
// alternating rounds.
func BenchmarkTraceOffUplinkBreakout(b *testing.B) {
	benchTraceOff(b, app4, StatULDecap, true)
}

// BenchmarkTraceOffPassThrough is BenchmarkPassThrough for the same two builds.
func BenchmarkTraceOffPassThrough(b *testing.B) {
	benchTraceOff(b, netip.MustParseAddr("198.51.100.7"), StatULPass, false)
}

// benchTraceOff measures a path in both builds with the harness of benchDiff: rounds
// alternate between the builds, so that both see the same load on the host, and the best
// round of each program counts. ns/op and ns/op-notrace are each W - R - (M - R)/2 (see
// benchDiff); ratio is their quotient.
func benchTraceOff(b *testing.B, dst netip.Addr, path Stat, move bool) {
	in := ulBenchFrame(b, dst)
	type build struct {
		d             *Datapath
		bl            *benchLoaded
		w, r, m       float64
		before, after uint64
	}
	builds := []*build{{}, {}}
	for i, specOf := range []func() (*ebpf.CollectionSpec, error){benchobj.Spec, benchobj.SpecNoTrace} {
		d, bl := loadBenchSpec(b, specOf)
		setupBench(b, d)
		tmpl := make([]byte, benchLen)
		copy(tmpl, in)
		if err := bl.BenchTmpl.Put(uint32(0), tmpl); err != nil {
			b.Fatal(err)
		}
		builds[i] = &build{d: d, bl: bl, w: 1e18, r: 1e18, m: 1e18, before: statsDelta(b, d)[path]}
	}
	n := max(b.N, 1000)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const rounds = 10
	for range rounds {
		for _, bd := range builds {
			bd.w = min(bd.w, timeRun(b, bd.bl.BenchUl, in, n))
			bd.r = min(bd.r, timeRun(b, bd.bl.BenchUlRestore, in, n))
			if move {
				bd.m = min(bd.m, timeRun(b, bd.bl.BenchUlMove, in, n))
			}
		}
	}
	ns := make([]float64, len(builds))
	for i, bd := range builds {
		if got := statsDelta(b, bd.d)[path] - bd.before; got < uint64(rounds*n) {
			b.Fatalf("path %s counted %d runs; want %d: the harness measured another path", path, got, rounds*n)
		}
		ns[i] = bd.w - bd.r
		if move {
			ns[i] -= (bd.m - bd.r) / 2
		}
	}
	b.ReportMetric(ns[0], "ns/op")
	b.ReportMetric(ns[1], "ns/op-notrace")
	b.ReportMetric(ns[0]/ns[1], "ratio")
}

// BenchmarkTraceCapUplinkBreakout is BenchmarkUplinkBreakout with tracing on for every
// packet and a cap of 1,000 events per second: after the first few events every packet
// pays the selection and the token bucket and is capped, the steady state of a trace
// under a flood.
func BenchmarkTraceCapUplinkBreakout(b *testing.B) {
	benchTraceCap(b, app4, StatULDecap, true)
}

// BenchmarkTraceCapPassThrough is BenchmarkPassThrough with tracing on at the cap.
func BenchmarkTraceCapPassThrough(b *testing.B) {
	benchTraceCap(b, netip.MustParseAddr("198.51.100.7"), StatULPass, false)
}

func benchTraceCap(b *testing.B, dst netip.Addr, path Stat, move bool) {
	d, bl := loadBench(b)
	setupBench(b, d)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		b.Fatal(err)
	}
	cost, burst := TraceBucket(1000, 10, ncpu)
	if err := d.StartTrace(TraceConfig{Snaplen: 128, Sample: 1, CostNs: cost, BurstNs: burst}); err != nil {
		b.Fatal(err)
	}
	before, err := d.TraceStats()
	if err != nil {
		b.Fatal(err)
	}
	mv := bl.BenchUlMove
	if !move {
		mv = nil
	}
	benchDiff(b, d, bl, bl.BenchUl, bl.BenchUlRestore, mv, ulBenchFrame(b, dst), path)
	after, err := d.TraceStats()
	if err != nil {
		b.Fatal(err)
	}
	if after.Capped-before.Capped < uint64(b.N) {
		b.Fatalf("%d packets capped; want at least %d: the benchmark did not run at the cap", after.Capped-before.Capped, b.N)
	}
	b.ReportMetric(float64(after.Emitted-before.Emitted), "events")
}
