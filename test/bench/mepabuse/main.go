// Command mepabuse measures what one misbehaving app or client can do to a real mep binary:
// the attacks of the site-hardening review, each with the figure it was reported with
// (resident memory, another app's latency, status codes, connections held). It prints one
// line per figure; run it against two binaries to compare builds:
//
//	go run ./test/bench/mepabuse -mep ./bin/mep
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgemec/edgemec/internal/testutil/benchfig"
)

const opToken = "abuse-operator-token"

type mepProc struct {
	*benchfig.Server
	root string
	dir  string
}

func main() {
	bin := flag.String("mep", "", "path of the mep binary (required)")
	services := flag.Int("services", 150, "large services the attacking app tries to register")
	serviceKB := flag.Int("service-kb", 900, "free-form bytes per service (endpoint.alternative), in KB")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "abuse: -mep is required")
		os.Exit(2)
	}
	if err := run(*bin, *services, *serviceKB); err != nil {
		fmt.Fprintln(os.Stderr, "abuse:", err)
		os.Exit(1)
	}
}

func start(bin string) (*mepProc, error) {
	dir, err := os.MkdirTemp("", "mep-abuse-")
	if err != nil {
		return nil, err
	}
	m := &mepProc{dir: dir}
	m.Server, err = benchfig.StartServer(context.Background(), bin, []string{"--dns-addr", "off", "--data-dir", dir,
		"--operator-token", opToken, "--log-level", "error"}, os.Stderr, 10*time.Second)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	m.root = m.Root
	return m, nil
}

func (m *mepProc) stop() {
	m.Kill()
	_ = os.RemoveAll(m.dir)
}

// rssMB is the resident memory of the MEP, from /proc.
func (m *mepProc) rssMB() float64 {
	rss, _, err := benchfig.Memory(m.Pid())
	if err != nil {
		return 0
	}
	return benchfig.MB(rss)
}

func (m *mepProc) fds() int {
	es, _ := os.ReadDir(filepath.Join("/proc/"+strconv.Itoa(m.Pid()), "fd"))
	return len(es)
}

