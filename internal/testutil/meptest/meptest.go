// Package meptest runs the real mep binary for tests (a restartable process with its own data
// directory and port) and plays the apps of a site: taking an Mp1 token with the credentials a
// VIM was given and confirming ready, as the sample app does on a real node.
package meptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"os/exec"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/benchfig"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// OperatorToken is the operator token of every MEP started here.
const OperatorToken = "meptest-operator-token"

var (
	buildOnce sync.Once
	bin       string
	buildErr  error
)

// Binary builds cmd/mep once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "meptest")
		if err != nil {
			buildErr = err
			return
		}
		bin = filepath.Join(dir, "mep")
		testutil.GoBuild(t, "./cmd/mep", bin)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// Options shape a MEP process. Zero values take the defaults.
type Options struct {
	// ListenHost is the address the MEP listens on (default 127.0.0.1; 0.0.0.0 for pods on a
	// real node to reach it).
	ListenHost string
	// APIHost is the host in the MEP's api root, the address apps reach it at (default
	// 127.0.0.1).
	APIHost string
	// DNS runs the site DNS server on a loopback port free for both UDP and TCP (DNSAddr);
	// otherwise it is off.
	DNS bool
	// Args are extra flags.
	Args []string
}

// Proc is a real mep process, which a test can stop and start again on the same port and
// data directory.
type Proc struct {
	// Root is the MEP's base URL as the test reaches it (http://127.0.0.1:PORT).
	Root string
	// APIRoot is the MEP's base URL as apps reach it.
	APIRoot string
	// Port is the MEP's port.
	Port int
	// DNSAddr is the site DNS server's address (UDP and TCP) when Options.DNS is set.
	DNSAddr string

	t       testing.TB
	opts    Options
	bin     string
	dataDir string
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *bytes.Buffer
	mu      sync.Mutex
}

// Start starts a MEP and stops it when the test ends, printing its log if the test failed.
// Ports are picked free, then bound by the process: when another process takes one in
// between, the MEP is started again on new ports (at most three times).
func Start(t testing.TB, opts Options) *Proc {
	t.Helper()
	if opts.ListenHost == "" {
		opts.ListenHost = "127.0.0.1"
	}
	if opts.APIHost == "" {
		opts.APIHost = "127.0.0.1"
	}
	m := &Proc{t: t, opts: opts, bin: Binary(t), dataDir: t.TempDir()}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("mep log:\n%s", m.Log())
		}
	})
	for attempt := 1; ; attempt++ {
		m.pickPorts()
		err := m.start()
		if err == nil {
			return m
		}
		if attempt == 3 || !strings.Contains(m.Log(), "address already in use") {
			t.Fatalf("mep not ready: %v\n%s", err, m.Log())
		}
		m.mu.Lock()
		m.log.Reset()
		m.mu.Unlock()
	}
}

// pickPorts chooses the HTTP port (and the DNS address, UDP and TCP on one port) free now.
func (m *Proc) pickPorts() {
	m.t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(m.opts.ListenHost, "0"))
	if err != nil {
		m.t.Fatal(err)
	}
	m.Port = l.Addr().(*net.TCPAddr).Port
	defer l.Close()
	m.Root = fmt.Sprintf("http://127.0.0.1:%d", m.Port)
	m.APIRoot = fmt.Sprintf("http://%s", net.JoinHostPort(m.opts.APIHost, fmt.Sprint(m.Port)))
	if m.opts.DNS {
		m.DNSAddr = FreeUDPTCPAddr(m.t)
	}
}

