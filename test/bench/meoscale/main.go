// Command meoscale measures the MEO at scale against real parts: a meo binary on
// PostgreSQL, one real mep process per site, and test-bed Kubernetes control planes with
// kwok nodes (test/bench.d/meo-scale.sh runs it).
//
//  1. Instantiate: N app instances (default 1,000) over S sites (default 100), each
//     instantiate POSTed through Mm1 and timed until its op occurrence is COMPLETED (the
//     AppLcmOpOccStateChange notification), C at a time (closed loop, default 16). In the same
//     run and at the same time, side by side, the bare Kubernetes VIM adapter deploys the
//     same workloads on the same control planes, C at a time, timed from Deploy to the
//     Running event of its Watch: both sides see the same machine and control planes, so
//     that the load of the machine (shared with other work) weighs on both alike. Both are
//     printed with p50/p99 and what the MEO adds. -sequential runs the bare adapter alone
//     first, before the MEPs and the MEO start, instead.
//  2. Resync: the MEO is killed, the database made to hold R instances (default 10,000) on
//     the S sites (the N real ones, the rest copies of them whose namespaces exist on the
//     control planes), every instance's observed state cleared, and the MEO started again:
//     the time until every instance has been observed again by the site watchers.
//
// The sites share the control planes (site i uses kubeconfig i mod K) since one per site
// does not fit a small machine; each site still has its own MEP and its own VIM connection
// in the MEO. The apps are played by the bench: when a workload of the MEO's starts (its pod
// Running; -app-starts-at running: the adapter's Running event), the bench takes an Mp1
// token with the credentials in its namespace and confirms ready.
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/internal/testutil/benchfig"
	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

const (
	token    = "scalebench-operator-token"
	mepToken = "scalebench-mep-token"
	appDID   = "scalebench"
	image    = "local/mec-app:dev"
)

type options struct {
	meoBin, mepBin, dsn, dir string
	kubeconfigs              []string
	sites, instances         int
	concurrency              int
	resync                   int
	skipBare, sequential     bool
	meoArgs                  []string
	profiles                 string
	appStartsAt              string
}

