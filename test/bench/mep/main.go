// Command mep measures the MEP's performance figures against a real mep binary:
//
//  1. Mp1 discovery throughput and p99 latency with many registered services, filtered by
//     ser_name, next to a bare echo handler that returns the same bytes (both driven by wrk
//     with the same connections, threads and duration on loopback);
//  2. service registration → SerAvailabilityNotification latency with many subscribers;
//  3. a victim app's notification latency, unloaded and while another app's 100 callbacks
//     answer 2xx just under the delivery timeout, with the victim's callback on its own host
//     and on the attacker's host:port (fair.go);
//  4. the MEP's resident memory with the services registered.
//
// It prints a table; benchmarks report numbers and do not pass or fail. test/bench.d/mep.sh
// builds the binaries and runs it.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/edgemec/edgemec/internal/testutil/benchfig"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

type options struct {
	mepBin      string
	wrkBin      string
	dir         string
	services    int
	apps        int
	names       int
	subscribers int
	notifyN     int
	duration    time.Duration
	warmup      time.Duration
	connections int
	// latConnections is the connection count of the moderate-load latency run.
	latConnections int
	threads        int
	parallel       int
	// notifyOnly skips discovery and memory: only the notification figures (for quick A/B runs).
	notifyOnly bool
	// fair runs the two fairness attacks (see fairness), fairN victim notifications each,
	// with attacker callbacks answering after fairSlow.
	fair     bool
	fairN    int
	fairSlow time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.mepBin, "mep", "", "path of the mep binary (required)")
	flag.StringVar(&o.wrkBin, "wrk", "wrk", "path of wrk")
	flag.StringVar(&o.dir, "dir", "", "scratch directory (default: a new temporary one)")
	flag.IntVar(&o.services, "services", 10000, "services to register")
	flag.IntVar(&o.apps, "apps", 10, "producer apps the services are spread over (MaxServicesPerApp is 1000)")
	flag.IntVar(&o.names, "names", 1000, "distinct serNames (services per name = services/names)")
	flag.IntVar(&o.subscribers, "subscribers", 100, "SerAvailability subscriptions for the notification figure")
	flag.IntVar(&o.notifyN, "notify-n", 100, "services registered one after another for the notification figure")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "wrk duration per measurement")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "wrk warm-up before each measurement")
	flag.IntVar(&o.connections, "connections", 32, "wrk connections")
	flag.IntVar(&o.latConnections, "latency-connections", 4, "wrk connections of the moderate-load latency run (1 thread)")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.parallel, "parallel", 8, "concurrent requests while populating")
	flag.BoolVar(&o.notifyOnly, "notify-only", false, "measure only the notification latency (with -services still registered)")
	flag.BoolVar(&o.fair, "fair", true, "measure a victim app's notification latency under the two fairness attacks")
	flag.IntVar(&o.fairN, "fair-n", 10, "victim notifications per fairness figure")
	flag.DurationVar(&o.fairSlow, "fair-slow", 2900*time.Millisecond, "how long the attacker's callbacks take to answer 2xx (just under the MEP's 3 s timeout)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type row struct{ name, value, goal, note string }

func run(o options) error {
	if o.mepBin == "" {
		return errors.New("-mep is required")
	}
	if o.apps*1000 < o.services {
		return fmt.Errorf("%d services need at least %d apps (1000 services per app)", o.services, (o.services+999)/1000)
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "mep-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	m, err := startMEP(ctx, o)
	if err != nil {
		return err
	}
	defer m.stop()
	c := &client{root: m.root, op: m.token, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}

	// Populate: producer apps register the services; discovery runs as a consumer app that
	// declared the queried name as required, so the visibility check is part of the figure.
	start := time.Now()
	consumer, err := c.provisionConsumer(ctx, o)
	if err != nil {
		return err
	}
	if err := c.populate(ctx, o); err != nil {
		return err
	}
	populate := time.Since(start)
	rss := m.rss()
	heap := c.heapInuse(ctx)
	fmt.Fprintf(os.Stderr, "bench: %d services registered in %v\n", o.services, populate.Round(time.Millisecond))

	if o.notifyOnly {
		nl, err := c.notifyLatency(ctx, o)
		if err != nil {
			return err
		}
		rows := nl.rows(o)
		fr, err := c.fairRows(ctx, o)
		if err != nil {
			return err
		}
		fmt.Printf("\nMEP benchmark — notifications only, %d CPUs, %s\n\n", runtime.NumCPU(), runtime.Version())
		printTable(append(rows, fr...))
		return nil
	}

	// Discovery: the MEP, then a bare echo handler serving the same bytes.
	query := "/mec_service_mgmt/v1/services?ser_name=" + serName(42%o.names)
	body, err := c.get(ctx, query, consumer)
	if err != nil {
		return err
	}
	var got []mp1api.ServiceInfo
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("discovery answer: %w", err)
	}
	if len(got) == 0 {
		return errors.New("discovery returned no services")
	}
	bare, err := startBare(query, body)
	if err != nil {
		return err
	}
	defer bare.Close()
	hdr := "Authorization: Bearer " + consumer
	mepRes, err := wrk(ctx, o, m.root+query, hdr)
	if err != nil {
		return err
	}
	bareRes, err := wrk(ctx, o, "http://"+bare.Addr().String()+query, hdr)
	if err != nil {
		return err
	}
	// The same request at moderate load: latency without the queueing of a saturating run.
	lo := o
	lo.threads, lo.connections = 1, o.latConnections
	mepLat, err := wrk(ctx, lo, m.root+query, hdr)
	if err != nil {
		return err
	}
	bareLat, err := wrk(ctx, lo, "http://"+bare.Addr().String()+query, hdr)
	if err != nil {
		return err
	}
	rssAfter := m.rss()

	// Registration → notification.
	nl, err := c.notifyLatency(ctx, o)
	if err != nil {
		return err
	}

	ratio := mepRes.rps / bareRes.rps
	rows := []row{
		{"services registered (Mm5 + Mp1)", fmt.Sprintf("%d in %.1f s", o.services, populate.Seconds()), "", fmt.Sprintf("%d apps, %d names", o.apps, o.names)},
		{"discovery req/s, mep (ser_name filter)", fmt.Sprintf("%.0f", mepRes.rps), "", fmt.Sprintf("%d services × %d B", len(got), len(body))},
		{"discovery req/s, bare echo (same bytes)", fmt.Sprintf("%.0f", bareRes.rps), "", ""},
		{"ratio mep / bare", fmt.Sprintf("%.2f×", ratio), "≥ 0.70×", verdict(ratio >= 0.7)},
		{fmt.Sprintf("discovery p99, mep (%d conns, saturating)", o.connections), fmtDur(mepRes.p99), "< 5 ms", verdict(mepRes.p99 < 5*time.Millisecond)},
		{fmt.Sprintf("discovery p99, bare echo (%d conns)", o.connections), fmtDur(bareRes.p99), "", ""},
		{"discovery p50, mep / bare (saturating)", fmtDur(mepRes.p50) + " / " + fmtDur(bareRes.p50), "", ""},
		{fmt.Sprintf("discovery p99, mep (%d conns)", lo.connections), fmtDur(mepLat.p99), "< 5 ms", verdict(mepLat.p99 < 5*time.Millisecond) + fmt.Sprintf("; %.0f req/s", mepLat.rps)},
		{fmt.Sprintf("discovery p99, bare echo (%d conns)", lo.connections), fmtDur(bareLat.p99), "", fmt.Sprintf("%.0f req/s", bareLat.rps)},
	}
	rows = append(rows, nl.rows(o)...)
	fr, err := c.fairRows(ctx, o)
	if err != nil {
		return err
	}
	rows = append(rows, fr...)
	rows = append(rows, []row{
		{fmt.Sprintf("mep RSS with %d services", o.services), rss.String(), "< 50 MB", verdict(rss.rss < 50<<20) + "; " + rss.parts()},
		{"mep Go heap in use with the services", fmt.Sprintf("%.1f MB", heap/(1<<20)), "", "go_memstats_heap_inuse_bytes"},
		{"mep RSS after the discovery load", rssAfter.String(), "", rssAfter.parts()},
	}...)
	fmt.Printf("\nMEP benchmark — wrk -t%d -c%d -d%v --latency on loopback, %d CPUs, %s\n\n",
		o.threads, o.connections, o.duration, runtime.NumCPU(), runtime.Version())
	printTable(rows)
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "goal met"
	}
	return "goal missed"
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func printTable(rows []row) {
	w := [3]int{}
	for _, r := range append([]row{{"figure", "value", "goal", ""}}, rows...) {
		w[0], w[1], w[2] = max(w[0], runes(r.name)), max(w[1], runes(r.value)), max(w[2], runes(r.goal))
	}
	// Pad by runes, not bytes: the goals hold "≥" and "×".
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n-runes(s)) }
	line := func(r row) {
		fmt.Printf("  %s  %s%s  %s  %s\n", pad(r.name, w[0]), strings.Repeat(" ", w[1]-runes(r.value)), r.value, pad(r.goal, w[2]), r.note)
	}
	line(row{"figure", "value", "goal", ""})
	fmt.Printf("  %s\n", strings.Repeat("-", w[0]+w[1]+w[2]+18))
	for _, r := range rows {
		line(r)
	}
	fmt.Println()
}