// FreeUDPTCPAddr returns a loopback address whose port is free for both UDP and TCP now, as a
// DNS server needs.
func FreeUDPTCPAddr(t testing.TB) string {
	t.Helper()
	addr, err := benchfig.FreeUDPTCPAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// Start starts the process again after Stop, on the same port and data.
func (m *Proc) Start() {
	m.t.Helper()
	if err := m.start(); err != nil {
		m.t.Fatalf("mep not ready: %v\n%s", err, m.Log())
	}
}

// start runs the process and waits until it is ready, or has exited, or 20 s have passed.
func (m *Proc) start() error {
	dnsAddr := "off"
	if m.opts.DNS {
		dnsAddr = m.DNSAddr
	}
	args := append([]string{"--http-addr", net.JoinHostPort(m.opts.ListenHost, fmt.Sprint(m.Port)), "--dns-addr", dnsAddr,
		"--data-dir", m.dataDir, "--operator-token", OperatorToken, "--api-root", m.APIRoot}, m.opts.Args...)
	m.cmd = exec.Command(m.bin, args...)
	if m.log == nil {
		m.log = &bytes.Buffer{}
	}
	m.cmd.Stdout, m.cmd.Stderr = &lockedWriter{w: m.log, mu: &m.mu}, &lockedWriter{w: m.log, mu: &m.mu}
	if err := m.cmd.Start(); err != nil {
		return err
	}
	cmd, exited := m.cmd, make(chan struct{})
	m.exited = exited
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(m.Root + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("readyz: %s", resp.Status)
		}
		select {
		case <-exited:
			m.cmd = nil
			return fmt.Errorf("mep exited: %s", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the process.
func (m *Proc) Stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.exited
	m.cmd = nil
}

// Signal sends sig to the process (e.g. SIGSTOP and SIGCONT to freeze and thaw it).
func (m *Proc) Signal(sig os.Signal) error {
	if m.cmd == nil {
		return errors.New("mep not running")
	}
	return m.cmd.Process.Signal(sig)
}

// Log returns what the process printed so far.
func (m *Proc) Log() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.String()
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

// Client returns an Mm5 client authenticated as the operator.
func (m *Proc) Client(t testing.TB) *mm5api.ClientWithResponses {
	t.Helper()
	c, err := mm5api.NewClientWithResponses(m.Root+"/mepm/v1", mm5api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+OperatorToken)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Instances lists the app instances the MEP holds.
func (m *Proc) Instances(t testing.TB) []mm5api.AppInstanceRecord {
	t.Helper()
	resp, err := m.Client(t).ListAppInstancesWithResponse(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil {
		t.Fatalf("list app instances: HTTP %d %s", resp.StatusCode(), resp.Body)
	}
	return *resp.JSON200
}

// Apps plays the apps on a site: whenever an instance is Running on the VIM, it takes a token
// from the MEP with the credentials the VIM was given and calls confirm_ready.
type Apps struct {
	mu        sync.Mutex
	confirmed map[string]int
	errs      []string
}

// Instance is what Apps needs of a VIM: the request an instance was deployed with.
type Instance func(appInstanceID string) (vim.DeployRequest, bool)

// RunApps follows the VIM's Watch until the test ends, confirming ready every instance that
// turns Running, with the MEP access lookup gives for it.
func RunApps(t testing.TB, v vim.VIM, lookup Instance) *Apps {
	t.Helper()
	a := &Apps{confirmed: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	events, err := v.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		for ev := range events {
			if ev.Deleted || ev.Status.Phase != vim.PhaseRunning {
				continue
			}
			req, ok := lookup(ev.Status.AppInstanceID)
			if !ok {
				continue
			}
			err := ConfirmReady(ctx, req.MEP, req.AppInstanceID)
			a.mu.Lock()
			if err != nil {
				a.errs = append(a.errs, err.Error())
			} else {
				a.confirmed[req.AppInstanceID]++
			}
			a.mu.Unlock()
		}
	}()
	return a
}

// Confirmations counts the confirm_ready calls that succeeded for an instance.
func (a *Apps) Confirmations(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.confirmed[id]
}

// Errors returns the failed confirmations.
func (a *Apps) Errors() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.errs...)
}

// ConfirmReady takes an Mp1 token with the app's credentials and confirms the app ready.
func ConfirmReady(ctx context.Context, mep vim.MEPAccess, id string) error {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {mep.ClientID}, "client_secret": {mep.ClientSecret}}
	treq, err := http.NewRequestWithContext(ctx, http.MethodPost, mep.Endpoint+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	treq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(treq)
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, mep.Endpoint+"/mec_app_support/v1/applications/"+id+"/confirm_ready", strings.NewReader(`{"indication":"READY"}`))
	if err != nil {
		return err
	}
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