func main() {
	var o options
	var kcs, meoArgs string
	flag.StringVar(&o.meoBin, "meo", "", "meo binary (required)")
	flag.StringVar(&o.mepBin, "mep", "", "mep binary (required)")
	flag.StringVar(&o.dsn, "database-url", "", "PostgreSQL URL of an empty database (required)")
	flag.StringVar(&o.dir, "dir", "", "scratch directory (required)")
	flag.StringVar(&kcs, "kubeconfigs", "", "comma-separated kubeconfigs of the test-bed control planes (required)")
	flag.IntVar(&o.sites, "sites", 100, "sites")
	flag.IntVar(&o.instances, "instances", 1000, "app instances instantiated")
	flag.IntVar(&o.concurrency, "concurrency", 16, "instantiations (and bare deploys) in flight")
	flag.IntVar(&o.resync, "resync-instances", 10000, "instances in the database for the resync figure (0: skip it)")
	flag.BoolVar(&o.skipBare, "skip-bare", false, "skip the bare adapter figure")
	flag.StringVar(&o.profiles, "heap-profiles", "", "directory to write the meo's heap profiles to, after instantiating and after the resync (meo --pprof-addr)")
	flag.StringVar(&o.appStartsAt, "app-starts-at", "container", "when a played app starts: container (its pod Running, as a kubelet starts the container) or running (the adapter's Running event)")
	flag.BoolVar(&o.sequential, "sequential", false, "run the bare adapter alone before the MEO instead of side by side")
	flag.StringVar(&meoArgs, "meo-args", "", "extra meo flags, space-separated")
	flag.Parse()
	o.kubeconfigs = strings.Split(kcs, ",")
	o.meoArgs = strings.Fields(meoArgs)
	if o.meoBin == "" || o.mepBin == "" || o.dsn == "" || o.dir == "" || kcs == "" {
		fmt.Fprintln(os.Stderr, "scalebench: -meo, -mep, -database-url, -dir and -kubeconfigs are required")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

// bench is the state shared by the phases.
type bench struct {
	o       options
	ctx     context.Context
	planes  []*plane
	meps    []*proc
	meo     *proc
	meoRoot string
	ids     []string // the MEO's app instances, instance i on site i mod S
	hook    *hook
	// bareDeploy sums the bare adapter's Deploy calls (not the wait for Running).
	bareDeploy atomic.Int64
}

// plane is one test-bed control plane.
type plane struct {
	// appTime sums, over appN confirmations, the time the played apps took from their start
	// (see playApps) to their confirm_ready answered (Mp1 secret read, token, confirm).
	appTime, appN atomic.Int64
	kubeconfig    []byte
	clients       *kubernetes.Clients
	adapter       *kubernetes.Adapter
}

func run(o options) error {
	ctx := context.Background()
	b := &bench{o: o, ctx: ctx}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	for i, path := range o.kubeconfigs {
		kc, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rc, err := clientcmd.RESTConfigFromKubeConfig(kc)
		if err != nil {
			return err
		}
		rc.QPS, rc.Burst = 500, 1000
		cl, err := kubernetes.NewClients(rc)
		if err != nil {
			return err
		}
		a, err := kubernetes.New(kubernetes.Config{Site: fmt.Sprintf("plane-%d", i), Clients: kubernetes.Static(cl), Logger: quiet})
		if err != nil {
			return err
		}
		if err := roomyNode(ctx, cl, i); err != nil {
			return err
		}
		b.planes = append(b.planes, &plane{kubeconfig: kc, clients: cl, adapter: a})
	}
	defer b.stop()
	fmt.Printf("meo scale: %d instances on %d sites (each its own mep process) sharing %d kwok control planes, %d in flight\n",
		o.instances, o.sites, len(b.planes), o.concurrency)

	var bare, full []time.Duration
	bareRun := strconv.FormatInt(time.Now().Unix()%100000, 36)
	if !o.skipBare && o.sequential {
		var err error
		if bare, err = b.bare(bareRun); err != nil {
			return fmt.Errorf("bare adapter: %w", err)
		}
		if err := b.removeBare(bareRun); err != nil {
			return fmt.Errorf("bare adapter: %w", err)
		}
		report("bare VIM adapter deploy → Running", bare, 0)
	}
	if err := b.setup(); err != nil {
		return err
	}
	if !o.skipBare && !o.sequential {
		var berr, ferr error
		var wg sync.WaitGroup
		wg.Go(func() { bare, berr = b.bare(bareRun) })
		wg.Go(func() { full, ferr = b.instantiate() })
		wg.Wait()
		if berr != nil {
			return fmt.Errorf("bare adapter: %w", berr)
		}
		if ferr != nil {
			return ferr
		}
		report("bare VIM adapter deploy → Running (beside)", bare, 0)
		report("MEO instantiate → COMPLETED (beside)", full, 0)
		b.phases(full, bare)
		if err := b.removeBare(bareRun); err != nil {
			return fmt.Errorf("bare adapter: %w", err)
		}
	} else {
		var err error
		if full, err = b.instantiate(); err != nil {
			return err
		}
		report("MEO instantiate → COMPLETED", full, 0)
		b.phases(full, bare)
	}
	if len(bare) > 0 {
		p50, p99 := benchfig.Percentile(full, .50)-benchfig.Percentile(bare, .50), benchfig.Percentile(full, .99)-benchfig.Percentile(bare, .99)
		signed := func(d time.Duration) string {
			if d < 0 {
				return "−" + (-d).Round(time.Millisecond).String()
			}
			return "+" + d.Round(time.Millisecond).String()
		}
		fmt.Printf("%-44s p50 %s  p99 %s (goal ≤ +100ms)  p99 ratio %.2f× (goal ≤ 1.2×)\n", "MEO adds over the bare adapter",
			signed(p50), signed(p99), float64(benchfig.Percentile(full, .99))/float64(benchfig.Percentile(bare, .99)))
	}
	if rss, hwm, err := mbMemory(b.meo.cmd.Process.Pid); err == nil {
		fmt.Printf("%-44s RSS %.0f MB, peak %.0f MB\n", "meo memory after instantiating", rss, hwm)
	}
	b.meo.heapProfile(b.o.profiles, "instantiated")
	if o.resync > 0 {
		if err := b.resyncFigure(); err != nil {
			return fmt.Errorf("resync: %w", err)
		}
	}
	return nil
}

// phases prints where the MEO's instantiations spent their time, as means from its
// meo_orchestrate_* histograms: the wait from the POST to the claim (the rest of the
// end-to-end mean), each phase of the run, and the bare adapter's Deploy call and wait for
// Running beside them.
func (b *bench) phases(full, bare []time.Duration) {
	st, body, _, err := b.do("GET", "/metrics", nil)
	if err != nil || st != http.StatusOK {
		fmt.Fprintf(os.Stderr, "scalebench: metrics: %d %v\n", st, err)
		return
	}
	mean := func(d []time.Duration) time.Duration {
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		return sum / time.Duration(max(len(d), 1))
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", benchfig.MS(d)) }
	ops := benchfig.HistogramMeans(string(body), "meo_orchestrate_op_duration_seconds")[`operation="INSTANTIATE",state="COMPLETED"`]
	ph := benchfig.HistogramMeans(string(body), "meo_orchestrate_phase_duration_seconds")
	fmt.Printf("%-44s mean %s: POST → claim %s", "MEO instantiate, where the time goes", ms(mean(full)), ms(mean(full)-ops.Mean))
	for _, p := range []string{"place", "connect", "MEP_PROVISIONED", "VIM_DEPLOYED", "VIM_RUNNING", "MEP_READY", "finish"} {
		o := ph[fmt.Sprintf(`phase=%q,task="INSTANTIATE"`, p)]
		fmt.Printf(", %s %s", p, ms(o.Mean))
	}
	fmt.Println()
	var app, n int64
	for _, p := range b.planes {
		app, n = app+p.appTime.Load(), n+p.appN.Load()
	}
	if n > 0 {
		from := map[string]string{"container": "pod Running", "running": "Running event"}[b.o.appStartsAt]
		fmt.Printf("%-44s mean %s (%s → Mp1 secret, token, confirm_ready answered)\n", "the played app, start → confirmed", ms(time.Duration(app/n)), from)
	}
	if len(bare) > 0 {
		dep := time.Duration(b.bareDeploy.Load()) / time.Duration(len(bare))
		fmt.Printf("%-44s mean %s: Deploy %s, Running %s\n", "bare adapter, where the time goes", ms(mean(bare)), ms(dep), ms(mean(bare)-dep))
	}
}

func report(what string, d []time.Duration, _ int) {
	fmt.Printf("%-44s n %d  p50 %v  p99 %v  max %v  (load average %s)\n", what, len(d), benchfig.Percentile(d, .50).Round(time.Millisecond),
		benchfig.Percentile(d, .99).Round(time.Millisecond), benchfig.Percentile(d, 1).Round(time.Millisecond), benchfig.LoadAvg())
}

// roomyNode adds a kwok node with room for every pod of the bench (the test bed's own nodes
// hold 250 pods each).
func roomyNode(ctx context.Context, c *kubernetes.Clients, i int) error {
	name := "kwok-scale-0"
	q := func(s string) resource.Quantity { return resource.MustParse(s) }
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"type": "kwok", "node-role.kubernetes.io/worker": ""}},
		Status: corev1.NodeStatus{
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.254.%d.10", i)}, {Type: corev1.NodeHostName, Address: name}},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: q("256"), corev1.ResourceMemory: q("1Ti"), corev1.ResourcePods: q("20000")},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: q("256"), corev1.ResourceMemory: q("1Ti"), corev1.ResourcePods: q("20000")},
			NodeInfo:    corev1.NodeSystemInfo{Architecture: "amd64", OperatingSystem: "linux", KubeletVersion: "v1.37.2", OSImage: "kwok"},
		},
	}
	_, err := c.Kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	return nil
}