func runes(s string) int { return len([]rune(s)) }

// mepProcess is a running mep binary.
type mepProcess struct {
	*benchfig.Server
	root  string
	token string
	logf  *os.File
}

func startMEP(ctx context.Context, o options) (*mepProcess, error) {
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	m := &mepProcess{token: hex.EncodeToString(tok)}
	logf, err := os.Create(filepath.Join(o.dir, "mep.log"))
	if err != nil {
		return nil, err
	}
	m.logf = logf
	m.Server, err = benchfig.StartServer(ctx, o.mepBin, []string{"--dns-addr", "off",
		"--data-dir", filepath.Join(o.dir, "data"), "--operator-token", m.token, "--log-level", "warn"}, logf, 30*time.Second)
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("%w; see %s", err, logf.Name())
	}
	m.root = m.Root
	return m, nil
}

func (m *mepProcess) stop() {
	m.Stop()
	m.logf.Close()
}

// rss reads VmRSS of the mep process from /proc, with its anonymous and file-backed parts.
func (m *mepProcess) rss() procMem {
	var pm procMem
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", m.Pid()))
	if err != nil {
		return pm
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		switch k {
		case "VmRSS":
			pm.rss = kb << 10
		case "RssAnon":
			pm.anon = kb << 10
		case "RssFile":
			pm.file = kb << 10
		}
	}
	return pm
}

