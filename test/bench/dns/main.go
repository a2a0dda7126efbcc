// Command dns measures the site DNS server of a real mep binary with dnsperf on loopback
// (make bench): it starts `mep` with the site DNS on a free port and an in-process upstream,
// grants -rules DNS rules over Mm5 (spread over 100 app instances, as an orchestrator would),
// warms the cache with -names forwarded names, then runs dnsperf twice per workload (local
// answers, cached forwards): once plainly for queries/s, once with -v to record every query's
// latency and compute the percentiles. It installs nothing; dnsperf must be on PATH.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
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

	"github.com/edgemec/edgemec/internal/testutil/benchfig"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dns:", err)
		os.Exit(1)
	}
}

type options struct {
	rules, names, clients, outstanding int
	duration                           time.Duration
	dnsperf, mep                       string
}

const (
	token = "dns-bench-operator-token"
	apps  = 100
)

func run() error {
	var o options
	flag.IntVar(&o.rules, "rules", 1000, "DNS rules granted to the apps over Mm5 (local answers)")
	flag.IntVar(&o.names, "names", 1000, "distinct forwarded names, all cached before measuring")
	flag.IntVar(&o.clients, "clients", 4, "dnsperf -c: client sockets")
	flag.IntVar(&o.outstanding, "outstanding", 64, "dnsperf -q: queries in flight")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "dnsperf -l per run")
	flag.StringVar(&o.dnsperf, "dnsperf", "dnsperf", "dnsperf binary")
	flag.StringVar(&o.mep, "mep", "", "mep binary (go build ./cmd/mep)")
	flag.Parse()
	if o.mep == "" {
		return errors.New("-mep is required")
	}
	if _, err := exec.LookPath(o.dnsperf); err != nil {
		return fmt.Errorf("dnsperf not found (test/deps.d/dns.txt installs it): %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	upAddr, upQueries, stopUp, err := startUpstream()
	if err != nil {
		return err
	}
	defer stopUp()
	dir, err := os.MkdirTemp("", "dns-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m, dnsAddr, err := startMEP(ctx, o.mep, dir, upAddr)
	if err != nil {
		return err
	}
	defer m.Stop()
	if err := grantRules(ctx, m.Root, o.rules); err != nil {
		return err
	}

	local, fwd := filepath.Join(dir, "local.txt"), filepath.Join(dir, "forward.txt")
	if err := writeQueries(local, o.rules, "svc-%d.mec.bench"); err != nil {
		return err
	}
	if err := writeQueries(fwd, o.names, "host-%d.fwd.bench"); err != nil {
		return err
	}
	// Every granted rule answers, and every forwarded name is cached once, checked.
	c := &dns.Client{Timeout: 2 * time.Second}
	for i := range o.rules {
		if err := expectA(c, dnsAddr, fmt.Sprintf("svc-%d.mec.bench.", i), ruleAddr(i)); err != nil {
			return err
		}
	}
	for i := range o.names {
		if err := expectA(c, dnsAddr, fmt.Sprintf("host-%d.fwd.bench.", i), "192.0.2.1"); err != nil {
			return fmt.Errorf("warm cache: %w", err)
		}
	}
	warmUp := upQueries()
	_, port, _ := net.SplitHostPort(dnsAddr)

	fmt.Printf("dns: mep binary, dnsperf %s on loopback, %d rules over %d apps, %d cached forwarded names, -c %d -q %d -l %s, %d CPUs, load %s\n",
		dnsperfVersion(o.dnsperf), o.rules, apps, o.names, o.clients, o.outstanding, o.duration, nprocs(), benchfig.LoadAvg())
	fmt.Printf("%-16s %12s %10s %10s %10s %10s %8s\n", "workload", "queries/s", "avg ms", "p50 ms", "p99 ms", "p99.9 ms", "lost")
	for _, w := range []struct{ name, file string }{{"local answers", local}, {"cached forwards", fwd}} {
		hits0, err := metric(ctx, m.Root, "mep_dns_cache_hits_total")
		if err != nil {
			return err
		}
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
			hits, err := metric(ctx, m.Root, "mep_dns_cache_hits_total")
			if err != nil {
				return err
			}
			fmt.Printf("  cache hits during the forward runs: %.0f; upstream queries after warm-up: %d\n", hits-hits0, upQueries()-warmUp)
		}
		fmt.Printf("  latency run (dnsperf -v, same load): %.0f queries/s, %d latencies recorded\n", lat.qps, len(lat.latencies))
	}
	rss, peak, err := benchfig.Memory(m.Pid())
	if err == nil {
		fmt.Printf("  mep RSS %.1f MB (peak %.1f MB)\n", benchfig.MB(rss), benchfig.MB(peak))
	}
	return nil
}

// startMEP runs mep with its site DNS on a loopback port free for UDP and TCP, forwarding to
// upstream, and waits until it is ready.
func startMEP(ctx context.Context, bin, dir, upstream string) (m *benchfig.Server, dnsAddr string, err error) {
	dnsAddr, err = benchfig.FreeUDPTCPAddr()
	if err != nil {
		return nil, "", err
	}
	m, err = benchfig.StartServer(ctx, bin, []string{"--dns-addr", dnsAddr, "--dns-upstream", upstream,
		"--data-dir", filepath.Join(dir, "mep"), "--operator-token", token, "--log-level", "warn"}, os.Stderr, 30*time.Second)
	return m, dnsAddr, err
}

// grantRules puts the apps over Mm5, rule i granted to app i mod 100.
func grantRules(ctx context.Context, root string, n int) error {
	c, err := mm5api.NewClientWithResponses(root+"/mepm/v1", mm5api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}))
	if err != nil {
		return err
	}
	rules := make([][]mp1api.DnsRule, apps)
	ttl := 60
	for i := range n {
		rules[i%apps] = append(rules[i%apps], mp1api.DnsRule{DnsRuleId: fmt.Sprintf("rule-%d", i),
			DomainName: fmt.Sprintf("svc-%d.mec.bench", i), IpAddress: ruleAddr(i), IpAddressType: mp1api.IPV4, Ttl: &ttl})
	}
	for a := range apps {
		id := fmt.Sprintf("app-%d", a)
		resp, err := c.PutAppInstanceWithResponse(ctx, id, mm5api.AppInstance{AppName: id, AppProvider: "bench", AppDId: id,
			AppDNSRule: &rules[a]})
		if err != nil {
			return fmt.Errorf("put %s: %w", id, err)
		}
		if resp.StatusCode() != http.StatusCreated && resp.StatusCode() != http.StatusOK {
			return fmt.Errorf("put %s: %s %s", id, resp.Status(), resp.Body)
		}
	}
	return nil
}

func ruleAddr(i int) string { return fmt.Sprintf("10.%d.%d.%d", byte(i>>16), byte(i>>8), byte(i)) }

// expectA asks name over UDP and checks the one A answer.
func expectA(c *dns.Client, server, name, want string) error {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	r, _, err := c.Exchange(q, server)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return fmt.Errorf("%s: %v", name, r)
	}
	if a, ok := r.Answer[0].(*dns.A); !ok || a.A.String() != want {
		return fmt.Errorf("%s: got %v; want %s", name, r.Answer[0], want)
	}
	return nil
}

// metric sums the samples of a counter on the MEP's /metrics.
func metric(ctx context.Context, root, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, root+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %w", line, err)
		}
		sum += v
	}
	return sum, nil
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
