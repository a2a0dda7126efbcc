// Command dnsbench measures the site DNS server with dnsperf on loopback (make bench, issue 3):
// it starts a dnsserver.Server with -rules rules and an in-process upstream, warms the cache
// with -names forwarded names, then runs dnsperf twice per workload (local answers, cached
// forwards): once plainly for queries/s, once with -v to record every query's latency and
// compute the percentiles. It installs nothing; dnsperf must be on PATH.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgemec/edgemec/mep/internal/dnsserver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dnsbench:", err)
		os.Exit(1)
	}
}

type options struct {
	rules, names, clients, outstanding int
	duration                           time.Duration
	dnsperf                            string
}

func run() error {
	var o options
	flag.IntVar(&o.rules, "rules", 1000, "DNS rules loaded into the server (local answers)")
	flag.IntVar(&o.names, "names", 1000, "distinct forwarded names, all cached before measuring")
	flag.IntVar(&o.clients, "clients", 4, "dnsperf -c: client sockets")
	flag.IntVar(&o.outstanding, "outstanding", 64, "dnsperf -q: queries in flight")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "dnsperf -l per run")
	flag.StringVar(&o.dnsperf, "dnsperf", "dnsperf", "dnsperf binary")
	flag.Parse()
	if _, err := exec.LookPath(o.dnsperf); err != nil {
		return fmt.Errorf("dnsperf not found (test/deps.d/dns.txt installs it): %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	upAddr, upQueries, stopUp, err := startUpstream()
	if err != nil {
		return err
	}
	defer stopUp()
	reg := prometheus.NewRegistry()
	srv, err := dnsserver.New(dnsserver.Config{
		Addr:      "127.0.0.1:0",
		Upstreams: []string{upAddr},
		CacheSize: 2 * o.names,
	}, log, reg)
	if err != nil {
		return err
	}
	var rules []dnsserver.Rule
	created := time.Now()
	for i := range o.rules {
		rules = append(rules, dnsserver.Rule{
			AppInstanceID: fmt.Sprintf("app-%d", i%100),
			RuleID:        fmt.Sprintf("rule-%d", i),
			Domain:        fmt.Sprintf("svc-%d.mec.bench", i),
			Addr:          netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			TTL:           60,
			Created:       created,
		})
	}
	srv.SetRules(rules)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	udp, _ := srv.Addr()
	port := strconv.Itoa(udp.(*net.UDPAddr).Port)

	dir, err := os.MkdirTemp("", "dnsbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	local, fwd := filepath.Join(dir, "local.txt"), filepath.Join(dir, "forward.txt")
	if err := writeQueries(local, o.rules, "svc-%d.mec.bench"); err != nil {
		return err
	}
	if err := writeQueries(fwd, o.names, "host-%d.fwd.bench"); err != nil {
		return err
	}
	// Warm the cache: every forwarded name once, checked.
	c := &dns.Client{Timeout: 2 * time.Second}
	for i := range o.names {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("host-%d.fwd.bench.", i), dns.TypeA)
		r, _, err := c.Exchange(m, udp.String())
		if err != nil {
			return fmt.Errorf("warm cache with %s: %w", m.Question[0].Name, err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			return fmt.Errorf("warm cache with %s: %v", m.Question[0].Name, r)
		}
	}
	warmUp := upQueries()

	fmt.Printf("dns: dnsperf %s on loopback, %d rules, %d cached forwarded names, -c %d -q %d -l %s, %d CPUs, load %s\n",
		dnsperfVersion(o.dnsperf), o.rules, o.names, o.clients, o.outstanding, o.duration, nprocs(), loadavg())
	fmt.Printf("%-16s %12s %10s %10s %10s %10s %8s\n", "workload", "queries/s", "avg ms", "p50 ms", "p99 ms", "p99.9 ms", "lost")
	for _, w := range []struct{ name, file string }{{"local answers", local}, {"cached forwards", fwd}} {
		hits0 := counter(reg, "mep_dns_cache_hits_total")
		tp, err := dnsperfRun(ctx, o, port, w.file, false)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		lat, err := dnsperfRun(ctx, o, port, w.file, true)
		if err != nil {
			return fmt.Errorf("%s latency run: %w", w.name, err)
		}
		fmt.Printf("%-16s %12.0f %10.3f %10.3f %10.3f %10.3f %8d\n", w.name, tp.qps, tp.avg*1e3,
			percentile(lat.latencies, 50)*1e3, percentile(lat.latencies, 99)*1e3, percentile(lat.latencies, 99.9)*1e3, tp.lost+lat.lost)
		if w.file == fwd {
			fmt.Printf("  cache hits during the forward runs: %.0f; upstream queries after warm-up: %d\n",
				counter(reg, "mep_dns_cache_hits_total")-hits0, upQueries()-warmUp)
		}
		fmt.Printf("  latency run (dnsperf -v, same load): %.0f queries/s, %d latencies recorded\n", lat.qps, len(lat.latencies))
	}
	cancel()
	return <-done
}

func writeQueries(path string, n int, format string) error {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format+" A\n", i)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

type perf struct {
	qps, avg  float64
	lost      int
	latencies []float64 // seconds, from -v
}

var (
	reQPS  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	reAvg  = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
	reLost = regexp.MustCompile(`Queries lost:\s+([0-9]+)`)
	// -v prints one line per answer: "> NOERROR svc-1.mec.bench A 0.000123".
	reLine = regexp.MustCompile(`^> \S+ \S+ \S+ ([0-9]+\.[0-9]+)$`)
)

// dnsperfRun runs dnsperf once and parses its summary (and, verbose, each answer's latency).
func dnsperfRun(ctx context.Context, o options, port, file string, verbose bool) (perf, error) {
	args := []string{"-s", "127.0.0.1", "-p", port, "-d", file, "-c", strconv.Itoa(o.clients),
		"-q", strconv.Itoa(o.outstanding), "-l", strconv.Itoa(int(math.Ceil(o.duration.Seconds()))), "-t", "2"}
	if verbose {
		args = append(args, "-v")
	}
	cmd := exec.CommandContext(ctx, o.dnsperf, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return perf{}, err
	}
	if err := cmd.Start(); err != nil {
		return perf{}, fmt.Errorf("start dnsperf: %w", err)
	}
	var p perf
	var summary strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if m := reLine.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			p.latencies = append(p.latencies, v)
			continue
		}
		summary.WriteString(line + "\n")
	}
	if err := errors.Join(sc.Err(), cmd.Wait()); err != nil {
		return perf{}, fmt.Errorf("dnsperf: %w\n%s", err, summary.String())
	}
	s := summary.String()
	qps, avg, lost := reQPS.FindStringSubmatch(s), reAvg.FindStringSubmatch(s), reLost.FindStringSubmatch(s)
	if qps == nil || avg == nil || lost == nil {
		return perf{}, fmt.Errorf("unexpected dnsperf output:\n%s", s)
	}
	p.qps, _ = strconv.ParseFloat(qps[1], 64)
	p.avg, _ = strconv.ParseFloat(avg[1], 64)
	p.lost, _ = strconv.Atoi(lost[1])
	if verbose && len(p.latencies) == 0 {
		return perf{}, fmt.Errorf("dnsperf -v printed no per-query latencies:\n%s", s)
	}
	return p, nil
}

// percentile is the nearest-rank percentile of xs (sorted in place).
func percentile(xs []float64, pct float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	rank := int(math.Ceil(pct/100*float64(len(xs)))) - 1
	return xs[min(max(rank, 0), len(xs)-1)]
}

// startUpstream serves every A question with a fixed address and a 1-hour TTL.
func startUpstream() (addr string, queries func() int64, stop func(), err error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	var n atomic.Int64
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		n.Add(1)
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		if q := r.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600}, A: net.IPv4(192, 0, 2, 1)}}
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: h}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe() //nolint:errcheck // ends at Shutdown
	<-started
	return pc.LocalAddr().String(), n.Load, func() { _ = srv.Shutdown() }, nil
}

func counter(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}

func dnsperfVersion(bin string) string {
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	if m := regexp.MustCompile(`Version (\S+)`).FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return "?"
}

func nprocs() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func loadavg() string {
	f, err := os.Open("/proc/loadavg")
	if err != nil {
		return "?"
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 64))
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return "?"
	}
	return strings.Join(fields[:3], " ")
}
