//go:build integration

package meo_test

// The crash test. The default run (make test) does 24 operations in about a minute; the
// long run (make bench) does 200:
//
//	MEO_CRASH_OPS=200 go test -tags integration -run TestCrashTwoReplicas -timeout 30m -v ./meo/
//
// (or `bash test/bench.d/meo-crash.sh`), with EDGEMEC_TESTBED_KUBECONFIG and
// EDGEMEC_TESTBED_K3S_KUBECONFIG naming two test-bed sites (test/testbed/site.sh).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/benchfig"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// replica is one meo process of the crash test, killed and restarted on the same port.
type replica struct {
	bin, addr string
	args      []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *lockedBuffer
	starts int
}

// lockedBuffer collects the logs of every run of a replica.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (r *replica) root() string { return "http://" + r.addr }

// start runs the process and waits until it is ready.
func (r *replica) start(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	r.starts++
	fmt.Fprintf(r.logs, "=== start %d\n", r.starts)
	cmd := exec.Command(r.bin, r.args...)
	cmd.Stdout, cmd.Stderr = r.logs, r.logs
	if err := cmd.Start(); err != nil {
		r.mu.Unlock()
		t.Errorf("start replica %s: %v", r.addr, err)
		return
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	c := http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if res, err := c.Get(r.root() + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("replica %s not ready after 30 s; logs:\n%s", r.addr, r.logs.String())
}

// kill sends SIGKILL and waits for the process to end.
func (r *replica) kill() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// try is one Mm1 request that reports every failure as an error (usable from any goroutine).
func try(method, url string, body []byte) (int, []byte, http.Header, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+opToken)
	c := http.Client{Timeout: 20 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header, err
}

var nextLink = regexp.MustCompile(`<([^>]+)>;\s*rel="?next"?`)

// listAll reads every page of an Mm1 list.
func listAll(t *testing.T, url string) []map[string]any {
	t.Helper()
	var all []map[string]any
	for url != "" {
		st, b, h, err := try("GET", url, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, "GET %s: %s", url, b)
		var page []map[string]any
		require.NoError(t, json.Unmarshal(b, &page))
		all = append(all, page...)
		url = ""
		if m := nextLink.FindStringSubmatch(h.Get("Link")); m != nil {
			url = m[1]
		}
	}
	return all
}

// crashRun is the shared state of the operation drivers, the killer and the app players.
type crashRun struct {
	replicas []*replica
	ops      atomic.Int64 // operations attempted
	accepted atomic.Int64 // 201/202/204
	conflict atomic.Int64 // 409: a task running or a state that forbids it
	refused  atomic.Int64 // transport errors: the replica was down or died mid-request
	kills    atomic.Int64

	mu        sync.Mutex
	ids       map[string]bool // every app instance ever created
	opURLs    map[string]bool // every op occurrence a task was accepted for
	durations []time.Duration // task accepted → ended
	restarts  []time.Duration // kill → replica ready again
	ended     map[string]int  // op occurrence states seen at the end of each wait
	opWait    time.Duration   // how long a driver waits for its op to end before moving on
}

func (c *crashRun) pick() *replica { return c.replicas[rand.IntN(len(c.replicas))] }

func (c *crashRun) known() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id := range c.ids {
		out = append(out, id)
	}
	return out
}

// drive runs one worker's share of the operations: it keeps one app instance and moves it
// through its lifecycle at random, reading its state from a random replica before each step.
func (c *crashRun) drive(n int) {
	id := ""
	for c.ops.Add(1) <= int64(n) {
		root := c.pick().root()
		if id == "" {
			st, b, _, err := try("POST", root+"/app_lcm/v1/app_instances", []byte(`{"appDId":"mecapp","appInstanceName":"crash"}`))
			if c.count(st, err) {
				var inst map[string]any
				if json.Unmarshal(b, &inst) == nil {
					id, _ = inst["id"].(string)
					c.mu.Lock()
					c.ids[id] = true
					c.mu.Unlock()
				}
			}
			continue
		}
		st, b, _, err := try("GET", root+"/app_lcm/v1/app_instances/"+id, nil)
		if err != nil || st != http.StatusOK {
			if st == http.StatusNotFound {
				id = ""
			}
			c.ops.Add(-1) // a read, not an operation
			time.Sleep(200 * time.Millisecond)
			continue
		}
		var inst map[string]any
		_ = json.Unmarshal(b, &inst)
		state, _ := inst["instantiatedAppState"].(map[string]any)
		var name, body string
		switch {
		case inst["instantiationState"] == "NOT_INSTANTIATED" && rand.IntN(4) == 0:
			st, _, _, err := try("DELETE", root+"/app_lcm/v1/app_instances/"+id, nil)
			if c.count(st, err) {
				id = ""
			}
			continue
		case inst["instantiationState"] == "NOT_INSTANTIATED":
			name = "instantiate"
			body = []string{
				`{"selectedMECHostInfo":[{"hostId":"site-a"}]}`,
				`{"selectedMECHostInfo":[{"hostId":"site-b"}]}`,
				`{"locationConstraints":{"area":{"tac":"00a1"}}}`,
				`{"locationConstraints":{"area":{"tac":"00b2"}}}`,
			}[rand.IntN(4)]
		case state["operationalState"] == "STOPPED" && rand.IntN(2) == 0:
			name, body = "operate", `{"changeStateTo":"STARTED"}`
		case state["operationalState"] == "STARTED" && rand.IntN(3) == 0:
			name, body = "operate", `{"changeStateTo":"STOPPED","stopType":"FORCEFUL"}`
		case rand.IntN(2) == 0:
			name, body = "terminate", `{"terminationType":"FORCEFUL"}`
		default:
			name, body = "terminate", `{"terminationType":"GRACEFUL","gracefulTerminationTimeout":1}`
		}
		st, _, h, err := try("POST", root+"/app_lcm/v1/app_instances/"+id+"/"+name, []byte(body))
		if !c.count(st, err) {
			time.Sleep(300 * time.Millisecond)
			continue
		}
		loc := h.Get("Location")
		c.mu.Lock()
		c.opURLs[loc] = true
		c.mu.Unlock()
		c.wait(loc, c.opWait)
	}
}

// count records the outcome of an operation and reports whether it was accepted.
func (c *crashRun) count(st int, err error) bool {
	switch {
	case err != nil:
		c.refused.Add(1)
	case st == http.StatusConflict:
		c.conflict.Add(1)
	case st >= 200 && st < 300:
		c.accepted.Add(1)
		return true
	}
	return false
}

// wait polls an op occurrence through random replicas until it ends; a FAILED_TEMP one is
// retried. It gives up after max (the final check waits again).
func (c *crashRun) wait(loc string, max time.Duration) {
	_, rest, _ := strings.Cut(loc, "/app_lcm/")
	path := "/app_lcm/" + rest
	t0 := time.Now()
	for time.Since(t0) < max {
		time.Sleep(200 * time.Millisecond)
		root := c.pick().root()
		st, b, _, err := try("GET", root+path, nil)
		if err != nil || st != http.StatusOK {
			continue
		}
		var op map[string]any
		_ = json.Unmarshal(b, &op)
		switch s, _ := op["operationState"].(string); s {
		case "COMPLETED", "FAILED":
			c.mu.Lock()
			c.durations = append(c.durations, time.Since(t0))
			c.ended[s]++
			c.mu.Unlock()
			return
		case "FAILED_TEMP":
			c.mu.Lock()
			c.ended[s]++
			c.mu.Unlock()
			_, _, _, _ = try("POST", root+path+"/retry", nil)
		}
	}
}

// killLoop kills a random replica every 0.5–3 s and restarts it on the same port, until stop
// closes; one replica stays up meanwhile, since the other is back before the next kill.
func (c *crashRun) killLoop(t *testing.T, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(500*time.Millisecond + rand.N(2500*time.Millisecond)):
		}
		r := c.pick()
		t0 := time.Now()
		r.kill()
		c.kills.Add(1)
		time.Sleep(rand.N(500 * time.Millisecond))
		r.start(t)
		c.mu.Lock()
		c.restarts = append(c.restarts, time.Since(t0))
		c.mu.Unlock()
	}
}