// deployRequest is the workload of every instance: the image alone, one port, a small
// compute (the same as the bench's AppD).
func deployRequest(id string) vim.DeployRequest {
	return vim.DeployRequest{AppInstanceID: id, AppDID: appDID, AppName: "scale",
		Image: vim.SwImage{Ref: image}, Artifacts: vim.Artifacts{Ports: []vim.Port{{Name: "http", Port: 8080}}},
		Compute: vim.VirtualCompute{VirtualCPUs: 0.01, MemoryMiB: 16},
		MEP:     vim.MEPAccess{Endpoint: "http://127.0.0.1:1", ClientID: "bench", ClientSecret: "bench"}}
}

// closedLoop runs f(i) for i in [0, n) with c calls in flight and returns each duration.
func closedLoop(n, c int, f func(i int) (time.Duration, error)) ([]time.Duration, error) {
	var (
		next atomic.Int64
		mu   sync.Mutex
		out  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d, err := f(i)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					out = append(out, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return out, fmt.Errorf("%d of %d failed, first: %w", len(errs), n, errs[0])
	}
	return out, nil
}

// runningWaiter follows a control plane's Watch and signals the first Running event of
// each awaited instance.
type runningWaiter struct {
	mu   sync.Mutex
	wait map[string]chan struct{}
}

func (p *plane) follow(ctx context.Context) (*runningWaiter, error) {
	w := &runningWaiter{wait: map[string]chan struct{}{}}
	events, err := p.adapter.Watch(ctx)
	if err != nil {
		return nil, err
	}
	go func() {
		for ev := range events {
			if ev.Deleted || ev.Status.Phase != vim.PhaseRunning {
				continue
			}
			w.mu.Lock()
			if ch := w.wait[ev.Status.AppInstanceID]; ch != nil {
				close(ch)
				delete(w.wait, ev.Status.AppInstanceID)
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

func (w *runningWaiter) expect(id string) chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	w.wait[id] = ch
	w.mu.Unlock()
	return ch
}

// bare deploys the workloads through the adapter alone, their ids prefixed with
// "bare-"+run.
func (b *bench) bare(run string) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	var waiters []*runningWaiter
	for _, p := range b.planes {
		w, err := p.follow(ctx)
		if err != nil {
			return nil, err
		}
		waiters = append(waiters, w)
	}
	id := func(i int) string { return fmt.Sprintf("bare-%s-%04d", run, i) }
	plane := func(i int) int { return (i % b.o.sites) % len(b.planes) }
	return closedLoop(b.o.instances, b.o.concurrency, func(i int) (time.Duration, error) {
		p := plane(i)
		ch := waiters[p].expect(id(i))
		t0 := time.Now()
		if err := b.planes[p].adapter.Deploy(ctx, deployRequest(id(i))); err != nil {
			return 0, err
		}
		b.bareDeploy.Add(int64(time.Since(t0)))
		select {
		case <-ch:
			return time.Since(t0), nil
		case <-time.After(5 * time.Minute):
			return 0, fmt.Errorf("%s not Running after 5 min", id(i))
		}
	})
}

// removeBare removes the bare workloads of run, and waits until their namespaces are gone so
// that what follows starts on clean control planes.
func (b *bench) removeBare(run string) error {
	ctx := b.ctx
	id := func(i int) string { return fmt.Sprintf("bare-%s-%04d", run, i) }
	plane := func(i int) int { return (i % b.o.sites) % len(b.planes) }
	t0 := time.Now()
	_, err := closedLoop(b.o.instances, 32, func(i int) (time.Duration, error) {
		return 0, b.planes[plane(i)].adapter.Terminate(ctx, id(i))
	})
	if err != nil {
		return err
	}
	for _, p := range b.planes {
		for {
			nss, err := p.clients.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: kubernetes.LabelInstance})
			if err != nil {
				return err
			}
			left := 0
			for _, ns := range nss.Items {
				if strings.HasPrefix(ns.Labels[kubernetes.LabelInstance], "bare-"+run) {
					left++
				}
			}
			if left == 0 {
				break
			}
			if time.Since(t0) > 10*time.Minute {
				return fmt.Errorf("%d bare namespaces still there after 10 min", left)
			}
			time.Sleep(time.Second)
		}
	}
	return nil
}

// proc is a child process (a mep or the meo).
type proc struct {
	cmd   *exec.Cmd
	args  []string
	bin   string
	log   string
	root  string
	pprof string // the pprof address, if any
}

// heapProfile writes the process's heap profile to dir/heap-NAME.pb.gz when it serves pprof
// (-heap-profiles); `go tool pprof -top FILE` reads it.
func (p *proc) heapProfile(dir, name string) {
	if p.pprof == "" {
		return
	}
	res, err := http.Get("http://" + p.pprof + "/debug/pprof/heap")
	if err == nil {
		defer res.Body.Close()
		var b []byte
		if b, err = io.ReadAll(res.Body); err == nil {
			f := filepath.Join(dir, "heap-"+name+".pb.gz")
			if err = os.WriteFile(f, b, 0o644); err == nil {
				fmt.Printf("%-44s %s\n", "meo heap profile "+name, f)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "scalebench: heap profile: %v\n", err)
	}
}

func (p *proc) start() error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return p.cmd.Start()
}

func (p *proc) kill() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

func (p *proc) ready(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if r, err := http.Get(p.root + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v (log %s)", p.root, d, p.log)
}

func (b *bench) stop() {
	b.meo.kill()
	for _, m := range b.meps {
		m.kill()
	}
	if b.hook != nil {
		b.hook.srv.Close()
	}
}

func siteID(i int) string { return fmt.Sprintf("site-%03d", i) }

// setup starts the MEPs and the MEO, registers the sites, onboards the package, subscribes
// to op occurrence changes, creates the instances and starts playing the apps.
func (b *bench) setup() error {
	t0 := time.Now()
	for i := range b.o.sites {
		addr, err := benchfig.FreeAddr()
		if err != nil {
			return err
		}
		dir := filepath.Join(b.o.dir, "mep-"+strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		m := &proc{bin: b.o.mepBin, log: filepath.Join(dir, "log"), root: "http://" + addr, args: []string{
			"--http-addr", addr, "--dns-addr", "off", "--data-dir", dir, "--operator-token", mepToken,
			"--site", siteID(i), "--log-level", "warn"}}
		if err := m.start(); err != nil {
			return err
		}
		b.meps = append(b.meps, m)
	}
	for _, m := range b.meps {
		if err := m.ready(60 * time.Second); err != nil {
			return err
		}
	}
	addr, err := benchfig.FreeAddr()
	if err != nil {
		return err
	}
	key := filepath.Join(b.o.dir, "meo.key")
	if err := os.WriteFile(key, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		return err
	}
	b.meoRoot = "http://" + addr
	b.meo = &proc{bin: b.o.meoBin, log: filepath.Join(b.o.dir, "meo.log"), root: b.meoRoot, args: append([]string{
		"--http-addr", addr, "--database-url", b.o.dsn, "--operator-token", token, "--secret-key-file", key,
		"--log-level", "warn"}, b.o.meoArgs...)}
	if b.o.profiles != "" {
		pp, err := benchfig.FreeAddr()
		if err != nil {
			return err
		}
		b.meo.args, b.meo.pprof = append(b.meo.args, "--pprof-addr", pp), pp
	}
	if err := b.meo.start(); err != nil {
		return err
	}
	if err := b.meo.ready(60 * time.Second); err != nil {
		return err
	}
	if _, err := closedLoop(b.o.sites, 8, func(i int) (time.Duration, error) { return 0, b.register(i) }); err != nil {
		return fmt.Errorf("register sites: %w", err)
	}
	if err := b.onboard(); err != nil {
		return err
	}
	if b.hook, err = newHook(); err != nil {
		return err
	}
	st, body, _, err := b.do("POST", "/app_lcm/v1/subscriptions", map[string]any{
		"subscriptionType": "AppLcmOpOccStateChange", "callbackUri": b.hook.url})
	if err != nil || st != http.StatusCreated {
		return fmt.Errorf("subscribe: %d %s %w", st, body, err)
	}
	b.ids = make([]string, b.o.instances)
	if _, err := closedLoop(b.o.instances, 8, func(i int) (time.Duration, error) {
		st, body, _, err := b.do("POST", "/app_lcm/v1/app_instances", map[string]any{"appDId": appDID, "appInstanceName": "scale-" + strconv.Itoa(i)})
		if err != nil || st != http.StatusCreated {
			return 0, fmt.Errorf("create instance: %d %s %w", st, body, err)
		}
		var in struct{ ID string }
		if err := json.Unmarshal(body, &in); err != nil {
			return 0, err
		}
		b.ids[i] = in.ID
		return 0, nil
	}); err != nil {
		return err
	}
	for _, p := range b.planes {
		if err := p.playApps(b.ctx, b.o.appStartsAt); err != nil {
			return err
		}
	}
	fmt.Printf("%-44s %v\n", "setup (meps, meo, sites, package, instances)", time.Since(t0).Round(time.Millisecond))
	return nil
}

func (b *bench) do(method, path string, body any) (int, []byte, http.Header, error) {
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(b.ctx, method, b.meoRoot+path, r)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, res.Header, err
}

func (b *bench) register(i int) error {
	p := b.planes[i%len(b.planes)]
	st, body, _, err := b.do("POST", "/inventory/v1/sites", map[string]any{
		"id": siteID(i), "labels": map[string]string{"bench": "scale"},
		"location": map[string]any{"lat": 48.1, "lon": 11.6, "countryCode": "DE",
			"servedAreas": []map[string]any{{"tac": fmt.Sprintf("%04x", i), "latencyMs": 5}}},
		"mep": map[string]any{"endpoint": b.meps[i].root + "/mepm/v1", "token": mepToken},
		"vim": map[string]any{"kind": "kubernetes", "kubeconfig": string(p.kubeconfig)},
	})
	if err != nil || st != http.StatusCreated {
		return fmt.Errorf("register %s: %d %s %w", siteID(i), st, body, err)
	}
	return nil
}

const appd = `appDId: ` + appDID + `
appName: scale
appProvider: edgemec-bench
appSoftVersion: "1.0"
appDVersion: "1.0"
mecVersion: ["2.2.1"]
appDescription: the scale bench's app (image only)
virtualComputeDescriptor: {virtualComputeDescId: vcd, virtualCpu: {numVirtualCpu: 0.01}, virtualMemory: {virtualMemSize: 16}}
swImageDescriptor: {id: img, name: scale, version: dev, swImage: "` + image + `", containerFormat: DOCKER}
appExtCpd:
- cpdId: http
  ports: [{name: http, port: 8080, protocol: TCP}]
`

func (b *bench) onboard() error {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("Definitions/scale.yaml")
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, appd); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	sum := sha256.Sum256(buf.Bytes())
	st, body, _, err := b.do("POST", "/app_pkgm/v1/app_packages", map[string]any{"appPkgName": "scale", "appPkgVersion": "1",
		"checksum": map[string]string{"algorithm": "SHA-256", "hash": hex.EncodeToString(sum[:])}})
	if err != nil || st != http.StatusCreated {
		return fmt.Errorf("create package: %d %s %w", st, body, err)
	}
	var pkg struct{ ID string }
	if err := json.Unmarshal(body, &pkg); err != nil {
		return err
	}
	req, err := http.NewRequest("PUT", b.meoRoot+"/app_pkgm/v1/app_packages/"+pkg.ID+"/package_content", bytes.NewReader(buf.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/zip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		return fmt.Errorf("upload package: %s", res.Status)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, body, _, err := b.do("GET", "/app_pkgm/v1/app_packages/"+pkg.ID, nil)
		if err != nil {
			return err
		}
		if bytes.Contains(body, []byte(`"ONBOARDED"`)) {
			return nil
		}
		if bytes.Contains(body, []byte(`"ERROR"`)) {
			return fmt.Errorf("onboarding failed: %s", body)
		}
	}
	return errors.New("package not onboarded after 1 min")
}

// playApps confirms ready, as the app would, every workload of the MEO's on the control
// plane, with the Mp1 credentials in its namespace. An app starts when its container does:
// at "container" (the default) the played app starts when kwok reports the pod Running,
// which is when a kubelet would have started its container; the Ready kwok reports at the
// same moment stands for the readiness probe of a real app, which passes only once the app
// is registered (test/tools/mecapp /readyz; the real node's TestAppRunsAndCallsItsMEP), so
// the app's confirm_ready runs beside the workload's way to Running, as on a real node. At
// "running" it starts only when the adapter's Watch reports the workload Running: the
// app's whole time then comes after Running, as for an app without a readiness probe.
func (p *plane) playApps(ctx context.Context, at string) error {
	var mu sync.Mutex
	confirmed := map[string]bool{}
	sem := make(chan struct{}, 16)
	play := func(id string) {
		if id == "" || strings.HasPrefix(id, "bare-") {
			return
		}
		mu.Lock()
		done := confirmed[id]
		confirmed[id] = true
		mu.Unlock()
		if done {
			return
		}
		seen := time.Now()
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			if err := p.confirm(ctx, id); err != nil {
				mu.Lock()
				delete(confirmed, id)
				mu.Unlock()
				fmt.Fprintf(os.Stderr, "scalebench: confirm %s: %v\n", id, err)
				return
			}
			p.appTime.Add(int64(time.Since(seen)))
			p.appN.Add(1)
		}()
	}
	switch at {
	case "running":
		events, err := p.adapter.Watch(ctx)
		if err != nil {
			return err
		}
		go func() {
			for ev := range events {
				if !ev.Deleted && ev.Status.Phase == vim.PhaseRunning {
					play(ev.Status.AppInstanceID)
				}
			}
		}()
		return nil
	case "container":
		f := informers.NewSharedInformerFactoryWithOptions(p.clients.Kube, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = kubernetes.LabelInstance }))
		inf := f.Core().V1().Pods().Informer()
		started := func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok && pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning {
				play(pod.Labels[kubernetes.LabelInstance])
			}
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: started, UpdateFunc: func(_, o any) { started(o) }}); err != nil {
			return err
		}
		f.Start(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return errors.New("pod informer did not sync")
		}
		return nil
	}
	return fmt.Errorf("-app-starts-at %q: want container or running", at)
}