type procMem struct{ rss, anon, file int64 }

func (p procMem) String() string { return fmt.Sprintf("%.1f MB", float64(p.rss)/(1<<20)) }

func (p procMem) parts() string {
	return fmt.Sprintf("anon %.1f MB, file %.1f MB", float64(p.anon)/(1<<20), float64(p.file)/(1<<20))
}

type client struct {
	root string
	op   string
	hc   *http.Client
}

func serName(i int) string { return fmt.Sprintf("bench-svc-%04d", i) }

func bearer(tok string) func(context.Context, *http.Request) error {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
}

func (c *client) mm5() (*mm5api.ClientWithResponses, error) {
	return mm5api.NewClientWithResponses(c.root+"/mepm/v1", mm5api.WithHTTPClient(c.hc), mm5api.WithRequestEditorFn(bearer(c.op)))
}

func (c *client) mp1(tok string) (*mp1api.ClientWithResponses, error) {
	return mp1api.NewClientWithResponses(c.root, mp1api.WithHTTPClient(c.hc), mp1api.WithRequestEditorFn(bearer(tok)))
}

// provision creates an app instance and returns its Mp1 token.
func (c *client) provision(ctx context.Context, id string, spec mm5api.AppInstance) (string, error) {
	mm5, err := c.mm5()
	if err != nil {
		return "", err
	}
	resp, err := mm5.PutAppInstanceWithResponse(ctx, id, spec)
	if err != nil {
		return "", err
	}
	rec := resp.JSON201
	if rec == nil {
		rec = resp.JSON200
	}
	if rec == nil {
		return "", fmt.Errorf("put app %s: %s %s", id, resp.Status(), resp.Body)
	}
	mp1, err := c.mp1("")
	if err != nil {
		return "", err
	}
	gt := "client_credentials"
	tr, err := mp1.IssueTokenWithFormdataBodyWithResponse(ctx, mp1api.TokenRequest{GrantType: gt,
		ClientId: &rec.Credentials.ClientId, ClientSecret: &rec.Credentials.ClientSecret})
	if err != nil {
		return "", err
	}
	if tr.JSON200 == nil {
		return "", fmt.Errorf("token for %s: %s %s", id, tr.Status(), tr.Body)
	}
	return tr.JSON200.AccessToken, nil
}

func (c *client) provisionConsumer(ctx context.Context, o options) (string, error) {
	// An app declares a handful of required services; the queried name is one of them.
	deps := make([]mp1api.ServiceDependency, 0, 10)
	for i := 40; i < 50; i++ {
		deps = append(deps, mp1api.ServiceDependency{SerName: serName(i % o.names), Version: "1"})
	}
	return c.provision(ctx, "bench-consumer", mm5api.AppInstance{AppName: "consumer", AppProvider: "bench", AppDId: "consumer",
		AppServiceRequired: &deps})
}

