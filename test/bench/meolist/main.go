// Command meolist measures the MEO's list and filter reads on a large database
// (test/bench.d/meo-list.sh runs it): it starts a meo binary on an empty PostgreSQL database,
// fills the database with S sites (default 10,000), N app instances on them (default
// 100,000) and two op occurrences per instance, then sends each read below back to back on C
// connections (default 4) for a few seconds and prints its p50/p99 (goal < 50 ms), and the
// MEO's RSS (goal < 200 MB):
//
//   - Mm1 GET /app_lcm/v1/app_instances: first page, a deep page (nextpage_opaque_marker),
//     and ETSI filters on the site, on appDId and state, and on a name (not a column);
//   - Mm1 GET /app_lcm/v1/app_lcm_op_occs: first page, filters on the state, the instance,
//     and the operation with the site;
//   - inventory GET /inventory/v1/sites: first page, a deep page, and a label selector.
//
// The rows are inserted with SQL, as the MEO writes them: the figure is about the reads, and
// creating 100,000 instances through the API would only take long. The sites' MEPs and VIMs do
// not exist (their endpoints are closed loopback ports): the MEO runs with a long lease and
// refresh interval so that its site loops do not retry 10,000 unreachable sites every few
// seconds during the figure. Once the rows are in, the MEO is restarted, as a MEO starts on
// a database of that size, and the reads wait until it has settled: its CPU time grows by
// less than 5 % of a core over three seconds in a row (its start-up work on 10,000 sites
// done), so that the figure is of the reads and not of a start-up storm beside them.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/edgemec/edgemec/internal/testutil/benchfig"
	"github.com/jackc/pgx/v5"
)

const token = "listbench-operator-token"

type options struct {
	meoBin, dsn  string
	sites, insts int
	conns        int
	each         time.Duration
	only         string
	meoLogLevel  string
}

