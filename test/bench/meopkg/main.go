// Command meopkg measures the MEO's performance figures against a real meo binary on a
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
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgemec/edgemec/internal/testutil/benchfig"
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
	meo, err := benchfig.StartServer(context.Background(), o.meoBin, []string{"--database-url", o.dsn, "--operator-token", token,
		"--log-level", "warn", "--max-package-bytes", strconv.Itoa((o.pkgMB + 16) << 20)}, os.Stderr, 30*time.Second)
	if err != nil {
		return err
	}
	defer meo.Kill()
	root := meo.Root
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
	_, hwm, err := benchfig.Memory(meo.Pid())
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
	lat, err := benchfig.Load(q, token, o.connections, o.duration)
	if err != nil {
		return err
	}
	pct := func(p float64) time.Duration { return benchfig.Percentile(lat, p) }
	fmt.Printf("%-58s p50 %.2f ms, p99 %.2f ms (goal < 20 ms), %.0f req/s\n",
		fmt.Sprintf("GET /app_packages filter over %d packages (%d match), %d conns", o.packages, n, o.connections),
		benchfig.MS(pct(0.50)), benchfig.MS(pct(0.99)), float64(len(lat))/o.duration.Seconds())
	return nil
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
