package demo

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// The demo's names: the sample package's AppD (test/testdata/packages/mecapp) and what it
// declares.
const (
	appDID      = "mecapp"
	serviceName = "mec-sample"
	dnsName     = "mecapp.mec.example"
	maxLatency  = 10 // ms, added to the sample AppD for the demo
)

// Instance is one app instance of the demo.
type Instance struct {
	ID, OpOccID, Site, State string
	// Rejected are the sites the placement rejected, with the reason.
	Rejected map[string]string
}

// AppStatus is the sample app's own account (its GET /status).
type AppStatus struct {
	AppInstanceID        string `json:"appInstanceId"`
	Hostname             string `json:"hostname"`
	URL                  string `json:"url"`
	ReadyConfirmed       bool   `json:"readyConfirmed"`
	ServiceID            string `json:"serviceId"`
	SubscriptionID       string `json:"subscriptionId"`
	TerminationNotified  bool   `json:"terminationNotified"`
	TerminationConfirmed bool   `json:"terminationConfirmed"`
}

// Result is what the flow saw, step by step.
type Result struct {
	Sites     []string // registered and ready
	PackageID string
	First     Instance // placed by area and latency on site-1
	Second    Instance // placed by area and country on site-2

	// Pod, Node and App describe the first instance's container on site-1, Answer is its
	// HTTP answer.
	Pod, Node, Answer string
	App               AppStatus
	// ServiceID is the service site-1's MEP lists for the first instance, registered by the
	// app itself (set when it is the one the app reports).
	ServiceID string
	// DNS is site-1's DNS answer for the app's name.
	DNS []string
	// Breakout is the N3 step (nil without the UPGW).
	Breakout *BreakoutResult
	// Trace is the UPGW's packet trace during the N3 step.
	Trace string
	// Steering is the 5G step: the MEO's traffic influence subscription at site-1's NEF.
	Steering *SteeringResult
	// Operate is the stop and start of the first instance.
	Operate *OperateResult

	// Killed is the MEO replica (1 or 2) killed while it ran the second instantiation;
	// Finisher is the one that finished it.
	Killed, Finisher int
	// Restarted is the killed replica, started again once the other finished.
	Restarted int

	// Termination is the app's account after the graceful termination.
	Termination AppStatus
	// Leftovers lists what remained of the instances after terminate and delete (empty:
	// nothing on the VIM, MEP, DNS or UPGW).
	Leftovers []string
	Elapsed   time.Duration
}

// Run drives the demo: every operator action through mecctl, each step checked. It writes the
// progress to w and returns at the first step that fails.
func Run(ctx context.Context, env Env, w io.Writer) (*Result, error) {
	t0 := time.Now()
	d := &driver{env: env, w: w, meo: env.MEO[0], res: &Result{}, t0: t0}
	defer d.stopPlaying()
	var err error
	for _, s := range []func(context.Context) error{d.sites, d.onboard, d.first, d.checkApp, d.steering, d.checkN3, d.operate, d.second, d.terminate, d.summary} {
		if err = s(ctx); err != nil {
			fmt.Fprintf(w, "\n\033[31mFAILED: %v\033[0m\n", err)
			break
		}
	}
	d.res.Elapsed = time.Since(t0)
	return d.res, err
}

type driver struct {
	env  Env
	w    io.Writer
	meo  string // the MEO replica mecctl talks to
	res  *Result
	step int
	t0   time.Time

	site1, site2 *kube
	stopPlay     []func()
}

// kube is a site's Kubernetes, seen as the MEO's adapter sees it.
type kube struct {
	adapter *kubernetes.Adapter
	clients *kubernetes.Clients
}

func newKube(site, kubeconfig string) (*kube, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("%s kubeconfig: %w", site, err)
	}
	c, err := kubernetes.NewClients(cfg)
	if err != nil {
		return nil, err
	}
	a, err := kubernetes.New(kubernetes.Config{Site: site, Clients: kubernetes.Static(c)})
	if err != nil {
		return nil, err
	}
	return &kube{adapter: a, clients: c}, nil
}

func (d *driver) title(s string) {
	d.step++
	fmt.Fprintf(d.w, "\n\033[1m== %d. %s\033[0m\n", d.step, s)
}

func (d *driver) note(format string, a ...any) { fmt.Fprintf(d.w, "   "+format+"\n", a...) }

func (d *driver) ok(format string, a ...any) {
	fmt.Fprintf(d.w, "   \033[32m✓\033[0m "+format+"\n", a...)
}

// ctl runs mecctl against the current MEO replica and shows the command and its output.
func (d *driver) ctl(ctx context.Context, args ...string) (string, error) {
	fmt.Fprintf(d.w, "   $ mecctl %s\n", strings.Join(args, " "))
	out, errOut, err := d.mecctl(ctx, args...)
	for _, s := range []string{errOut, out} {
		for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			if l != "" {
				fmt.Fprintf(d.w, "     %s\n", l)
			}
		}
	}
	return out, err
}