// producedBy declares the services producer a registers in populate: an app registers only
// the services its instance declares.
func producedBy(a int, o options) *[]mm5api.ServiceDescriptor {
	seen := map[int]bool{}
	var out []mm5api.ServiceDescriptor
	for i := a; i < o.services; i += o.apps {
		if n := i % o.names; !seen[n] {
			seen[n] = true
			out = append(out, mm5api.ServiceDescriptor{SerName: serName(n), Version: "1.0"})
		}
	}
	return &out
}

func (c *client) populate(ctx context.Context, o options) error {
	tokens := make([]string, o.apps)
	for a := range o.apps {
		var err error
		if tokens[a], err = c.provision(ctx, fmt.Sprintf("bench-producer-%02d", a),
			mm5api.AppInstance{AppName: "producer", AppProvider: "bench", AppDId: "producer", AppServiceProduced: producedBy(a, o)}); err != nil {
			return err
		}
	}
	var next atomic.Int64
	errs := make(chan error, o.parallel)
	var wg sync.WaitGroup
	for range o.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients := map[int]*mp1api.ClientWithResponses{}
			for {
				i := int(next.Add(1) - 1)
				if i >= o.services {
					return
				}
				a := i % o.apps
				cl := clients[a]
				if cl == nil {
					var err error
					if cl, err = c.mp1(tokens[a]); err != nil {
						errs <- err
						return
					}
					clients[a] = cl
				}
				tid := "rest-http"
				local := i%2 == 0
				resp, err := cl.AppServicesPOSTWithResponse(ctx, fmt.Sprintf("bench-producer-%02d", a), mp1api.ServiceInfoPost{
					SerName: serName(i % o.names), Version: "1.0", State: mp1api.ServiceStateACTIVE, Serializer: mp1api.JSON,
					TransportId: &tid, IsLocal: &local})
				if err == nil && resp.JSON201 == nil {
					err = fmt.Errorf("register service %d: %s %s", i, resp.Status(), resp.Body)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (c *client) get(ctx context.Context, path, tok string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.root+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s %s", path, resp.Status, b)
	}
	return b, err
}

// heapInuse reads go_memstats_heap_inuse_bytes from the MEP's /metrics (-1 if absent).
func (c *client) heapInuse(ctx context.Context) float64 {
	b, err := c.get(ctx, "/metrics", "")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return -1
}

// startBare serves body at path from a bare echo handler: the same framework and bytes as
// the MEP without authentication, query checking, lookup or instrumentation.
func startBare(path string, body []byte) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET(strings.SplitN(path, "?", 2)[0], func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	})
	go func() { _ = http.Serve(ln, e) }()
	return ln, nil
}

type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func wrk(ctx context.Context, o options, url, header string) (wrkResult, error) {
	args := func(d time.Duration) []string {
		return []string{"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections), "-d", fmt.Sprintf("%ds", int(d.Seconds())),
			"--latency", "-H", header, url}
	}
	if o.warmup > 0 {
		if out, err := exec.CommandContext(ctx, o.wrkBin, args(o.warmup)...).CombinedOutput(); err != nil {
			return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
		}
	}
	out, err := exec.CommandContext(ctx, o.wrkBin, args(o.duration)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	var r wrkResult
	m := reRPS.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, m := range reLatency.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9}[string(m[3])]
		d := time.Duration(v * unit)
		if string(m[1]) == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := reNon2xx.FindSubmatch(out); m != nil {
		return r, fmt.Errorf("wrk saw %s non-2xx responses from %s", m[1], url)
	}
	return r, nil
}