func main() {
	var o options
	flag.StringVar(&o.meoBin, "meo", "", "meo binary (required)")
	flag.StringVar(&o.dsn, "database-url", "", "PostgreSQL URL of an empty database (required)")
	flag.IntVar(&o.sites, "sites", 10000, "sites")
	flag.IntVar(&o.insts, "instances", 100000, "app instances (two op occurrences each)")
	flag.IntVar(&o.conns, "connections", 4, "concurrent connections")
	flag.DurationVar(&o.each, "each", 3*time.Second, "how long each read is measured")
	flag.StringVar(&o.only, "only", "", "measure only the reads whose name contains this")
	flag.StringVar(&o.meoLogLevel, "meo-log-level", "error", "meo log level")
	flag.Parse()
	if o.meoBin == "" || o.dsn == "" {
		fmt.Fprintln(os.Stderr, "listbench: -meo and -database-url are required")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "listbench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx := context.Background()
	// The first start migrates the schema; the rows go in while it runs, then it starts again
	// on the full database.
	start := func() (*benchfig.Server, error) {
		return benchfig.StartServer(ctx, o.meoBin, []string{"--database-url", o.dsn, "--operator-token", token,
			"--log-level", o.meoLogLevel, "--lease", "10m", "--site-refresh-interval", "1h"}, os.Stderr, 60*time.Second)
	}
	meo, err := start()
	if err != nil {
		return err
	}
	defer func() { meo.Kill() }()
	t0 := time.Now()
	if err := populate(ctx, o.dsn, o.sites, o.insts); err != nil {
		return err
	}
	fmt.Printf("listbench: %d sites, %d app instances, %d op occurrences inserted in %v\n", o.sites, o.insts, 2*o.insts,
		time.Since(t0).Round(time.Millisecond))
	meo.Kill()
	t0 = time.Now()
	if meo, err = start(); err != nil {
		return err
	}
	root := meo.Root
	ready := time.Since(t0)
	if err := settle(meo.Pid(), 5*time.Minute); err != nil {
		return err
	}
	fmt.Printf("listbench: meo restarted, ready after %v, settled after %v (load average %s)\n", ready.Round(time.Millisecond),
		time.Since(t0).Round(time.Millisecond), benchfig.LoadAvg())

	deepInst, err := deepPage(root+"/app_lcm/v1/app_instances", 100)
	if err != nil {
		return err
	}
	deepSites, err := deepPage(root+"/inventory/v1/sites", 20)
	if err != nil {
		return err
	}
	site := fmt.Sprintf("site-%05d", o.sites/2)
	inst := fmt.Sprintf("inst-%06d", o.insts/2)
	f := func(s string) string { return "?filter=" + url.QueryEscape(s) }
	reads := []struct{ name, path string }{
		{"instances, first page", "/app_lcm/v1/app_instances"},
		{"instances, page 100 (marker)", deepInst},
		{"instances filter site (10 match)", "/app_lcm/v1/app_instances" + f("(eq,mecHostInformation/hostId,"+site+")")},
		{"instances filter appDId+state (~900)", "/app_lcm/v1/app_instances" + f("(eq,appDId,appd-07);(eq,instantiationState,INSTANTIATED)")},
		{"instances filter appDId+state+site", "/app_lcm/v1/app_instances" + f("(eq,appDId,appd-07);(eq,instantiationState,INSTANTIATED);(eq,mecHostInformation/hostId,"+site+")")},
		{"instances filter name (jsonb, 1 match)", "/app_lcm/v1/app_instances" + f("(eq,appInstanceName,name-"+inst+")")},
		{"op occs, first page", "/app_lcm/v1/app_lcm_op_occs"},
		{"op occs filter state FAILED (~1000)", "/app_lcm/v1/app_lcm_op_occs" + f("(eq,operationState,FAILED)")},
		{"op occs filter instance (2 match)", "/app_lcm/v1/app_lcm_op_occs" + f("(eq,appInstanceId,"+inst+")")},
		{"op occs filter operation+site", "/app_lcm/v1/app_lcm_op_occs" + f("(eq,lcmOperation,INSTANTIATE);(eq,siteId,"+site+")")},
		{"sites, first page", "/inventory/v1/sites"},
		{"sites, page 20 (marker)", deepSites},
		{"sites labels region (1/20)", "/inventory/v1/sites?labelSelector=region%3Dr07"},
		{"sites labels region+tier", "/inventory/v1/sites?labelSelector=region%3Dr07,tier%3Dgold"},
	}
	fmt.Printf("%-40s %8s %8s %8s %6s %s\n", "read ("+strconv.Itoa(o.conns)+" connections)", "p50 ms", "p99 ms", "req/s", "items", "goal p99 < 50 ms")
	var worst time.Duration
	for _, r := range reads {
		if o.only != "" && !strings.Contains(r.name, o.only) {
			continue
		}
		u := r.path
		if !strings.HasPrefix(u, "http") {
			u = root + u
		}
		items, err := count(u)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		lat, err := benchfig.Load(u, token, o.conns, o.each)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		p99 := benchfig.Percentile(lat, .99)
		worst = max(worst, p99)
		fmt.Printf("%-40s %8.2f %8.2f %8.0f %6d  load %s\n", r.name, benchfig.MS(benchfig.Percentile(lat, .50)), benchfig.MS(p99), float64(len(lat))/o.each.Seconds(), items, benchfig.LoadAvg())
	}
	rss, hwm, err := mbMemory(meo.Pid())
	if err != nil {
		return err
	}
	fmt.Printf("%-40s worst p99 %.2f ms; meo RSS %.0f MB, peak %.0f MB (goal < 200 MB)\n", "all reads", benchfig.MS(worst), rss, hwm)
	return nil
}

// settle waits until process pid used less than 5 % of a core in each of three consecutive
// seconds, or fails after max.
func settle(pid int, max time.Duration) error {
	deadline := time.Now().Add(max)
	last, err := cpuTime(pid)
	if err != nil {
		return err
	}
	quiet := 0
	for quiet < 3 {
		if time.Now().After(deadline) {
			return fmt.Errorf("meo still busy after %v", max)
		}
		time.Sleep(time.Second)
		cur, err := cpuTime(pid)
		if err != nil {
			return err
		}
		if cur-last < 50*time.Millisecond {
			quiet++
		} else {
			quiet = 0
		}
		last = cur
	}
	return nil
}

// cpuTime returns the user and system CPU time process pid used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (in parentheses, which may hold spaces): utime and
	// stime are the 12th and 13th of those, in clock ticks (100 per second on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// populate inserts the rows in the shape the MEO writes them (the documents as the LCM and
// the inventory build them, the indexed columns beside).
func populate(ctx context.Context, dsn string, sites, insts int) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	stmts := []string{
		// Sites: 20 regions, a third of them "gold"; probed long ago, next probe in a day.
		`INSERT INTO sites (id, name, labels, location, mep_endpoint, vim_kind, capacity, capacity_at, mep_health, vim_health, probe_due)
		 SELECT 'site-' || lpad(i::text, 5, '0'), 'Site ' || i,
		        jsonb_build_object('region', 'r' || lpad((i % 20)::text, 2, '0'), 'tier', CASE WHEN i % 3 = 0 THEN 'gold' ELSE 'silver' END),
		        jsonb_build_object('lat', 48 + (i % 100) / 100.0, 'lon', 11 + (i % 97) / 100.0, 'countryCode', 'DE',
		                           'servedAreas', jsonb_build_array(jsonb_build_object('tac', lpad(to_hex(i), 4, '0'), 'latencyMs', 5))),
		        'http://127.0.0.1:9/site-' || i || '/mepm/v1', 'kubernetes',
		        '{"architectures":["amd64"],"allocatable":{"milliCPU":64000,"memoryBytes":274877906944,"pods":1000}}',
		        now(), '{"reachable":true}', '{"reachable":true}', now() + interval '1 day'
		 FROM generate_series(0, $1 - 1) i`,
		// App instances: 100 apps, 90 % INSTANTIATED (a tenth of those STOPPED), spread over the sites.
		`INSERT INTO app_instances (id, app_d_id, app_pkg_id, instantiation_state, operational_state, site_id, resources, app_ready, doc)
		 SELECT id, appd, 'pkg-' || lpad((i % 100)::text, 2, '0'), st, op, site,
		        CASE WHEN site IS NULL THEN NULL ELSE '{"milliCPU":100,"memoryBytes":67108864,"pods":1}'::jsonb END, site IS NOT NULL,
		        jsonb_strip_nulls(jsonb_build_object('id', id, 'appInstanceName', 'name-' || id, 'appDId', appd, 'appProvider', 'provider',
		          'appName', 'app-' || (i % 100), 'appSoftVersion', '1.0', 'appDVersion', '1.0',
		          'appPkgId', 'pkg-' || lpad((i % 100)::text, 2, '0'), 'instantiationState', st,
		          'instantiatedAppState', CASE WHEN op IS NULL THEN NULL ELSE jsonb_build_object('operationalState', op) END,
		          'mecHostInformation', CASE WHEN site IS NULL THEN NULL ELSE jsonb_build_object('hostId', site) END))
		 FROM (SELECT i, 'inst-' || lpad(i::text, 6, '0') AS id, 'appd-' || lpad((i % 100)::text, 2, '0') AS appd,
		              CASE WHEN i % 10 = 9 THEN 'NOT_INSTANTIATED' ELSE 'INSTANTIATED' END AS st,
		              CASE WHEN i % 10 = 9 THEN NULL WHEN i % 10 = 8 THEN 'STOPPED' ELSE 'STARTED' END AS op,
		              CASE WHEN i % 10 = 9 THEN NULL ELSE 'site-' || lpad((i % $2)::text, 5, '0') END AS site
		       FROM generate_series(0, $1 - 1) i) x`,
		// Two op occurrences per instance: its INSTANTIATE, then an OPERATE or a TERMINATE;
		// one in a hundred FAILED.
		`INSERT INTO app_lcm_op_occs (id, app_instance_id, operation, state, request, site_id, doc, started, state_entered)
		 SELECT id, inst, op, st, '{}', site,
		        jsonb_build_object('id', id, 'operationState', st, 'stateEnteredTime', jsonb_build_object('seconds', 1790000000 + k, 'nanoSeconds', 0),
		          'startTime', jsonb_build_object('seconds', 1790000000 + k, 'nanoSeconds', 0), 'lcmOperation', op,
		          'appInstanceId', inst, 'isCancelPending', false, 'siteId', site, 'attempts', 0), now(), now()
		 FROM (SELECT i * 2 + j AS k, 'op-' || lpad((i * 2 + j)::text, 7, '0') AS id, 'inst-' || lpad(i::text, 6, '0') AS inst,
		              CASE WHEN j = 0 THEN 'INSTANTIATE' WHEN i % 10 = 9 THEN 'TERMINATE' ELSE 'OPERATE' END AS op,
		              CASE WHEN (i * 2 + j) % 100 = 7 THEN 'FAILED' ELSE 'COMPLETED' END AS st,
		              'site-' || lpad((i % $2)::text, 5, '0') AS site
		       FROM generate_series(0, $1 - 1) i, generate_series(0, 1) j) x`,
		`ANALYZE`,
	}
	for i, s := range stmts {
		var args []any
		switch i {
		case 0:
			args = []any{sites}
		case 1, 2:
			args = []any{insts, sites}
		}
		if _, err := conn.Exec(ctx, s, args...); err != nil {
			return fmt.Errorf("populate step %d: %w", i+1, err)
		}
	}
	return nil
}

func get(u string) (int, []byte, http.Header, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header, err
}

var nextLink = regexp.MustCompile(`<([^>]+)>;\s*rel="?next"?`)

// deepPage follows the next links n times and returns the URL of the n+1-th page.
func deepPage(u string, n int) (string, error) {
	for range n {
		st, b, h, err := get(u)
		if err != nil {
			return "", err
		}
		if st != http.StatusOK {
			return "", fmt.Errorf("GET %s: %d %s", u, st, b)
		}
		m := nextLink.FindStringSubmatch(h.Get("Link"))
		if m == nil {
			return "", fmt.Errorf("GET %s: no next page", u)
		}
		u = m[1]
	}
	return u, nil
}

// count returns how many items the first answer (a JSON array) holds.
func count(u string) (int, error) {
	st, b, _, err := get(u)
	if err != nil {
		return 0, err
	}
	if st != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d %s", u, st, b)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return 0, err
	}
	return len(items), nil
}

// mbMemory is benchfig.Memory in MB.
func mbMemory(pid int) (float64, float64, error) {
	rss, peak, err := benchfig.Memory(pid)
	return benchfig.MB(rss), benchfig.MB(peak), err
}