func (p *plane) confirm(ctx context.Context, id string) error {
	sec, err := p.clients.Kube.CoreV1().Secrets(p.adapter.Namespace(id)).Get(ctx, kubernetes.Mp1SecretName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	return meptest.ConfirmReady(ctx, vim.MEPAccess{Endpoint: string(sec.Data[kubernetes.EnvMEPEndpoint]),
		ClientID: string(sec.Data[kubernetes.EnvClientID]), ClientSecret: string(sec.Data[kubernetes.EnvClientSecret])}, id)
}

// hook receives the MEO's AppLcmOpOccStateChange notifications and signals the end of each
// awaited op occurrence.
type hook struct {
	srv *http.Server
	url string

	mu    sync.Mutex
	wait  map[string]chan string
	ended map[string]string
}

func newHook() (*hook, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hook{url: "http://" + l.Addr().String() + "/notify", wait: map[string]chan string{}, ended: map[string]string{}}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct{ AppLcmOpOccID, OperationState string }
		if err := json.NewDecoder(r.Body).Decode(&n); err == nil {
			switch n.OperationState {
			case "COMPLETED", "FAILED", "FAILED_TEMP":
				h.end(n.AppLcmOpOccID, n.OperationState)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = h.srv.Serve(l) }()
	return h, nil
}

func (h *hook) end(op, state string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ch := h.wait[op]; ch != nil {
		ch <- state
		delete(h.wait, op)
		return
	}
	h.ended[op] = state
}

// expect returns the channel of op's end; an end that came before is delivered at once.
func (h *hook) expect(op string) chan string {
	ch := make(chan string, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.ended[op]; ok {
		delete(h.ended, op)
		ch <- s
		return ch
	}
	h.wait[op] = ch
	return ch
}

// instantiate instantiates every instance on its site, C at a time.
func (b *bench) instantiate() ([]time.Duration, error) {
	return closedLoop(b.o.instances, b.o.concurrency, func(i int) (time.Duration, error) {
		t0 := time.Now()
		st, body, hdr, err := b.do("POST", "/app_lcm/v1/app_instances/"+b.ids[i]+"/instantiate",
			map[string]any{"selectedMECHostInfo": []map[string]string{{"hostId": siteID(i % b.o.sites)}}})
		if err != nil || st != http.StatusAccepted {
			return 0, fmt.Errorf("instantiate %s: %d %s %w", b.ids[i], st, body, err)
		}
		loc := hdr.Get("Location")
		op := loc[strings.LastIndex(loc, "/")+1:]
		select {
		case s := <-b.hook.expect(op):
			if s != "COMPLETED" {
				_, body, _, _ := b.do("GET", "/app_lcm/v1/app_lcm_op_occs/"+op, nil)
				return 0, fmt.Errorf("op %s %s: %s", op, s, body)
			}
			return time.Since(t0), nil
		case <-time.After(5 * time.Minute):
			return 0, fmt.Errorf("op %s not ended after 5 min: %s", op, b.stuck(op, b.ids[i]))
		}
	})
}

// stuck describes an op that did not end: the op occurrence and the instance as the MEO
// shows them, and the meo's log lines that name either.
func (b *bench) stuck(op, id string) string {
	_, opBody, _, _ := b.do("GET", "/app_lcm/v1/app_lcm_op_occs/"+op, nil)
	_, instBody, _, _ := b.do("GET", "/app_lcm/v1/app_instances/"+id, nil)
	var lines []string
	if log, err := os.ReadFile(b.meo.log); err == nil {
		for _, l := range strings.Split(string(log), "\n") {
			if strings.Contains(l, op) || strings.Contains(l, id) {
				lines = append(lines, l)
			}
		}
	}
	return fmt.Sprintf("op: %s\ninstance: %s\nmeo log:\n%s", opBody, instBody, strings.Join(lines, "\n"))
}

// resyncFigure kills the MEO, fills the database up to R instances (copies of the real ones
// on the same sites, each with a namespace of its own on the control plane), clears every
// observed state and starts the MEO again, timing until all are observed.
func (b *bench) resyncFigure() error {
	ctx := b.ctx
	b.meo.kill()
	conn, err := pgx.Connect(ctx, b.o.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	extra := b.o.resync - b.o.instances
	if extra > 0 {
		t0 := time.Now()
		// Each copy is an INSTANTIATED instance with the completed INSTANTIATE op of the
		// real instance it copies (its task naming the copy), on the same site.
		if _, err := conn.Exec(ctx, `
			WITH src AS (SELECT i.*, row_number() OVER (ORDER BY i.pos) - 1 AS n FROM app_instances i
			             WHERE i.instantiation_state = 'INSTANTIATED'),
			     cnt AS (SELECT count(*) AS c FROM src),
			     copies AS (SELECT g, 'copy-' || lpad(g::text, 5, '0') AS nid, src.* FROM generate_series(0, $1 - 1) g, cnt, src
			                WHERE src.n = g % cnt.c)
			INSERT INTO app_instances (id, app_d_id, app_pkg_id, instantiation_state, operational_state, site_id, resources,
			                           observed, app_ready, doc)
			SELECT nid, app_d_id, app_pkg_id, instantiation_state, operational_state, site_id, resources, observed, app_ready,
			       jsonb_set(doc, '{id}', to_jsonb(nid)) FROM copies`, extra); err != nil {
			return fmt.Errorf("copy instances: %w", err)
		}
		if _, err := conn.Exec(ctx, `
			INSERT INTO app_lcm_op_occs (id, app_instance_id, operation, state, request, task, site_id, doc)
			SELECT 'op-' || c.id, c.id, 'INSTANTIATE', 'COMPLETED', o.request,
			       jsonb_set(jsonb_set(o.task, '{AppInstanceID}', to_jsonb(c.id)), '{ID}', to_jsonb('op-' || c.id)),
			       o.site_id, jsonb_set(jsonb_set(o.doc, '{id}', to_jsonb('op-' || c.id)), '{appInstanceId}', to_jsonb(c.id))
			FROM app_instances c
			JOIN app_instances s ON s.id = (SELECT id FROM app_instances WHERE site_id = c.site_id AND id NOT LIKE 'copy-%' LIMIT 1)
			JOIN app_lcm_op_occs o ON o.app_instance_id = s.id AND o.operation = 'INSTANTIATE' AND o.state = 'COMPLETED'
			WHERE c.id LIKE 'copy-%'`); err != nil {
			return fmt.Errorf("copy op occurrences: %w", err)
		}
		// Their namespaces, so that the VIM knows each copy (the adapter's Status reads the
		// namespace and its workloads).
		rows, err := conn.Query(ctx, "SELECT id, site_id FROM app_instances WHERE id LIKE 'copy-%'")
		if err != nil {
			return err
		}
		type cp struct{ id, site string }
		copies, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (cp, error) {
			var c cp
			return c, r.Scan(&c.id, &c.site)
		})
		if err != nil {
			return err
		}
		if _, err := closedLoop(len(copies), 32, func(i int) (time.Duration, error) {
			n, _ := strconv.Atoi(strings.TrimPrefix(copies[i].site, "site-"))
			p := b.planes[n%len(b.planes)]
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.adapter.Namespace(copies[i].id),
				Labels: map[string]string{kubernetes.LabelInstance: copies[i].id, kubernetes.LabelAppD: appDID,
					kubernetes.LabelManagedBy: "edgemec"}}}
			_, err := p.clients.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				err = nil
			}
			return 0, err
		}); err != nil {
			return err
		}
		fmt.Printf("%-44s %v\n", fmt.Sprintf("resync setup (%d copies and their namespaces)", extra), time.Since(t0).Round(time.Millisecond))
	}
	var total, sites int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT site_id) FROM app_instances WHERE instantiation_state = 'INSTANTIATED'`).
		Scan(&total, &sites); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "UPDATE app_instances SET observed = NULL"); err != nil {
		return err
	}
	// Another process's site leases would hold the sites for a whole lease: the killed MEO's.
	if _, err := conn.Exec(ctx, "DELETE FROM site_leases"); err != nil {
		return err
	}
	t0 := time.Now()
	if err := b.meo.start(); err != nil {
		return err
	}
	if err := b.meo.ready(60 * time.Second); err != nil {
		return err
	}
	ready := time.Since(t0)
	var left int
	for {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM app_instances WHERE instantiation_state = 'INSTANTIATED' AND observed IS NULL`).
			Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			break
		}
		if time.Since(t0) > 15*time.Minute {
			return fmt.Errorf("%d of %d instances not observed after 15 min", left, total)
		}
		time.Sleep(200 * time.Millisecond)
	}
	took := time.Since(t0)
	var phases string
	_ = conn.QueryRow(ctx, `SELECT string_agg(p || ' ' || n, ', ') FROM (SELECT coalesce(observed->>'phase', '-') ||
		coalesce(' (' || (observed->'reasons'->0->>'code') || ')', '') || CASE WHEN id LIKE 'copy-%' THEN ' copies' ELSE '' END AS p, count(*) AS n
		FROM app_instances WHERE instantiation_state = 'INSTANTIATED' GROUP BY 1 ORDER BY 1) x`).Scan(&phases)
	fmt.Printf("%-44s %v (meo ready after %v; observed phases: %s)\n",
		fmt.Sprintf("MEO restart → %d instances on %d sites resynced", total, sites), took.Round(time.Millisecond),
		ready.Round(time.Millisecond), phases)
	if rss, hwm, err := mbMemory(b.meo.cmd.Process.Pid); err == nil {
		fmt.Printf("%-44s RSS %.0f MB, peak %.0f MB\n", "meo memory after the resync", rss, hwm)
		b.meo.heapProfile(b.o.profiles, "resynced")
	}
	return nil
}

// mbMemory is benchfig.Memory in MB.
func mbMemory(pid int) (float64, float64, error) {
	rss, peak, err := benchfig.Memory(pid)
	return benchfig.MB(rss), benchfig.MB(peak), err
}