// ctlJSON runs mecctl -o json quietly and decodes its output into v.
func (d *driver) ctlJSON(ctx context.Context, v any, args ...string) error {
	out, errOut, err := d.mecctl(ctx, append(args, "-o", "json")...)
	if err != nil {
		return fmt.Errorf("mecctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut))
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("mecctl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func (d *driver) mecctl(ctx context.Context, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, d.env.Mecctl, append([]string{"--config", d.env.MecctlConfig, "--meo", d.meo}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// exitCode is mecctl's exit code in err (0 without an error).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func until(ctx context.Context, d time.Duration, what string, ok func() (bool, error)) error {
	deadline := time.Now().Add(d)
	var last error
	for {
		done, err := ok()
		if done && err == nil {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("%s: not after %v: %w", what, d, last)
			}
			return fmt.Errorf("%s: not after %v", what, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// site1YAML and site2YAML are the SiteSpecs: site-1 in Munich serving TAC 00a1 at 4 ms;
// site-2 in Toulouse serving TAC 00a1 at 14 ms and TAC 00b2 at 5 ms.
func (d *driver) siteFile(id, kind, mep, token, kubeconfig, country string, lat, lon float64, areas, extra string) (string, error) {
	kc, err := os.ReadFile(kubeconfig)
	if err != nil {
		return "", err
	}
	tok, err := os.ReadFile(token)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nlabels: {demo: \"true\", kind: %s}\nlocation:\n  lat: %v\n  lon: %v\n  countryCode: %s\n  servedAreas:\n%s", id, kind, lat, lon, country, areas)
	fmt.Fprintf(&b, "mep:\n  endpoint: %s/mepm/v1\n  token: %s\n", mep, strings.TrimSpace(string(tok)))
	b.WriteString(extra)
	fmt.Fprintf(&b, "vim:\n  kind: %s\n  kubeconfig: |\n", kind)
	for _, l := range strings.Split(strings.TrimRight(string(kc), "\n"), "\n") {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	path := filepath.Join(d.env.Dir, id+".yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

func (d *driver) sites(ctx context.Context) error {
	d.title("The operator registers two edge sites with the MEO")
	switch d.env.Site1Mode {
	case ModeKwok:
		d.note("site-1: Kubernetes with kwok nodes (no root: no real node); the demo plays the app's Mp1 part")
	default:
		d.note("site-1: Kubernetes, its own control plane and the real node %s (kubelet, containerd, runc); MEP %s; UPGW %s", d.env.Site1Node, d.env.Site1MEP, orNone(d.env.Site1UPGW))
	}
	d.note("site-2: K3s-style, kwok nodes (pods are simulated: the demo plays the app's Mp1 part there); MEP %s", d.env.Site2MEP)
	d.note("site-1's 5G core: the test NEF %s (Nnef_TrafficInfluence); site-1 is registered with its 5G data (DNAI %s)", d.env.NEF, site1DNAI)
	if d.env.RootOnly != "" {
		d.note("\033[33mwithout root, left out:\033[0m %s", d.env.RootOnly)
	}
	var err error
	if d.site1, err = newKube("site-1", d.env.Site1Kubeconfig); err != nil {
		return err
	}
	if d.site2, err = newKube("site-2", d.env.Site2Kubeconfig); err != nil {
		return err
	}
	fiveG, err := d.fiveGYAML()
	if err != nil {
		return err
	}
	f1, err := d.siteFile("site-1", "kubernetes", d.env.Site1MEP, filepath.Join(d.env.Dir, "tokens", "site-1.token"), d.env.Site1Kubeconfig, "DE", 48.14, 11.58,
		"  - {tac: \"00a1\", latencyMs: 4}\n", fiveG)
	if err != nil {
		return err
	}
	f2, err := d.siteFile("site-2", "k3s", d.env.Site2MEP, filepath.Join(d.env.Dir, "tokens", "site-2.token"), d.env.Site2Kubeconfig, "FR", 43.60, 1.44,
		"  - {tac: \"00a1\", latencyMs: 14}\n  - {tac: \"00b2\", latencyMs: 5}\n", "")
	if err != nil {
		return err
	}
	for _, f := range []string{f1, f2} {
		if _, err := d.ctl(ctx, "site", "add", "-f", f); err != nil {
			return fmt.Errorf("site add %s: %w", f, err)
		}
	}
	if err := until(ctx, 30*time.Second, "both sites ready", func() (bool, error) {
		var sites []struct {
			ID    string `json:"id"`
			State struct {
				MEP struct{ Reachable bool } `json:"mep"`
				VIM struct{ Reachable bool } `json:"vim"`
			} `json:"state"`
		}
		if err := d.ctlJSON(ctx, &sites, "site", "list"); err != nil {
			return false, err
		}
		d.res.Sites = nil
		for _, s := range sites {
			if s.State.MEP.Reachable && s.State.VIM.Reachable {
				d.res.Sites = append(d.res.Sites, s.ID)
			}
		}
		return len(d.res.Sites) == 2, nil
	}); err != nil {
		return err
	}
	_, err = d.ctl(ctx, "site", "list")
	d.ok("both sites registered, their MEP and VIM reachable")
	return err
}

// samplePackage zips test/testdata/packages/mecapp, its AppD given a maximum latency.
func (d *driver) samplePackage() (string, error) {
	dir := filepath.Join(d.env.Repo, "test", "testdata", "packages", "mecapp")
	var files []string
	if err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			files = append(files, p)
		}
		return err
	}); err != nil {
		return "", err
	}
	sort.Strings(files)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if rel == filepath.Join("Definitions", "mecapp.yaml") {
			// MEC 010-2's LatencyDescriptor counts nanoseconds.
			b = append(b, fmt.Sprintf("appLatency: {maxLatency: %d}\n", maxLatency*1_000_000)...)
		}
		zf, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return "", err
		}
		if _, err := zf.Write(b); err != nil {
			return "", err
		}
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	out := filepath.Join(d.env.Dir, "mecapp.zip")
	return out, os.WriteFile(out, buf.Bytes(), 0o644)
}

func (d *driver) onboard(ctx context.Context) error {
	d.title("The operator onboards the sample app package once")
	d.note("test/testdata/packages/mecapp: AppD with a traffic rule (TCP 192.0.2.10:8080 → local breakout), a DNS rule (%s → 192.0.2.10),", dnsName)
	d.note("the produced service %s, image local/mecapp:dev (test/tools/mecapp, built locally); for the demo appLatency.maxLatency = %d ms", serviceName, maxLatency)
	zipPath, err := d.samplePackage()
	if err != nil {
		return err
	}
	if _, err := d.ctl(ctx, "package", "onboard", "-f", zipPath, "--wait", "--timeout", "2m"); err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	var pkgs []struct {
		ID               string `json:"id"`
		AppDID           string `json:"appDId"`
		OnboardingState  string `json:"onboardingState"`
		OperationalState string `json:"operationalState"`
	}
	if err := d.ctlJSON(ctx, &pkgs, "package", "list"); err != nil {
		return err
	}
	for _, p := range pkgs {
		if p.AppDID == appDID && p.OnboardingState == "ONBOARDED" {
			d.res.PackageID = p.ID
		}
	}
	if d.res.PackageID == "" {
		return fmt.Errorf("no ONBOARDED package of %s: %+v", appDID, pkgs)
	}
	_, err = d.ctl(ctx, "package", "list")
	d.ok("package %s ONBOARDED", d.res.PackageID)
	return err
}

// opOcc is what the flow reads of an op occurrence.
type opOcc struct {
	ID             string `json:"id"`
	OperationState string `json:"operationState"`
	LcmOperation   string `json:"lcmOperation"`
	SiteID         string `json:"siteId"`
	StartTime      struct {
		Seconds     int64 `json:"seconds"`
		NanoSeconds int64 `json:"nanoSeconds"`
	} `json:"startTime"`
	Placement struct {
		Chosen *struct {
			SiteID string `json:"siteId"`
		} `json:"chosen"`
		Rejected []struct {
			SiteID string `json:"siteId"`
			Code   string `json:"code"`
			Reason string `json:"reason"`
		} `json:"rejected"`
	} `json:"placement"`
}

func (d *driver) create(ctx context.Context, name string) (string, error) {
	var inst struct {
		ID string `json:"id"`
	}
	fmt.Fprintf(d.w, "   $ mecctl app create --appd-id %s --name %s\n", appDID, name)
	if err := d.ctlJSON(ctx, &inst, "app", "create", "--appd-id", appDID, "--name", name); err != nil {
		return "", err
	}
	if inst.ID == "" {
		return "", fmt.Errorf("app create %s: no id", name)
	}
	_, err := d.ctl(ctx, "app", "get", inst.ID)
	return inst.ID, err
}

// lastOp is the instance's latest op occurrence.
func (d *driver) lastOp(ctx context.Context, id string) (opOcc, error) {
	var ops []opOcc
	if err := d.ctlJSON(ctx, &ops, "opocc", "list", "--app", id); err != nil {
		return opOcc{}, err
	}
	if len(ops) == 0 {
		return opOcc{}, fmt.Errorf("no op occurrence for %s", id)
	}
	last := ops[0]
	for _, o := range ops[1:] {
		if o.StartTime.Seconds*1e9+o.StartTime.NanoSeconds > last.StartTime.Seconds*1e9+last.StartTime.NanoSeconds {
			last = o
		}
	}
	var op opOcc
	err := d.ctlJSON(ctx, &op, "opocc", "get", last.ID)
	return op, err
}

func (d *driver) instanceOf(op opOcc, id string) Instance {
	in := Instance{ID: id, OpOccID: op.ID, Site: op.SiteID, State: op.OperationState, Rejected: map[string]string{}}
	for _, r := range op.Placement.Rejected {
		in.Rejected[r.SiteID] = r.Code + ": " + r.Reason
	}
	return in
}

func (d *driver) first(ctx context.Context) error {
	d.title("Create and instantiate: TAC 00a1, within the app's 10 ms — the MEO places it")
	id, err := d.create(ctx, "web-1")
	if err != nil {
		return err
	}
	if d.env.Site1Mode == ModeKwok {
		d.play(ctx, d.site1, id)
	}
	if _, err := d.ctl(ctx, "app", "instantiate", id, "--tac", "00a1", "--watch", "--timeout", "4m"); err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	op, err := d.lastOp(ctx, id)
	if err != nil {
		return err
	}
	d.res.First = d.instanceOf(op, id)
	if op.OperationState != "COMPLETED" || op.SiteID != "site-1" {
		return fmt.Errorf("instantiate %s: op occurrence %s on %q; want COMPLETED on site-1", id, op.OperationState, op.SiteID)
	}
	d.ok("INSTANTIATE COMPLETED on site-1; site-2 rejected: %s", d.res.First.Rejected["site-2"])
	_, err = d.ctl(ctx, "app", "get", id, "-o", "wide")
	return err
}

// checkApp checks the first instance on site-1: the container runs and answers, it took its
// token and confirmed ready, its service is on Mp1, its DNS name resolves.
func (d *driver) checkApp(ctx context.Context) error {
	id := d.res.First.ID
	d.title("On site-1: the container, its MEP, the site DNS")
	st, err := d.site1.adapter.Status(ctx, id)
	if err != nil {
		return fmt.Errorf("site-1's VIM: %w", err)
	}
	if st.Phase != vim.PhaseRunning {
		return fmt.Errorf("site-1's VIM: %s is %s; want Running", id, st.Phase)
	}
	if len(st.Nodes) > 0 {
		d.res.Node = st.Nodes[0]
	}
	for _, e := range st.Endpoints {
		if e.Kind == "Pod" {
			d.res.Pod = e.Address
		}
	}
	if _, err := d.site2.adapter.Status(ctx, id); !errors.Is(err, vim.ErrNotFound) {
		return fmt.Errorf("site-2's VIM has %s too (%w)", id, err)
	}
	d.ok("site-1's Kubernetes: Running on node %s, pod %s (nothing on site-2)", d.res.Node, d.res.Pod)
	if d.env.RealApp() {
		if d.res.Node != d.env.Site1Node {
			return fmt.Errorf("running on %q; want the real node %s", d.res.Node, d.env.Site1Node)
		}
		if err := getJSON(ctx, "http://"+d.res.Pod+":8080/status", &d.res.App); err != nil {
			return fmt.Errorf("the app's /status: %w", err)
		}
		b, _ := json.Marshal(d.res.App)
		d.note("$ curl http://%s:8080/status\n     %s", d.res.Pod, b)
		if !d.res.App.ReadyConfirmed || d.res.App.AppInstanceID != id || d.res.App.ServiceID == "" {
			return fmt.Errorf("app status %+v; want ready confirmed by instance %s with a service", d.res.App, id)
		}
		ans, err := getText(ctx, "http://"+d.res.Pod+":8080/")
		if err != nil {
			return err
		}
		d.res.Answer = strings.TrimSpace(ans)
		d.ok("the app took its Mp1 token, confirmed ready by itself and answers: %q", d.res.Answer)
	}
	var apps []struct {
		AppInstanceID string `json:"appInstanceId"`
		State         string `json:"state"`
	}
	if _, err := d.ctl(ctx, "site", "apps", "site-1"); err != nil {
		return err
	}
	if err := d.ctlJSON(ctx, &apps, "site", "apps", "site-1"); err != nil {
		return err
	}
	if len(apps) != 1 || apps[0].AppInstanceID != id || apps[0].State != "READY" {
		return fmt.Errorf("site-1's MEP holds %+v; want %s READY", apps, id)
	}
	d.ok("site-1's MEP: %s READY", id)

	if d.env.RealApp() {
		var svcs []struct {
			SerInstanceID string `json:"serInstanceId"`
			SerName       string `json:"serName"`
			State         string `json:"state"`
		}
		if _, err := d.ctl(ctx, "site", "services", "site-1", "--name", serviceName); err != nil {
			return err
		}
		if err := d.ctlJSON(ctx, &svcs, "site", "services", "site-1", "--name", serviceName); err != nil {
			return err
		}
		if len(svcs) != 1 || svcs[0].SerInstanceID != d.res.App.ServiceID || svcs[0].State != "ACTIVE" {
			return fmt.Errorf("Mp1 lists %+v; want the app's ACTIVE service %s", svcs, d.res.App.ServiceID)
		}
		d.res.ServiceID = svcs[0].SerInstanceID
		d.ok("service %s discoverable on Mp1, registered by the app itself (%s)", serviceName, d.res.ServiceID)
	}

	if _, err := d.ctl(ctx, "site", "dns", "site-1"); err != nil {
		return err
	}
	if err := until(ctx, 10*time.Second, "the site DNS answer", func() (bool, error) {
		var err error
		d.res.DNS, err = resolve(d.env.Site1DNS, dnsName)
		return len(d.res.DNS) > 0, err
	}); err != nil {
		return err
	}
	d.note("$ dig @%s %s A  →  %v", d.env.Site1DNS, dnsName, d.res.DNS)
	if len(d.res.DNS) != 1 || d.res.DNS[0] != serviceIP.String() {
		return fmt.Errorf("site DNS answers %v; want [%s]", d.res.DNS, serviceIP)
	}
	d.ok("%s resolves to the app's service address %s at site-1's DNS", dnsName, serviceIP)
	return nil
}

// checkN3 sends a UE's packets through the UPGW: to the app (broken out, the reply in the
// tunnel) and to the internet (to the UPF untouched), with the UPGW's trace running.
func (d *driver) checkN3(ctx context.Context) error {
	d.title("On site-1's N3 path: a UE's packets through the UPGW")
	if d.env.Site1UPGW == "" {
		d.note("left out: the network namespaces and the UPGW's XDP data plane need root")
		return nil
	}
	if err := until(ctx, 20*time.Second, "the UPGW to enforce the app's traffic rule", func() (bool, error) {
		var st struct {
			ActiveRules int `json:"activeRules"`
		}
		err := d.ctlJSON(ctx, &st, "site", "upgw", "site-1")
		return st.ActiveRules == 1, err
	}); err != nil {
		return err
	}
	if _, err := d.ctl(ctx, "site", "upgw", "rules", "site-1"); err != nil {
		return err
	}
	if d.env.RealApp() {
		// The app network maps the service address to the pod (its namespace's NAT).
		if err := d.netnsRun("app", "iptables", "-t", "nat", "-A", "PREROUTING", "-d", serviceIP.String(), "-p", "tcp", "--dport", "8080",
			"-j", "DNAT", "--to-destination", d.res.Pod+":8080"); err != nil {
			return err
		}
		d.note("the app network's NAT maps %s:8080 to the pod %s:8080", serviceIP, d.res.Pod)
	}
	n, err := openN3(d.env.Prefix)
	if err != nil {
		return err
	}
	defer n.close()
	var trace bytes.Buffer
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tcmd := exec.CommandContext(tctx, d.env.Mecctl, "--config", d.env.MecctlConfig, "site", "upgw", "trace", "site-1", "--ue", ueAddr.String(), "--duration", "8s")
	tcmd.Stdout, tcmd.Stderr = &trace, &trace
	if err := tcmd.Start(); err != nil {
		return err
	}
	time.Sleep(3 * time.Second) // the trace is attached
	r := &BreakoutResult{}
	d.res.Breakout = r
	if err := n.learnDownlink(); err != nil {
		return fmt.Errorf("downlink G-PDU: %w", err)
	}
	d.note("the UPF sent a downlink G-PDU (TEID 0x%x) to the gNB: the UPGW learned the UE's tunnel", dlTEID)
	if r.UPFUntouched, err = n.toUPF(udp4(ueAddr, internetIP, 40000, 443, []byte("to the internet"))); err != nil {
		return err
	}
	d.note("UE %s → %s:443 (UDP, no rule matches): reached the UPF, byte for byte as sent: %v", ueAddr, internetIP, r.UPFUntouched)
	if err := n.breakout(r); err != nil {
		return err
	}
	d.note("UE %s → %s:8080 (TCP SYN in TEID 0x%x): the app network received %s (decapsulated: %v)", ueAddr, serviceIP, ulTEID, r.AtApp, r.Decapsulated)
	d.note("back at the gNB in TEID 0x%x: %s", r.ReplyTEID, r.Reply)
	_ = tcmd.Wait()
	d.res.Trace = trace.String()
	d.note("$ mecctl site upgw trace site-1 --ue %s --duration 8s", ueAddr)
	for _, l := range strings.Split(strings.TrimRight(d.res.Trace, "\n"), "\n") {
		d.note("  %s", l)
	}
	if !r.UPFUntouched || !r.Decapsulated || r.ReplyTEID != dlTEID || !strings.Contains(r.Reply, "SYN-ACK") {
		return fmt.Errorf("N3: %+v; want the internet packet untouched at the UPF, the SYN decapsulated at the app and its SYN-ACK in TEID 0x%x", r, dlTEID)
	}
	d.ok("broken out to the app, the reply in the UE's tunnel; other traffic to the UPF untouched")
	_, err = d.ctl(ctx, "site", "upgw", "counters", "site-1", "--paths")
	return err
}

func (d *driver) netnsRun(ns string, args ...string) error {
	out, err := exec.Command("ip", append([]string{"netns", "exec", d.env.Prefix + "-" + ns}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s in %s: %w: %s", strings.Join(args, " "), ns, err, out)
	}
	return nil
}

// second instantiates a second instance, placed on site-2, and kills the MEO replica running
// the operation while it waits for the app; the other replica finishes it.
func (d *driver) second(ctx context.Context) error {
	d.title("A second instance: TAC 00b2, country FR — and a MEO replica killed mid-operation")
	id, err := d.create(ctx, "web-2")
	if err != nil {
		return err
	}
	if _, err := d.ctl(ctx, "app", "instantiate", id, "--tac", "00b2", "--country", "FR"); err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	var op opOcc
	if err := until(ctx, 60*time.Second, "the instantiation to reach site-2", func() (bool, error) {
		var err error
		op, err = d.lastOp(ctx, id)
		return op.OperationState == "PROCESSING" && op.SiteID == "site-2", err
	}); err != nil {
		return err
	}
	// The app is not played yet: the operation waits for its confirm_ready.
	claimer := d.claimer(op.ID, 0)
	if claimer == 0 {
		return fmt.Errorf("no MEO replica logged the claim of %s", op.ID)
	}
	d.note("op occurrence %s is PROCESSING on site-2, run by MEO replica %d (waiting for the app to confirm ready)", op.ID, claimer)
	if err := d.kill(claimer); err != nil {
		return err
	}
	d.res.Killed = claimer
	other := 3 - claimer
	d.meo = d.env.MEO[other-1]
	d.note("killed MEO replica %d (SIGKILL); mecctl now talks to replica %d (%s)", claimer, other, d.meo)
	d.play(ctx, d.site2, id)
	seen := ""
	if err := until(ctx, 60*time.Second, "the other replica to finish the instantiation", func() (bool, error) {
		var err error
		op, err = d.lastOp(ctx, id)
		if err == nil && op.OperationState != seen {
			seen = op.OperationState
			d.note("opocc/%s %s", op.ID, seen)
		}
		return op.OperationState == "COMPLETED", err
	}); err != nil {
		return err
	}
	d.res.Finisher = d.claimer(op.ID, claimer)
	d.res.Second = d.instanceOf(op, id)
	if d.res.Finisher != other || op.SiteID != "site-2" {
		return fmt.Errorf("op %s finished by replica %d on %s; want replica %d on site-2", op.ID, d.res.Finisher, op.SiteID, other)
	}
	if _, err := d.ctl(ctx, "opocc", "get", op.ID, "-o", "wide"); err != nil {
		return err
	}
	if st, err := d.site2.adapter.Status(ctx, id); err != nil || st.Phase != vim.PhaseRunning {
		return fmt.Errorf("site-2's VIM: %v %w; want Running", st.Phase, err)
	}
	d.ok("COMPLETED on site-2 by MEO replica %d after replica %d died; site-1 rejected: %s", other, claimer, d.res.Second.Rejected["site-1"])
	return d.restart(ctx, claimer)
}

// claimer is the MEO replica (not skip) whose log shows it claimed op occurrence id, or 0.
func (d *driver) claimer(id string, skip int) int {
	for n := 1; n <= 2; n++ {
		if n == skip {
			continue
		}
		f, err := os.Open(filepath.Join(d.env.Dir, "logs", fmt.Sprintf("meo-%d.log", n)))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		found := false
		for sc.Scan() {
			if l := sc.Text(); strings.Contains(l, "op occurrence claimed") && strings.Contains(l, id) {
				found = true
			}
		}
		f.Close()
		if found {
			return n
		}
	}
	return 0
}

// kill kills MEO replica n by the PID demo.sh recorded.
func (d *driver) kill(n int) error {
	pf := filepath.Join(d.env.Dir, "pids", fmt.Sprintf("meo-%d.pid", n))
	b, err := os.ReadFile(pf)
	if err != nil {
		return err
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		return fmt.Errorf("%s: %w", pf, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill meo-%d (pid %d): %w", n, pid, err)
	}
	return os.Remove(pf)
}

// play confirms the instance ready on its MEP whenever it runs on the site, as the sample
// app would: kwok nodes run no containers.
func (d *driver) play(ctx context.Context, k *kube, id string) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	d.stopPlay = append(d.stopPlay, func() { cancel(); wg.Wait() })
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if st, err := k.adapter.Status(ctx, id); err == nil && st.Phase == vim.PhaseRunning {
				sec, err := k.clients.Kube.CoreV1().Secrets(k.adapter.Namespace(id)).Get(ctx, kubernetes.Mp1SecretName, metav1.GetOptions{})
				if err == nil {
					_ = meptest.ConfirmReady(ctx, vim.MEPAccess{Endpoint: string(sec.Data[kubernetes.EnvMEPEndpoint]),
						ClientID: string(sec.Data[kubernetes.EnvClientID]), ClientSecret: string(sec.Data[kubernetes.EnvClientSecret])}, id)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
}

func (d *driver) stopPlaying() {
	for _, s := range d.stopPlay {
		s()
	}
	d.stopPlay = nil
}

// terminate terminates both instances gracefully and deletes them, then looks for anything
// left of them on the VIMs, the MEPs, the DNS and the UPGW.
func (d *driver) terminate(ctx context.Context) error {
	d.title("Terminate (graceful: the app is notified over Mp1 and confirms) and delete")
	id := d.res.First.ID
	// The app's own account, polled while the MEO terminates it (its pod then goes away).
	var mu sync.Mutex
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if d.env.RealApp() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pctx.Err() == nil {
				var s AppStatus
				if getJSON(pctx, "http://"+d.res.Pod+":8080/status", &s) == nil {
					mu.Lock()
					d.res.Termination = s
					mu.Unlock()
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	_, err := d.ctl(ctx, "app", "terminate", id, "--graceful-timeout", "10s", "--watch", "--timeout", "3m")
	stop()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("terminate: %w", err)
	}
	if d.env.RealApp() {
		t := d.res.Termination
		d.note("the app's account: terminationNotified=%v terminationConfirmed=%v", t.TerminationNotified, t.TerminationConfirmed)
		if !t.TerminationNotified || !t.TerminationConfirmed {
			return fmt.Errorf("app status %+v; want the termination notified and confirmed", t)
		}
		d.ok("the app was notified through Mp1 and confirmed its termination")
	}
	if _, err := d.ctl(ctx, "app", "terminate", d.res.Second.ID, "--graceful-timeout", "5s", "--wait", "--timeout", "3m"); err != nil {
		return fmt.Errorf("terminate %s: %w", d.res.Second.ID, err)
	}
	for _, i := range []string{id, d.res.Second.ID} {
		if _, err := d.ctl(ctx, "app", "delete", i); err != nil {
			return fmt.Errorf("delete %s: %w", i, err)
		}
	}
	if _, err := d.ctl(ctx, "app", "list"); err != nil {
		return err
	}
	d.note("what is left of the instances:")
	return d.leftovers(ctx)
}

func (d *driver) leftovers(ctx context.Context) error {
	var left []string
	check := func(what string, gone func() (bool, error)) {
		if err := until(ctx, 30*time.Second, what, gone); err != nil {
			left = append(left, err.Error())
			d.note("\033[31m✗\033[0m %s: %v", what, err)
			return
		}
		d.ok("%s: nothing", what)
	}
	for _, in := range []struct {
		id   string
		k    *kube
		site string
	}{{d.res.First.ID, d.site1, "site-1"}, {d.res.Second.ID, d.site2, "site-2"}} {
		check(in.site+"'s VIM (workload, namespace)", func() (bool, error) {
			_, err := in.k.adapter.Status(ctx, in.id)
			if !errors.Is(err, vim.ErrNotFound) {
				return false, err
			}
			_, err = in.k.clients.Kube.CoreV1().Namespaces().Get(ctx, in.k.adapter.Namespace(in.id), metav1.GetOptions{})
			return err != nil, nil
		})
		check(in.site+"'s MEP (app instances, services)", func() (bool, error) {
			var apps, svcs []json.RawMessage
			if err := d.ctlJSON(ctx, &apps, "site", "apps", in.site); err != nil {
				return false, err
			}
			if err := d.ctlJSON(ctx, &svcs, "site", "services", in.site, "--name", serviceName); err != nil {
				return false, err
			}
			return len(apps) == 0 && len(svcs) == 0, nil
		})
	}
	check("site-1's DNS ("+dnsName+")", func() (bool, error) {
		a, err := resolve(d.env.Site1DNS, dnsName)
		return len(a) == 0, err
	})
	if d.env.Site1UPGW != "" {
		check("site-1's UPGW (active rules)", func() (bool, error) {
			var st struct {
				ActiveRules int `json:"activeRules"`
			}
			err := d.ctlJSON(ctx, &st, "site", "upgw", "site-1")
			return st.ActiveRules == 0, err
		})
		n, err := openN3(d.env.Prefix)
		if err != nil {
			return err
		}
		defer n.close()
		ok, err := n.toUPF(tcpSYN(ueAddr, serviceIP, ueTCPPort+1, svcTCP, 0x2000))
		if err != nil || !ok {
			left = append(left, fmt.Sprintf("the UE's SYN to %s after terminate did not reach the UPF untouched (%v)", serviceIP, err))
		} else {
			d.res.Breakout.AfterTerminate = true
			d.ok("the UE's SYN to %s:8080 now goes to the UPF, untouched", serviceIP)
		}
	}
	check("site-1's NEF (traffic influence subscriptions)", func() (bool, error) {
		subs, err := d.nefSubscriptions(ctx)
		return len(subs) == 0, err
	})
	if d.res.Steering != nil && len(left) == 0 {
		d.res.Steering.AfterTerminate = true
	}
	for _, id := range []string{d.res.First.ID, d.res.Second.ID} {
		if _, _, err := d.mecctl(ctx, "app", "get", id); exitCode(err) != 3 {
			left = append(left, fmt.Sprintf("mecctl app get %s: exit %d; want 3 (not found)", id, exitCode(err)))
		}
	}
	d.res.Leftovers = left
	if len(left) > 0 {
		return fmt.Errorf("left after terminate and delete: %s", strings.Join(left, "; "))
	}
	return nil
}

func (d *driver) summary(context.Context) error {
	d.title("Summary")
	r := d.res
	d.note("sites:        site-1 (%s, Munich, TAC 00a1 at 4 ms), site-2 (k3s, kwok nodes, Toulouse, TAC 00a1 at 14 ms, 00b2 at 5 ms)", site1Kind(d.env))
	d.note("package:      %s (appDId %s)", r.PackageID, appDID)
	d.note("instance 1:   %s → %s (%s); site-2 rejected: %s", r.First.ID, r.First.Site, r.First.State, r.First.Rejected["site-2"])
	d.note("instance 2:   %s → %s (%s); site-1 rejected: %s", r.Second.ID, r.Second.Site, r.Second.State, r.Second.Rejected["site-1"])
	if d.env.RealApp() {
		d.note("container:    pod %s on %s, ready confirmed by the app, service %s on Mp1", r.Pod, r.Node, r.ServiceID)
	}
	d.note("site DNS:     %s → %v", dnsName, r.DNS)
	if r.Breakout != nil {
		d.note("N3 / UPGW:    SYN broken out (%s), reply in TEID 0x%x (%s), internet traffic to the UPF untouched", r.Breakout.AtApp, r.Breakout.ReplyTEID, r.Breakout.Reply)
	} else {
		d.note("N3 / UPGW:    left out (needs root)")
	}
	if r.Steering != nil {
		d.note("5G:           the MEO's subscription %s at site-1's NEF routes the app's traffic to %s; UP path change recorded: %s", r.Steering.SubscriptionID, r.Steering.NEFRoute, r.Steering.PathChange)
	}
	if r.Operate != nil {
		d.note("operate:      stopped (%v) and started again (%v), pod %s → %s", r.Operate.Stopped, r.Operate.Started, r.Operate.PodBefore, r.Operate.PodAfter)
	}
	d.note("MEO replicas: replica %d killed mid-instantiation, replica %d finished it, replica %d started again: both serve", r.Killed, r.Finisher, r.Restarted)
	d.note("terminate:    notified and confirmed by the app: %v; nothing left on VIM, MEP, DNS, UPGW, NEF", r.Termination.TerminationConfirmed)
	if d.env.RootOnly != "" {
		d.note("without root: left out %s (run as root for them)", d.env.RootOnly)
	}
	d.note("")
	d.note("MEO:          %s and %s (two replicas), operator token in %s/tokens/meo.token", d.env.MEO[0], d.env.MEO[1], d.env.Dir)
	d.note("NEF:          %s (admin %s), the MEO's client secret in %s/tokens/nef-client.token", d.env.NEF, d.env.NEFAdmin, d.env.Dir)
	d.note("MEPs:         site-1 %s (DNS %s), site-2 %s (DNS %s); tokens in %s/tokens/", d.env.Site1MEP, d.env.Site1DNS, d.env.Site2MEP, d.env.Site2DNS, d.env.Dir)
	if d.env.Site1UPGW != "" {
		d.note("UPGW:         %s/upgw/v1/status (token: site-1's); it reads site-1's rule feed with the MEP's read-only feed token", d.env.Site1UPGW)
	}
	d.note("PostgreSQL:   %s", d.env.PGDSN)
	d.note("by hand:      %s --config %s --meo %s site list   (app list, opocc list, site apps site-1, ...)", d.env.Mecctl, d.env.MecctlConfig, d.meo)
	d.note("logs:         %s/logs/", d.env.Dir)
	d.note("stop:         make demo-down")
	d.note("took %v", time.Since(d.t0).Round(time.Second))
	return nil
}

func site1Kind(e Env) string {
	if e.RealApp() {
		return "Kubernetes + real node " + e.Site1Node
	}
	return "Kubernetes, kwok nodes"
}

func orNone(s string) string {
	if s == "" {
		return "none (needs root)"
	}
	return s
}

func getJSON(ctx context.Context, url string, v any) error {
	s, err := getText(ctx, url)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(s), v)
}

func getText(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: HTTP %d %s", url, res.StatusCode, b)
	}
	return string(b), err
}

// resolve asks a DNS server for name's A records.
func resolve(server, name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	c := dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out, nil
}