// discard GETs path and drops the answer as it arrives.
func (m *mepProc) discard(path, token string) {
	req, _ := http.NewRequest("GET", m.root+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func (m *mepProc) do(method, path, token string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, m.root+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// app provisions an app instance producing service "svc" and returns its token.
func (m *mepProc) app(id string) (string, error) {
	st, b := m.do("PUT", "/mepm/v1/app_instances/"+id, opToken, map[string]any{"appName": id, "appProvider": "x", "appDId": id,
		"appServiceProduced": []any{map[string]any{"serName": "svc", "version": "1"}}})
	if st != 200 && st != 201 {
		return "", fmt.Errorf("provision %s: %d %s", id, st, b)
	}
	var rec struct {
		Credentials struct{ ClientId, ClientSecret string }
	}
	_ = json.Unmarshal(b, &rec)
	resp, err := http.PostForm(m.root+"/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {rec.Credentials.ClientId}, "client_secret": {rec.Credentials.ClientSecret}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

func line(name, value string) { fmt.Printf("%-62s %s\n", name, value) }

// latencies measures fn n times one after another and returns p50 and max.
func latencies(n int, fn func()) (time.Duration, time.Duration) {
	ds := make([]time.Duration, n)
	for i := range ds {
		t := time.Now()
		fn()
		ds[i] = time.Since(t)
	}
	slices.Sort(ds)
	return ds[n/2], ds[n-1]
}

func run(bin string, services, serviceKB int) error {
	m, err := start(bin)
	if err != nil {
		return err
	}
	defer m.stop()
	line("RSS at start", fmt.Sprintf("%.0f MB", m.rssMB()))
	attacker, err := m.app("attacker")
	if err != nil {
		return err
	}
	victim, err := m.app("victim")
	if err != nil {
		return err
	}
	if st, b := m.do("POST", "/mec_service_mgmt/v1/applications/victim/services", victim, service(1)); st != 201 {
		return fmt.Errorf("victim service: %d %s", st, b)
	}
	victimGet := func() { m.do("GET", "/mec_service_mgmt/v1/applications/victim/services", victim, nil) }
	p50, _ := latencies(50, victimGet)
	line("victim discovery p50, unloaded", p50.String())

	// 1. Free-form JSON: many services with a large endpoint.alternative.
	accepted, lastStatus := 0, 0
	for range services {
		st, _ := m.do("POST", "/mec_service_mgmt/v1/applications/attacker/services", attacker, service(serviceKB<<10))
		lastStatus = st
		if st == 201 {
			accepted++
		}
	}
	line(fmt.Sprintf("services of %d KB accepted of %d (last status)", serviceKB, services), fmt.Sprintf("%d (%d)", accepted, lastStatus))
	line("RSS after the attacker's services", fmt.Sprintf("%.0f MB", m.rssMB()))

	// 2. Six concurrent discoveries of all of them, while the victim discovers.
	var wg sync.WaitGroup
	peak := 0.0
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			peak = max(peak, m.rssMB())
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for range 6 {
		wg.Go(func() {
			for range 2 {
				m.discard("/mec_service_mgmt/v1/services", attacker)
			}
		})
	}
	p50, worst := latencies(20, victimGet)
	wg.Wait()
	close(stop)
	line("RSS peak during 6 concurrent discoveries", fmt.Sprintf("%.0f MB", peak))
	line("victim discovery during them, p50 / max", p50.String()+" / "+worst.String())

	// 3. A registration with a huge appServiceRequired list, then discoveries by that app.
	m2, err := start(bin)
	if err != nil {
		return err
	}
	defer m2.stop()
	return run2(m2)
}

func run2(m *mepProc) error {
	attacker, err := m.app("attacker")
	if err != nil {
		return err
	}
	victim, err := m.app("victim")
	if err != nil {
		return err
	}
	for i := range 200 {
		m.do("POST", "/mec_service_mgmt/v1/applications/victim/services", victim, service(100+i))
	}
	deps := make([]any, 25000)
	for i := range deps {
		deps[i] = map[string]any{"serName": "d" + strconv.Itoa(i), "version": "1"}
	}
	st, _ := m.do("POST", "/mec_app_support/v1/registrations", attacker, map[string]any{"appName": "attacker", "appInstanceId": "attacker", "appServiceRequired": deps})
	line("registration with 25,000 appServiceRequired: status", strconv.Itoa(st))
	attackerGet := func() { m.discard("/mec_service_mgmt/v1/services", attacker) }
	p50, _ := latencies(10, attackerGet)
	line("attacker discovery p50 (200 services on the site)", p50.String())
	victimGet := func() { m.do("GET", "/mec_service_mgmt/v1/applications/victim/services?ser_name=none", victim, nil) }
	base, _ := latencies(50, victimGet)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					attackerGet()
				}
			}
		})
	}
	loaded, _ := latencies(50, victimGet)
	close(stop)
	wg.Wait()
	line("victim p50 unloaded / with 4 attacker discovery loops", base.String()+" / "+loaded.String())

	// 4. ser_name with 9,000 names.
	names := make([]string, 9000)
	for i := range names {
		names[i] = "n" + strconv.Itoa(i)
	}
	var st9 int
	p50, _ = latencies(5, func() {
		st9, _ = m.do("GET", "/mec_service_mgmt/v1/services?ser_name="+strings.Join(names, ","), attacker, nil)
	})
	line("discovery with 9,000 ser_name values: status, p50", fmt.Sprintf("%d, %v", st9, p50))

	// 5. A 70 KB path and a 5 MB chunked token form.
	st, b := m.do("GET", "/mec_service_mgmt/v1/services/"+strings.Repeat("a", 70<<10), attacker, nil)
	line("70 KB path: status, ProblemDetails", fmt.Sprintf("%d, %v", st, bytes.Contains(b, []byte(`"status"`))))
	req, _ := http.NewRequest("POST", m.root+"/oauth2/token", io.MultiReader(strings.NewReader("grant_type=client_credentials&client_id=attacker&client_secret="),
		strings.NewReader(strings.Repeat("x", 5<<20))))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		line("5 MB chunked token form: status, ProblemDetails", fmt.Sprintf("%d, %v", resp.StatusCode, bytes.Contains(b, []byte(`"status"`))))
	} else {
		line("5 MB chunked token form", "error "+err.Error())
	}

	// 6. 3,000 slow-body connections from one client.
	fds0, rss0 := m.fds(), m.rssMB()
	var conns []net.Conn
	for range 3000 {
		c, err := net.Dial("tcp", strings.TrimPrefix(m.root, "http://"))
		if err != nil {
			break
		}
		fmt.Fprintf(c, "POST /mec_app_support/v1/registrations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{", attacker)
		conns = append(conns, c)
	}
	time.Sleep(2 * time.Second)
	line("slow-body connections opened / MEP fds and RSS after 2 s", fmt.Sprintf("%d / %d fds (+%d), %.0f MB (+%.0f)", len(conns), m.fds(), m.fds()-fds0, m.rssMB(), m.rssMB()-rss0))
	time.Sleep(11 * time.Second)
	line("MEP fds after 13 s (slow bodies still trickling)", strconv.Itoa(m.fds()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "GET", m.root+"/mec_service_mgmt/v1/applications/victim/services?ser_name=none", nil)
	req.Header.Set("Authorization", "Bearer "+victim)
	t := time.Now()
	resp, err := (&http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}).Do(req)
	if err == nil {
		resp.Body.Close()
		line("another client's request meanwhile: status, latency", fmt.Sprintf("%d, %v", resp.StatusCode, time.Since(t)))
	} else {
		line("another client's request meanwhile", "error "+err.Error())
	}
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// service is a ServiceInfoPost whose endpoint.alternative holds about n bytes.
func service(n int) map[string]any {
	return map[string]any{"serName": "svc", "version": "1", "state": "ACTIVE", "serializer": "JSON",
		"transportInfo": map[string]any{"id": "t", "name": "t", "type": "REST_HTTP", "protocol": "HTTP", "version": "1", "security": map[string]any{},
			"endpoint": map[string]any{"alternative": map[string]any{"blob": strings.Repeat("z", n)}}}}
}