// notifyLatency registers services one after another, each watched by o.subscribers
// SerAvailability subscriptions with callbacks to an in-process receiver, and measures the
// time from the start of each POST to each subscriber receiving its notification. Each
// registration's fan-out completes before the next starts.
func (c *client) notifyLatency(ctx context.Context, o options) (notifyResult, error) {
	type arrival struct {
		id string
		at time.Time
	}
	arrivals := make(chan arrival, o.subscribers*4)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return notifyResult{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var n mp1api.ServiceAvailabilityNotification
		if err := json.NewDecoder(r.Body).Decode(&n); err == nil {
			for _, ref := range n.ServiceReferences {
				if ref.ChangeType == mp1api.ADDED {
					arrivals <- arrival{ref.SerInstanceId, at}
				}
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	const name = "bench-notified"
	for a := 0; a*100 < o.subscribers; a++ { // 100 subscriptions per app (MaxSubscriptionsPerApp)
		id := fmt.Sprintf("bench-subscriber-%02d", a)
		tok, err := c.provision(ctx, id, mm5api.AppInstance{AppName: "subscriber", AppProvider: "bench", AppDId: "subscriber",
			AppServiceRequired: &[]mp1api.ServiceDependency{{SerName: name, Version: "1"}}})
		if err != nil {
			return notifyResult{}, err
		}
		mp1, err := c.mp1(tok)
		if err != nil {
			return notifyResult{}, err
		}
		for i := a * 100; i < min(o.subscribers, (a+1)*100); i++ {
			resp, err := mp1.SerAvailSubscriptionsPOSTWithResponse(ctx, id, mp1api.SerAvailabilityNotificationSubscription{
				SubscriptionType:  "SerAvailabilityNotificationSubscription",
				CallbackReference: fmt.Sprintf("http://%s/cb/%d", ln.Addr(), i),
				FilteringCriteria: &mp1api.SerAvailabilityFilteringCriteria{SerNames: &[]string{name}},
			})
			if err == nil && resp.JSON201 == nil {
				err = fmt.Errorf("subscribe: %s %s", resp.Status(), resp.Body)
			}
			if err != nil {
				return notifyResult{}, err
			}
		}
	}
	producer, err := c.provision(ctx, "bench-notifier", mm5api.AppInstance{AppName: "notifier", AppProvider: "bench", AppDId: "notifier",
		AppServiceProduced: &[]mm5api.ServiceDescriptor{{SerName: name, Version: "1"}}})
	if err != nil {
		return notifyResult{}, err
	}
	mp1, err := c.mp1(producer)
	if err != nil {
		return notifyResult{}, err
	}
	var r notifyResult
	early := map[string][]time.Time{} // notifications that arrive before the POST returns
	for range o.notifyN {
		tid := "rest-http"
		t0 := time.Now()
		resp, err := mp1.AppServicesPOSTWithResponse(ctx, "bench-notifier", mp1api.ServiceInfoPost{
			SerName: name, Version: "1", State: mp1api.ServiceStateACTIVE, Serializer: mp1api.JSON, TransportId: &tid})
		if err == nil && resp.JSON201 == nil {
			err = fmt.Errorf("register: %s %s", resp.Status(), resp.Body)
		}
		if err != nil {
			return notifyResult{}, err
		}
		r.post = append(r.post, time.Since(t0))
		id := *resp.JSON201.SerInstanceId
		got := early[id]
		delete(early, id)
		timeout := time.After(10 * time.Second)
		for len(got) < o.subscribers {
			select {
			case a := <-arrivals:
				if a.id == id {
					got = append(got, a.at)
				} else {
					early[a.id] = append(early[a.id], a.at)
				}
			case <-timeout:
				return notifyResult{}, fmt.Errorf("only %d of %d subscribers notified within 10 s", len(got), o.subscribers)
			}
		}
		first, last := time.Duration(1<<62), time.Duration(0)
		for _, at := range got {
			d := at.Sub(t0)
			r.all = append(r.all, d)
			first, last = min(first, d), max(last, d)
		}
		r.first, r.last = append(r.first, first), append(r.last, last)
	}
	return r, nil
}

// notifyResult holds the registration → notification latencies: of every subscriber, of
// the first and last subscriber of each registration, and the registration POST itself.
type notifyResult struct{ all, first, last, post []time.Duration }

func (r notifyResult) rows(o options) []row {
	p99 := pct(r.all, 99)
	return []row{
		{fmt.Sprintf("registration→notification p50 (%d subs)", o.subscribers), fmtDur(pct(r.all, 50)), "", fmt.Sprintf("%d registrations", o.notifyN)},
		{fmt.Sprintf("registration→notification p99 (%d subs)", o.subscribers), fmtDur(p99), "< 10 ms", verdict(p99 < 10*time.Millisecond)},
		{"registration→first subscriber p50 / p99", fmtDur(pct(r.first, 50)) + " / " + fmtDur(pct(r.first, 99)), "", ""},
		{"registration→last subscriber p50 / p99", fmtDur(pct(r.last, 50)) + " / " + fmtDur(pct(r.last, 99)), "", ""},
		{"registration POST p50 / p99", fmtDur(pct(r.post, 50)) + " / " + fmtDur(pct(r.post, 99)), "", "201 received by the producer"},
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}