// playApps confirms ready, as the apps would, every instance of the run running on the site.
func (c *crashRun) playApps(t *testing.T, s *lcmSite) {
	ctx := t.Context()
	for ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		for _, id := range c.known() {
			s.confirmIfRunning(ctx, id)
		}
	}
}

// workloads lists the instances of the run with a workload on the site's VIM: a namespace
// labelled with the instance, that the adapter reports (vim.VIM Status).
func (c *crashRun) workloads(t *testing.T, s *lcmSite) []string {
	t.Helper()
	nss, err := s.clients.Kube.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{LabelSelector: kubernetes.LabelInstance})
	require.NoError(t, err)
	ours := map[string]bool{}
	for _, id := range c.known() {
		ours[id] = true
	}
	out := []string{}
	for _, ns := range nss.Items {
		id := ns.Labels[kubernetes.LabelInstance]
		if !ours[id] {
			continue // another test's
		}
		_, err := s.adapter.Status(t.Context(), id)
		if errors.Is(err, vim.ErrNotFound) {
			continue
		}
		require.NoError(t, err, "status of %s on %s", id, s.id)
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// TestCrashTwoReplicas runs two meo processes on one database with a 2 s lease, drives
// MEO_CRASH_OPS (default 24) mixed lifecycle operations across two test-bed sites through
// either replica at random while one replica at a time is killed with SIGKILL and restarted,
// then checks that every op occurrence ended (COMPLETED, or FAILED with its reason; a
// FAILED_TEMP one is retried) and that each site's VIM and MEP hold exactly the instances the
// database says are instantiated there: no lost op, no orphan, no duplicate.
func TestCrashTwoReplicas(t *testing.T) {
	a := newLCMSite(t, "site-a", "kubernetes", "EDGEMEC_TESTBED_KUBECONFIG")
	b := newLCMSite(t, "site-b", "k3s", "EDGEMEC_TESTBED_K3S_KUBECONFIG")
	n := 24
	if v := os.Getenv("MEO_CRASH_OPS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err, "MEO_CRASH_OPS")
	}
	dsn := pgtest.New(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "meo")
	testutil.GoBuild(t, "./cmd/meo", bin)
	key := meoKey(t, dir)

	run := &crashRun{ids: map[string]bool{}, opURLs: map[string]bool{}, ended: map[string]int{}, opWait: 90 * time.Second}
	if n < 100 {
		run.opWait = 45 * time.Second
	}
	for range 2 {
		addr := freePort(t)
		r := &replica{bin: bin, addr: addr, logs: &lockedBuffer{}, args: []string{
			"--http-addr", addr, "--database-url", dsn, "--operator-token", opToken,
			"--secret-key-file", key, "--lease", "2s", "--site-refresh-interval", "1s", "--log-level", "info"}}
		r.start(t)
		t.Cleanup(r.kill)
		run.replicas = append(run.replicas, r)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, r := range run.replicas {
				t.Logf("replica %d logs:\n%s", i, r.logs.String())
			}
		}
	})
	a.register(t, run.replicas[0].root(), "00a1", 4)
	b.register(t, run.replicas[1].root(), "00b2", 6)
	pkg := onboard(t, run.replicas[0].root(), testutil.SamplePackage(t, ""))
	require.Eventually(t, func() bool {
		return getJSON(t, run.replicas[1].root()+"/app_pkgm/v1/app_packages/"+pkg)["onboardingState"] == "ONBOARDED"
	}, 30*time.Second, 100*time.Millisecond)

	var players sync.WaitGroup
	for _, s := range []*lcmSite{a, b} {
		players.Add(1)
		go func() { defer players.Done(); run.playApps(t, s) }()
	}
	t.Cleanup(players.Wait)
	// What the run leaves instantiated goes from the shared test bed once the test ends
	// (before the replicas are killed).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, s := range []*lcmSite{a, b} {
			for _, id := range run.known() {
				if err := s.adapter.Terminate(ctx, id); err != nil && !errors.Is(err, vim.ErrNotFound) {
					t.Logf("remove %s from %s: %v", id, s.id, err)
				}
			}
		}
	})

	began := time.Now()
	stop := make(chan struct{})
	killed := make(chan struct{})
	go func() { defer close(killed); run.killLoop(t, stop) }()
	workers := 4
	if n >= 100 {
		workers = 6
	}
	var drivers sync.WaitGroup
	for range workers {
		drivers.Add(1)
		go func() { defer drivers.Done(); run.drive(n) }()
	}
	drivers.Wait()
	close(stop)
	<-killed
	opsTook := time.Since(began)

	// Every op occurrence ends: FAILED_TEMP ones are retried, all within a bound.
	root := run.replicas[0].root()
	var ops []map[string]any
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ops = listAll(t, root+"/app_lcm/v1/app_lcm_op_occs")
		open := 0
		for _, op := range ops {
			switch op["operationState"] {
			case "COMPLETED", "FAILED":
			case "FAILED_TEMP":
				open++
				_, _, _, _ = try("POST", root+"/app_lcm/v1/app_lcm_op_occs/"+op["id"].(string)+"/retry", nil)
			default:
				open++
			}
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, op := range ops {
				if s := op["operationState"]; s != "COMPLETED" && s != "FAILED" {
					t.Errorf("op occurrence %v (%v of %v) still %v", op["id"], op["operation"], op["appInstanceId"], s)
				}
			}
			t.FailNow()
		}
		time.Sleep(time.Second)
	}
	ids := map[string]bool{}
	states := map[string]int{}
	for _, op := range ops {
		ids[op["id"].(string)] = true
		states[op["operationState"].(string)]++
		if op["operationState"] == "FAILED" {
			e, _ := op["error"].(map[string]any)
			assert.NotEmpty(t, e["detail"], "FAILED op occurrence %v has its reason", op["id"])
		}
	}
	for loc := range run.opURLs {
		assert.True(t, ids[loc[strings.LastIndex(loc, "/")+1:]], "the accepted op occurrence %s is listed", loc)
	}

	// Each site holds exactly what the database says is instantiated there.
	insts := listAll(t, root+"/app_lcm/v1/app_instances")
	for _, s := range []*lcmSite{a, b} {
		want := []string{}
		for _, in := range insts {
			host, _ := in["mecHostInformation"].(map[string]any)
			if in["instantiationState"] == "INSTANTIATED" && host["hostId"] == s.id {
				want = append(want, in["id"].(string))
			}
		}
		sort.Strings(want)
		assert.Equal(t, want, run.workloads(t, s), "%s: the workloads on the VIM are the instances instantiated there", s.id)
		onMEP := []string{}
		for _, r := range s.mep.Instances(t) {
			onMEP = append(onMEP, r.AppInstanceId)
		}
		sort.Strings(onMEP)
		assert.Equal(t, want, onMEP, "%s: the MEP's app instances are the instances instantiated there", s.id)
		t.Logf("%s: %d instances instantiated, %d workloads, %d on the MEP", s.id, len(want), len(run.workloads(t, s)), len(onMEP))
	}

	run.mu.Lock()
	defer run.mu.Unlock()
	t.Logf("ops %d attempted in %s by %d workers: %d accepted, %d conflict (409), %d refused (replica down); %d kills",
		n, opsTook.Round(time.Millisecond), workers, run.accepted.Load(), run.conflict.Load(), run.refused.Load(), run.kills.Load())
	t.Logf("op occurrences %d: %v; seen while running: %v", len(ops), states, run.ended)
	t.Logf("task accepted → ended: p50 %s p99 %s max %s; kill → replica ready: p50 %s max %s",
		benchfig.Percentile(run.durations, .5).Round(time.Millisecond), benchfig.Percentile(run.durations, .99).Round(time.Millisecond),
		benchfig.Percentile(run.durations, 1).Round(time.Millisecond),
		benchfig.Percentile(run.restarts, .5).Round(time.Millisecond), benchfig.Percentile(run.restarts, 1).Round(time.Millisecond))
	lost, fenced := 0, 0
	for _, r := range run.replicas {
		logs := r.logs.String()
		lost += strings.Count(logs, "op occurrence claim lost to another process")
		fenced += strings.Count(logs, "op occurrence claims not renewed in time")
	}
	t.Logf("runs stopped because their claim went to the other replica: %d; fences for want of renewal: %d", lost, fenced)
	assert.Positive(t, run.kills.Load(), "a replica was killed")
	assert.Positive(t, states["COMPLETED"], "operations completed")
}
