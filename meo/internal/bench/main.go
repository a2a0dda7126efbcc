// Command bench measures the MEO's performance figures against a real meo binary on a
// PostgreSQL database:
//
//  1. onboarding throughput of one large package (default 50 MB): the upload through
//     PUT package_content until the package is ONBOARDED, in MB/s;
//  2. the MEO's peak resident memory (VmHWM) after that onboarding: content streams to the
//     database in chunks, so it stays far below the package size;
//  3. GET /app_packages with a filter over many packages (default 10,000), p50 and p99
//     latency at a few concurrent connections (default 4).
//
// It prints a table; benchmarks report numbers and do not pass or fail.
// test/bench.d/meo.sh starts PostgreSQL, builds the binary and runs it.
package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

const token = "bench-operator-token"

type options struct {
	meoBin      string
	dsn         string
	dir         string
	pkgMB       int
	packages    int
	providers   int
	connections int
	duration    time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.meoBin, "meo", "", "path of the meo binary (required)")
	flag.StringVar(&o.dsn, "database-url", "", "PostgreSQL URL of an empty database (required)")
	flag.StringVar(&o.dir, "dir", "", "scratch directory (default: a new temporary one)")
	flag.IntVar(&o.pkgMB, "package-mb", 50, "size of the large package in MB")
	flag.IntVar(&o.packages, "packages", 10000, "packages in the list figure")
	flag.IntVar(&o.providers, "providers", 100, "distinct appProviders among them (the filter matches one)")
	flag.IntVar(&o.connections, "connections", 4, "concurrent connections of the list figure")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "duration of the list figure")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "meo bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.meoBin == "" || o.dsn == "" {
		return fmt.Errorf("-meo and -database-url are required")
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "meo-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(o.meoBin, "--http-addr", addr, "--database-url", o.dsn, "--operator-token", token,
		"--log-level", "warn", "--max-package-bytes", strconv.Itoa((o.pkgMB+16)<<20))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	root := "http://" + addr
	if err := waitReady(root); err != nil {
		return err
	}
	fmt.Printf("%-58s %s\n", "figure", "value")

	// 1 and 2: onboarding one large package.
	path := filepath.Join(o.dir, "big.zip")
	sum, size, err := writePackage(path, o.pkgMB<<20)
	if err != nil {
		return err
	}
	secs, err := onboard(root, path, sum)
	if err != nil {
		return err
	}
	fmt.Printf("%-58s %.1f MB/s (%.1f MB in %.2f s)\n", fmt.Sprintf("onboarding throughput, %d MB package", o.pkgMB),
		float64(size)/1e6/secs, float64(size)/1e6, secs)
	hwm, err := peakRSS(cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("%-58s %.1f MB (goal < 100 MB)\n", "meo peak RSS (VmHWM) after onboarding it", float64(hwm)/(1<<20))

	// 3: the filtered list.
	if err := populate(o.dsn, o.packages, o.providers); err != nil {
		return err
	}
	filter := "(eq,appProvider,provider-7);(eq,onboardingState,ONBOARDED)"
	q := root + "/app_pkgm/v1/app_packages?filter=" + url.QueryEscape(filter)
	n, err := countList(q)
	if err != nil {
		return err
	}
	lat, err := load(q, o.connections, o.duration)
	if err != nil {
		return err
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	fmt.Printf("%-58s p50 %.2f ms, p99 %.2f ms (goal < 20 ms), %.0f req/s\n",
		fmt.Sprintf("GET /app_packages filter over %d packages (%d match), %d conns", o.packages, n, o.connections),
		ms(pct(0.50)), ms(pct(0.99)), float64(len(lat))/o.duration.Seconds())
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitReady(root string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(root + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("meo not ready after 30 s")
}

// writePackage writes a package zip with an AppD and one stored (uncompressed) artefact of
// random bytes, so the zip is about size bytes.
func writePackage(path string, size int) (sum string, n int64, err error) {
	f, err := os.Create(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	zw := zip.NewWriter(bw)
	w, err := zw.Create("Definitions/appd.yaml")
	if err != nil {
		return "", 0, err
	}
	fmt.Fprint(w, `appDId: bench-big
appName: big
appProvider: bench
appSoftVersion: "1.0"
appDVersion: "1.0"
mecVersion: ["2.2.1"]
appDescription: a large package
virtualComputeDescriptor: {virtualComputeDescId: vcd, virtualMemory: {virtualMemSize: 512}, virtualCpu: {numVirtualCpu: 1}}
swImageDescriptor: {id: img, name: big, version: "1.0", swImage: "registry.example/big:1.0", containerFormat: DOCKER}
`)
	w, err = zw.CreateHeader(&zip.FileHeader{Name: "Artifacts/blob.bin", Method: zip.Store})
	if err != nil {
		return "", 0, err
	}
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= len(buf) {
		_, _ = rand.Read(buf)
		if _, err := w.Write(buf[:min(left, len(buf))]); err != nil {
			return "", 0, err
		}
	}
	if err := zw.Close(); err != nil {
		return "", 0, err
	}
	if err := bw.Flush(); err != nil {
		return "", 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), st.Size(), nil
}

func do(method, u, ct string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// onboard creates the package resource, uploads the file and returns the seconds from the
// upload's start to ONBOARDED.
func onboard(root, path, sum string) (float64, error) {
	body := fmt.Sprintf(`{"appPkgName":"big","appPkgVersion":"1","checksum":{"algorithm":"SHA-256","hash":%q}}`, sum)
	st, b, err := do("POST", root+"/app_pkgm/v1/app_packages", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("create package: %w", err)
	}
	if st != http.StatusCreated {
		return 0, fmt.Errorf("create package: %d %s", st, b)
	}
	var info struct{ ID string }
	if err := json.Unmarshal(b, &info); err != nil {
		return 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	st, b, err = do("PUT", root+"/app_pkgm/v1/app_packages/"+info.ID+"/package_content", "application/zip", f)
	if err != nil {
		return 0, fmt.Errorf("upload package: %w", err)
	}
	if st != http.StatusAccepted {
		return 0, fmt.Errorf("upload package: %d %s", st, b)
	}
	for {
		st, b, err = do("GET", root+"/app_pkgm/v1/app_packages/"+info.ID, "", nil)
		if err != nil {
			return 0, err
		}
		if bytes.Contains(b, []byte(`"ONBOARDED"`)) {
			return time.Since(start).Seconds(), nil
		}
		if bytes.Contains(b, []byte(`"ERROR"`)) {
			return 0, fmt.Errorf("onboarding failed: %s", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// peakRSS is the process's VmHWM in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// populate inserts onboarded packages straight into the database: the list figure measures
// the query, and onboarding 10,000 packages through the API would only take long.
func populate(dsn string, n, providers int) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO app_packages (id, app_d_id, onboarding, doc)
		SELECT 'pkg-' || i, 'appd-' || i, 'ONBOARDED', jsonb_build_object(
			'id', 'pkg-' || i, 'appDId', 'appd-' || i, 'appName', 'app-' || i, 'appProvider', 'provider-' || (i % $2),
			'appSoftwareVersion', '1.0', 'appDVersion', '1.0', 'appPkgName', 'pkg-' || i, 'appPkgVersion', '1',
			'checksum', jsonb_build_object('algorithm', 'SHA-256', 'hash', md5(i::text) || md5(i::text)),
			'softwareImages', jsonb_build_array(jsonb_build_object('id', 'img', 'name', 'app-' || i)),
			'onboardingState', 'ONBOARDED', 'operationalState', 'ENABLED', 'usageState', 'NOT_IN_USE')
		FROM generate_series(1, $1) AS i`, n, providers)
	if err != nil {
		return fmt.Errorf("populate: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE app_packages")
	return err
}

func countList(u string) (int, error) {
	st, b, err := do("GET", u, "", nil)
	if err != nil {
		return 0, fmt.Errorf("list: %w", err)
	}
	if st != http.StatusOK {
		return 0, fmt.Errorf("list: %d %s", st, b)
	}
	var docs []json.RawMessage
	if err := json.Unmarshal(b, &docs); err != nil {
		return 0, err
	}
	return len(docs), nil
}

// load sends the request on conns connections back to back for d and returns each latency.
func load(u string, conns int, d time.Duration) ([]time.Duration, error) {
	var (
		mu   sync.Mutex
		all  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	end := time.Now().Add(d)
	tr := &http.Transport{MaxIdleConnsPerHost: conns}
	client := &http.Client{Transport: tr}
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(end) {
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				start := time.Now()
				res, err := client.Do(req)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					mu.Lock()
					errs = append(errs, fmt.Errorf("status %d", res.StatusCode))
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no request completed")
	}
	return all, nil
}
