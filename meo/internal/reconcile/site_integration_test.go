//go:build integration

package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

const operatorToken = "reconcile-operator-token"

var (
	buildOnce sync.Once
	mepBin    string
	buildErr  error
)

// mepBinary builds cmd/mep once per test binary.
func mepBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "reconcile-mep")
		if err != nil {
			buildErr = err
			return
		}
		mepBin = filepath.Join(dir, "mep")
		testutil.GoBuild(t, "./cmd/mep", mepBin)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return mepBin
}

// mepProc is a real mep process with its own data dir and port, which a test can stop and
// start again on the same port and data.
type mepProc struct {
	t       testing.TB
	bin     string
	dataDir string
	port    int
	root    string
	cmd     *exec.Cmd
	log     *bytes.Buffer
	mu      sync.Mutex
}

func startMEP(t testing.TB) *mepProc {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	m := &mepProc{t: t, bin: mepBinary(t), dataDir: t.TempDir(), port: port, root: fmt.Sprintf("http://127.0.0.1:%d", port)}
	m.start()
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			t.Logf("mep log:\n%s", m.log.String())
		}
	})
	return m
}

func (m *mepProc) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "--http-addr", fmt.Sprintf("127.0.0.1:%d", m.port), "--dns-addr", "off",
		"--data-dir", m.dataDir, "--operator-token", operatorToken, "--api-root", m.root)
	if m.log == nil {
		m.log = &bytes.Buffer{}
	}
	m.cmd.Stdout, m.cmd.Stderr = &lockedWriter{w: m.log, mu: &m.mu}, &lockedWriter{w: m.log, mu: &m.mu}
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(m.root + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mep not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *mepProc) stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Kill()
	m.cmd.Wait()
	m.cmd = nil
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// client returns an Mm5 client authenticated as the operator.
func (m *mepProc) client(t testing.TB) *mm5api.ClientWithResponses {
	t.Helper()
	c, err := mm5api.NewClientWithResponses(m.root+"/mepm/v1", mm5api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+operatorToken)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// instances lists the app instances the MEP holds.
func (m *mepProc) instances(t testing.TB) []mm5api.AppInstanceRecord {
	t.Helper()
	resp, err := m.client(t).ListAppInstancesWithResponse(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil {
		t.Fatalf("list app instances: HTTP %d %s", resp.StatusCode(), resp.Body)
	}
	return *resp.JSON200
}

// app plays the apps on a site: whenever an instance is Running on the fake VIM, it takes
// a token from the MEP with the credentials the VIM was given and calls confirm_ready, as
// the sample app does on a real node.
type app struct {
	mu        sync.Mutex
	confirmed map[string]int
	errs      []string
}

func runApps(t testing.TB, f *vimtest.Fake) *app {
	t.Helper()
	a := &app{confirmed: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	events, err := f.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		for ev := range events {
			if ev.Deleted || ev.Status.Phase != vim.PhaseRunning {
				continue
			}
			in, ok := f.Instance(ev.Status.AppInstanceID)
			if !ok {
				continue
			}
			err := confirmReady(ctx, in.Request.MEP, in.Request.AppInstanceID)
			a.mu.Lock()
			if err != nil {
				a.errs = append(a.errs, err.Error())
			} else {
				a.confirmed[in.Request.AppInstanceID]++
			}
			a.mu.Unlock()
		}
	}()
	return a
}

func (a *app) confirmations(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.confirmed[id]
}

func confirmReady(ctx context.Context, mep vim.MEPAccess, id string) error {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {mep.ClientID}, "client_secret": {mep.ClientSecret}}
	resp, err := http.PostForm(mep.Endpoint+"/oauth2/token", form)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var tok mp1api.TokenResponse
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("token for %s: HTTP %d %s", id, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, mep.Endpoint+"/mec_app_support/v1/applications/"+id+"/confirm_ready", strings.NewReader(`{"indication":"READY"}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer r2.Body.Close()
	if r2.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(r2.Body)
		return fmt.Errorf("confirm_ready %s: HTTP %d %s", id, r2.StatusCode, b)
	}
	return nil
}

// testSite is a real MEP, a fake VIM and the apps.
type testSite struct {
	mep  *mepProc
	vim  *vimtest.Fake
	apps *app
	site reconcile.Site
}

func newSite(t testing.TB, name string) *testSite {
	t.Helper()
	m := startMEP(t)
	f := vimtest.New(vimtest.Config{Site: name})
	return &testSite{mep: m, vim: f, apps: runApps(t, f), site: reconcile.Site{Name: name, MEP: m.client(t), VIM: f}}
}

var appCounter struct {
	sync.Mutex
	n int
}

// instantiateTask returns an instantiate task for a new instance with one traffic rule
// and one DNS rule.
func instantiateTask(prefix string) reconcile.Task {
	appCounter.Lock()
	appCounter.n++
	n := appCounter.n
	appCounter.Unlock()
	id := fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, n)
	var app mm5api.AppInstance
	if err := json.Unmarshal([]byte(`{
	  "appName": "web", "appProvider": "edgemec", "appDId": "appd-web-1",
	  "appTrafficRule": [{"trafficRuleId": "tr1", "filterType": "FLOW", "priority": 1,
	    "trafficFilter": [{"dstAddress": ["10.60.0.10/32"]}],
	    "action": "FORWARD_DECAPSULATED", "state": "ACTIVE",
	    "dstInterface": [{"interfaceType": "IP", "dstIpAddress": "10.60.0.10"}]}],
	  "appDNSRule": [{"dnsRuleId": "dns1", "domainName": "web.example.mec", "ipAddressType": "IP_V4", "ipAddress": "10.60.0.10", "ttl": 30, "state": "ACTIVE"}]
	}`), &app); err != nil {
		panic(err)
	}
	return reconcile.Task{
		ID: "op-" + id, Kind: reconcile.KindInstantiate, AppInstanceID: id, App: app,
		Deploy: vim.DeployRequest{
			AppDID: "appd-web-1", AppName: "web", AppProvider: "edgemec",
			Compute:   vim.VirtualCompute{VirtualCPUs: 0.1, MemoryMiB: 64},
			Image:     vim.SwImage{Ref: "registry.test/web:1"},
			Artifacts: vim.Artifacts{Ports: []vim.Port{{Name: "http", Port: 80}}},
		},
	}
}

func terminateTask(in reconcile.Task) reconcile.Task {
	return reconcile.Task{ID: in.ID + "-term", Kind: reconcile.KindTerminate, AppInstanceID: in.AppInstanceID,
		StopType: reconcile.StopGraceful, GracefulTimeout: 10 * time.Second}
}

// fastConfig keeps the waits short for tests.
func fastConfig() reconcile.Config {
	return reconcile.Config{CallTimeout: 15 * time.Second, RunningTimeout: 10 * time.Second, ReadyTimeout: 10 * time.Second,
		StoppedTimeout: 10 * time.Second, MEPGoneMargin: 10 * time.Second, GoneTimeout: 10 * time.Second, PollInterval: 20 * time.Millisecond}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
