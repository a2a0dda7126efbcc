package vimtest

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

var _ vim.VIM = (*Fake)(nil)

// Operation names, as in vim.Error.Op. Faults and Calls use them too.
const (
	OpCapabilities = "capabilities"
	OpDeploy       = "deploy"
	OpStatus       = "status"
	OpStart        = "start"
	OpStop         = "stop"
	OpTerminate    = "terminate"
	OpWatch        = "watch"
)

// Reason codes the Fake reports, taken from the VIMs that use them.
const (
	ReasonImagePull       = "ErrImagePull"      // the image cannot be pulled (Failed)
	ReasonUnschedulable   = "Unschedulable"     // no node fits (Pending)
	ReasonQuota           = "FailedCreate"      // the quota refused it (Pending)
	ReasonCreating        = "ContainerCreating" // placed, not ready yet (Pending)
	ReasonNodeUnreachable = "NodeUnreachable"   // its node is not ready (Unreachable)
	ReasonCrashed         = "Crashed"           // Crash was called (Failed)
)

// Config shapes a Fake. The zero value is a Kubernetes site with DefaultNodes where
// instances run as soon as they are deployed.
type Config struct {
	// Site names the site in error details.
	Site string
	// Kind is what Capabilities reports. Default vim.KindKubernetes. With vim.KindKubeEdge,
	// instances go to edge nodes unless Placement.NodeKind says otherwise, as the kubeedge
	// adapter places them.
	Kind vim.Kind
	// Version is what Capabilities reports. Default "fake".
	Version string
	// Nodes are the site's nodes. Default DefaultNodes(). Instances are placed on the first
	// ready, schedulable node that matches their placement and has room for their compute.
	Nodes []vim.Node
	// RuntimeClasses and StorageClass are reported by Capabilities as given.
	RuntimeClasses []string
	StorageClass   string
	// StartDelay is how long an instance stays Pending after Deploy, Start or a changed
	// Deploy before it is Running. Zero: Running at once (Watch still sees Pending first).
	StartDelay time.Duration
	// TerminateDelay is how long an instance stays Terminating before it is gone. Zero:
	// gone at once (Watch still sees Terminating first).
	TerminateDelay time.Duration
	// Quota caps the sum of the compute of the instances placed on the site, as a
	// Kubernetes ResourceQuota does; zero fields are unlimited. An instance over it stays
	// Pending with a reason matching vim.ErrQuota until room frees up.
	Quota vim.Resources
	// ReserveDeployed makes Capabilities subtract what placed instances request from the
	// allocatable resources. The real adapters report what the nodes offer, not what is
	// left, so it is off by default.
	ReserveDeployed bool
	// ImageMissing reports whether an image cannot be found. Default: images whose
	// registry is in the reserved ".invalid" domain, as on the test bed.
	ImageMissing func(ref string) bool
	// CheckImageOnDeploy makes Deploy fail with vim.ErrImageMissing and create nothing, as
	// the libvirt adapter does. Otherwise a missing image shows in Status (Failed, reason
	// ErrImagePull), as with the Kubernetes family and KubeVirt.
	CheckImageOnDeploy bool
}

// DefaultNodes is the test bed's site A: an amd64 cloud node and an arm64 edge node in node
// group edge-group-a, each with room for a few small apps.
func DefaultNodes() []vim.Node {
	return []vim.Node{
		{Name: "fake-cloud-0", Kind: vim.NodeCloud, Arch: "amd64", Ready: true, Schedulable: true,
			Allocatable: vim.Resources{MilliCPU: 8000, MemoryBytes: 16 << 30, Pods: 110}},
		{Name: "fake-edge-0", Kind: vim.NodeEdge, Arch: "arm64", Ready: true, Schedulable: true, Group: "edge-group-a",
			Allocatable: vim.Resources{MilliCPU: 4000, MemoryBytes: 8 << 30, Pods: 110}},
	}
}

// Fake is an in-memory vim.VIM. It is safe for concurrent use. Besides the interface it has
// methods to change the site under the instances (SetNodeReady, Crash, Vanish, AddForeign,
// SetUnavailable), to inject failures and delays (Inject) and to inspect what it was asked
// (Calls, Count, Instance).
type Fake struct {
	cfg Config

	mu          sync.Mutex
	nodes       []vim.Node
	instances   map[string]*instance
	seq         int64 // creation order, for rescheduling fairly
	foreign     map[string]bool
	unavailable bool
	watchers    map[*watcher]struct{}
	faults      []*Fault
	calls       []Call
}

type instance struct {
	req     vim.DeployRequest
	gen     int64
	seq     int64
	stopped bool
	// terminating is set by Terminate until the instance is removed.
	terminating bool
	// crashed is set by Crash until the next Start, Stop or changed Deploy.
	crashed string
	// node is where the instance is placed; "" when it is not (stopped, pending).
	node    string
	readyAt time.Time
	// epoch invalidates the timers of earlier transitions.
	epoch int64
	st    vim.Status
	sig   string // signature of st, to send Watch events only on change
}

// New returns a Fake for cfg.
func New(cfg Config) *Fake {
	if cfg.Kind == "" {
		cfg.Kind = vim.KindKubernetes
	}
	if cfg.Version == "" {
		cfg.Version = "fake"
	}
	if cfg.Nodes == nil {
		cfg.Nodes = DefaultNodes()
	}
	if cfg.ImageMissing == nil {
		cfg.ImageMissing = invalidDomain
	}
	return &Fake{
		cfg:       cfg,
		nodes:     slices.Clone(cfg.Nodes),
		instances: map[string]*instance{},
		foreign:   map[string]bool{},
		watchers:  map[*watcher]struct{}{},
	}
}

func invalidDomain(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	host, _, _ = strings.Cut(host, ":")
	return strings.HasSuffix(host, ".invalid")
}

// Capabilities implements vim.VIM.
func (f *Fake) Capabilities(ctx context.Context) (caps vim.Capabilities, err error) {
	defer f.record(OpCapabilities, "", nil, &err)
	if err := f.enter(ctx, OpCapabilities, ""); err != nil {
		return vim.Capabilities{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	caps = vim.Capabilities{Kind: f.cfg.Kind, Version: f.cfg.Version, StorageClass: f.cfg.StorageClass,
		RuntimeClasses: slices.Clone(f.cfg.RuntimeClasses), Architectures: []string{}, NodeKinds: []vim.NodeKind{}}
	for _, n := range f.nodes {
		n.Labels = cloneMap(n.Labels)
		if f.cfg.ReserveDeployed {
			n.Allocatable = sub(n.Allocatable, f.usedOn(n.Name, ""))
		}
		caps.Nodes = append(caps.Nodes, n)
		if !n.Ready || !n.Schedulable {
			continue
		}
		caps.Allocatable = add(caps.Allocatable, n.Allocatable)
		if !slices.Contains(caps.Architectures, n.Arch) {
			caps.Architectures = append(caps.Architectures, n.Arch)
		}
		if !slices.Contains(caps.NodeKinds, n.Kind) {
			caps.NodeKinds = append(caps.NodeKinds, n.Kind)
		}
	}
	slices.Sort(caps.Architectures)
	slices.Sort(caps.NodeKinds)
	return caps, nil
}

// Deploy implements vim.VIM. A request equal to the deployed one changes nothing; a
// changed one updates the instance, which goes through Pending again unless it is stopped
// (a stopped instance stays stopped with its new definition). Deploying an instance that is
// terminating is vim.ErrConflict.
func (f *Fake) Deploy(ctx context.Context, req vim.DeployRequest) (err error) {
	id := req.AppInstanceID
	defer f.record(OpDeploy, id, &req, &err)
	if err := req.Validate(); err != nil {
		return &vim.Error{Op: OpDeploy, AppInstanceID: id, Err: err}
	}
	if req.Image.Ref == "" && len(req.Artifacts.Chart) == 0 && len(req.Artifacts.Manifests) == 0 {
		return vim.Errorf(OpDeploy, id, vim.ErrInvalid, "no swImage and no chart or manifests")
	}
	if err := f.enter(ctx, OpDeploy, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.foreign[id] {
		return vim.Errorf(OpDeploy, id, vim.ErrConflict, "%s exists and was not made for this app instance", id)
	}
	if f.cfg.CheckImageOnDeploy && req.Image.Ref != "" && f.cfg.ImageMissing(req.Image.Ref) {
		return vim.Errorf(OpDeploy, id, vim.ErrImageMissing, "swImage %q is not on site %s", req.Image.Ref, f.cfg.Site)
	}
	req = cloneRequest(req)
	in, ok := f.instances[id]
	switch {
	case !ok:
		f.seq++
		in = &instance{req: req, gen: 1, seq: f.seq}
		f.instances[id] = in
		f.begin(id, in)
	case in.terminating:
		return vim.Errorf(OpDeploy, id, vim.ErrConflict, "instance is terminating")
	case reflect.DeepEqual(in.req, req):
		return nil
	default:
		in.req, in.crashed = req, ""
		in.gen++
		if !in.stopped {
			in.node = "" // placed again: the compute may have changed
			f.begin(id, in)
		}
	}
	f.settleAll()
	return nil
}

// begin starts an instance's way to Running: Pending now, Running after StartDelay.
func (f *Fake) begin(id string, in *instance) {
	in.epoch++
	in.readyAt = time.Now().Add(f.cfg.StartDelay)
	f.publish(id, in, pendingStatus(id, in, vim.Reason{Code: ReasonCreating, Object: "instance/" + id}))
	if f.cfg.StartDelay > 0 {
		epoch := in.epoch
		time.AfterFunc(f.cfg.StartDelay, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if cur, ok := f.instances[id]; ok && cur == in && in.epoch == epoch {
				f.settleAll()
			}
		})
	}
}

func pendingStatus(id string, in *instance, r vim.Reason) vim.Status {
	return vim.Status{AppInstanceID: id, Phase: vim.PhasePending, Reasons: []vim.Reason{r}, Desired: 1}
}

// Status implements vim.VIM. An instance the Fake does not know, or a foreign object (see
// AddForeign), is vim.ErrNotFound.
func (f *Fake) Status(ctx context.Context, id string) (st vim.Status, err error) {
	defer f.record(OpStatus, id, nil, &err)
	if err := vim.ValidateID(id); err != nil {
		return vim.Status{}, &vim.Error{Op: OpStatus, AppInstanceID: id, Err: err}
	}
	if err := f.enter(ctx, OpStatus, id); err != nil {
		return vim.Status{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[id]
	if !ok {
		return vim.Status{}, vim.Errorf(OpStatus, id, vim.ErrNotFound, "no app instance %s on site %s", id, f.cfg.Site)
	}
	st = cloneStatus(in.st)
	st.Observed = time.Now()
	return st, nil
}

// Start implements vim.VIM. Starting a running or pending instance changes nothing; a
// stopped or crashed one goes through Pending again.
func (f *Fake) Start(ctx context.Context, id string) (err error) {
	defer f.record(OpStart, id, nil, &err)
	in, err := f.operate(ctx, OpStart, id)
	if err != nil || in == nil {
		return err
	}
	defer f.mu.Unlock()
	if !in.stopped && in.crashed == "" {
		return nil
	}
	in.stopped, in.crashed, in.node = false, "", ""
	f.begin(id, in)
	f.settleAll()
	return nil
}

// Stop implements vim.VIM. The instance keeps its definition and frees its node.
func (f *Fake) Stop(ctx context.Context, id string) (err error) {
	defer f.record(OpStop, id, nil, &err)
	in, err := f.operate(ctx, OpStop, id)
	if err != nil || in == nil {
		return err
	}
	defer f.mu.Unlock()
	if in.stopped {
		return nil
	}
	in.stopped, in.crashed, in.node = true, "", ""
	in.epoch++
	f.settleAll()
	return nil
}

// operate is the common start of Start and Stop: it returns the instance with f.mu held,
// or an error without it.
func (f *Fake) operate(ctx context.Context, op, id string) (*instance, error) {
	if err := vim.ValidateID(id); err != nil {
		return nil, &vim.Error{Op: op, AppInstanceID: id, Err: err}
	}
	if err := f.enter(ctx, op, id); err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.foreign[id] {
		f.mu.Unlock()
		return nil, vim.Errorf(op, id, vim.ErrConflict, "%s exists and was not made for this app instance", id)
	}
	in, ok := f.instances[id]
	if !ok || in.terminating {
		f.mu.Unlock()
		return nil, vim.Errorf(op, id, vim.ErrNotFound, "no app instance %s on site %s", id, f.cfg.Site)
	}
	return in, nil
}

// Terminate implements vim.VIM: the instance is Terminating, then gone after
// TerminateDelay. An instance that is gone or going succeeds; a foreign object is
// vim.ErrConflict and left alone.
func (f *Fake) Terminate(ctx context.Context, id string) (err error) {
	defer f.record(OpTerminate, id, nil, &err)
	if err := vim.ValidateID(id); err != nil {
		return &vim.Error{Op: OpTerminate, AppInstanceID: id, Err: err}
	}
	if err := f.enter(ctx, OpTerminate, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.foreign[id] {
		return vim.Errorf(OpTerminate, id, vim.ErrConflict, "%s was not made for this app instance; left alone", id)
	}
	in, ok := f.instances[id]
	if !ok || in.terminating {
		return nil
	}
	in.terminating, in.node = true, ""
	in.epoch++
	f.publish(id, in, vim.Status{AppInstanceID: id, Phase: vim.PhaseTerminating})
	if f.cfg.TerminateDelay <= 0 {
		f.remove(id)
	} else {
		epoch := in.epoch
		time.AfterFunc(f.cfg.TerminateDelay, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if cur, ok := f.instances[id]; ok && cur == in && in.epoch == epoch {
				f.remove(id)
			}
		})
	}
	f.settleAll()
	return nil
}

// remove deletes an instance and tells the watchers. f.mu is held.
func (f *Fake) remove(id string) {
	delete(f.instances, id)
	f.broadcast(vim.Event{Status: vim.Status{AppInstanceID: id, Observed: time.Now()}, Deleted: true})
	f.settleAll()
}

// settleAll recomputes every instance's status, placing the ones waiting for room in
// creation order, and sends what changed to the watchers. f.mu is held.
func (f *Fake) settleAll() {
	ins := make([]*instance, 0, len(f.instances))
	ids := map[*instance]string{}
	for id, in := range f.instances {
		ins = append(ins, in)
		ids[in] = id
	}
	slices.SortFunc(ins, func(a, b *instance) int { return int(a.seq - b.seq) })
	for _, in := range ins {
		id := ids[in]
		f.publish(id, in, f.compute(id, in))
	}
}

// compute works out an instance's status, placing it if it needs a node. f.mu is held.
func (f *Fake) compute(id string, in *instance) vim.Status {
	st := fakeStatus{AppInstanceID: id, Desired: 1}
	obj := "instance/" + id
	switch {
	case in.terminating:
		st.Phase, st.Desired = vim.PhaseTerminating, 0
		return st.status()
	case in.stopped:
		st.Phase, st.Desired = vim.PhaseStopped, 0
		return st.status()
	case in.crashed != "":
		st.Phase, st.Node = vim.PhaseFailed, in.node
		st.Reasons = []vim.Reason{{Code: ReasonCrashed, Message: in.crashed, Object: obj, Err: vim.ErrFailed}}
		return st.status()
	case in.req.Image.Ref != "" && f.cfg.ImageMissing(in.req.Image.Ref):
		in.node = ""
		st.Phase = vim.PhaseFailed
		st.Reasons = []vim.Reason{{Code: ReasonImagePull, Object: obj, Err: vim.ErrImageMissing,
			Message: fmt.Sprintf("failed to pull image %q: not found", in.req.Image.Ref)}}
		return st.status()
	}
	if in.node == "" {
		if r, ok := f.place(in); !ok {
			st.Phase, st.Reasons = vim.PhasePending, []vim.Reason{r}
			return st.status()
		}
	}
	st.Node = in.node
	switch {
	case !f.nodeReady(in.node):
		st.Phase = vim.PhaseUnreachable
		st.Reasons = []vim.Reason{{Code: ReasonNodeUnreachable, Object: "node/" + in.node,
			Message: "node " + in.node + " is not ready; the app is presumed running"}}
	case time.Now().Before(in.readyAt):
		st.Phase = vim.PhasePending
		st.Reasons = []vim.Reason{{Code: ReasonCreating, Object: obj}}
	default:
		st.Phase, st.Ready = vim.PhaseRunning, 1
	}
	return st.status()
}

// fakeStatus is a vim.Status being built, with the node it is on.
type fakeStatus struct {
	AppInstanceID string
	Phase         vim.Phase
	Reasons       []vim.Reason
	Node          string
	Ready         int
	Desired       int
}

func (s fakeStatus) status() vim.Status {
	return vim.Status{AppInstanceID: s.AppInstanceID, Phase: s.Phase, Reasons: s.Reasons, Ready: s.Ready, Desired: s.Desired,
		Nodes: nodesOf(s.Node)}
}

func nodesOf(n string) []string {
	if n == "" {
		return nil
	}
	return []string{n}
}

// place finds a node for in, or says why there is none. f.mu is held.
func (f *Fake) place(in *instance) (vim.Reason, bool) {
	need := demand(&in.req)
	obj := "instance/" + in.req.AppInstanceID
	if q := f.cfg.Quota; q != (vim.Resources{}) {
		used := add(f.usedOn("", in.req.AppInstanceID), need)
		if q.MilliCPU > 0 && used.MilliCPU > q.MilliCPU || q.MemoryBytes > 0 && used.MemoryBytes > q.MemoryBytes || q.Pods > 0 && used.Pods > q.Pods {
			return vim.Reason{Code: ReasonQuota, Object: obj, Err: vim.ErrQuota,
				Message: fmt.Sprintf("exceeded quota: requested %+v, quota %+v", need, q)}, false
		}
	}
	var noRoom, noMatch int
	for _, n := range f.nodes {
		if !n.Ready || !n.Schedulable || !f.matches(&in.req, &n) {
			noMatch++
			continue
		}
		free := sub(n.Allocatable, f.usedOn(n.Name, in.req.AppInstanceID))
		if need.MilliCPU > free.MilliCPU || need.MemoryBytes > free.MemoryBytes || n.Allocatable.Pods > 0 && need.Pods > free.Pods {
			noRoom++
			continue
		}
		in.node = n.Name
		return vim.Reason{}, true
	}
	return vim.Reason{Code: ReasonUnschedulable, Object: obj, Err: vim.ErrUnschedulable,
		Message: fmt.Sprintf("0/%d nodes are available: %d insufficient resources, %d did not match the placement", len(f.nodes), noRoom, noMatch)}, false
}

// matches reports whether req's placement and architecture allow node n.
func (f *Fake) matches(req *vim.DeployRequest, n *vim.Node) bool {
	p := req.Placement
	kind := p.NodeKind
	if kind == "" && f.cfg.Kind == vim.KindKubeEdge {
		kind = vim.NodeEdge
	}
	switch {
	case kind != "" && n.Kind != kind:
		return false
	case kind == "" && n.Kind == vim.NodeEdge: // edge nodes are tainted; only edge placement tolerates it
		return false
	case p.NodeGroup != "" && n.Group != p.NodeGroup:
		return false
	case req.Compute.CPUArchitecture != "" && normArch(req.Compute.CPUArchitecture) != n.Arch:
		return false
	}
	for k, v := range p.NodeSelector {
		if n.Labels[k] != v {
			return false
		}
	}
	return true
}

func normArch(a string) string {
	switch strings.ToLower(a) {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return strings.ToLower(a)
}

// demand is what one instance of req takes from a node.
func demand(req *vim.DeployRequest) vim.Resources {
	return vim.Resources{
		MilliCPU:    int64(math.Ceil(req.Compute.VirtualCPUs * 1000)),
		MemoryBytes: max(req.Compute.MemoryMiB, req.Image.MinRAMMiB) << 20,
		Pods:        1,
	}
}

// usedOn sums the demand of the instances placed on node ("" for every node), except skip.
// f.mu is held.
func (f *Fake) usedOn(node, skip string) vim.Resources {
	var r vim.Resources
	for id, in := range f.instances {
		if id != skip && in.node != "" && (node == "" || in.node == node) {
			r = add(r, demand(&in.req))
		}
	}
	return r
}

func (f *Fake) nodeReady(name string) bool {
	for _, n := range f.nodes {
		if n.Name == name {
			return n.Ready
		}
	}
	return false
}

func add(a, b vim.Resources) vim.Resources {
	return vim.Resources{MilliCPU: a.MilliCPU + b.MilliCPU, MemoryBytes: a.MemoryBytes + b.MemoryBytes, Pods: a.Pods + b.Pods}
}

func sub(a, b vim.Resources) vim.Resources {
	r := vim.Resources{MilliCPU: a.MilliCPU - b.MilliCPU, MemoryBytes: a.MemoryBytes - b.MemoryBytes}
	if a.Pods > 0 {
		r.Pods = a.Pods - b.Pods
	}
	return r
}

// publish stores st as the instance's status, with endpoints when it runs, and sends it to
// the watchers if it differs from the last one. f.mu is held.
func (f *Fake) publish(id string, in *instance, st vim.Status) {
	if st.Phase == vim.PhaseRunning || st.Phase == vim.PhaseUnreachable {
		st.Endpoints = endpoints(&in.req)
	}
	sig := signature(st)
	if sig == in.sig {
		return
	}
	in.st, in.sig = st, sig
	ev := vim.Event{Status: cloneStatus(st)}
	ev.Status.Observed = time.Now()
	f.broadcast(ev)
}

func signature(st vim.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%d/%d|%v|", st.Phase, st.Ready, st.Desired, st.Nodes)
	for _, r := range st.Reasons {
		b.WriteString(r.Code + "," + r.Message + ";")
	}
	return b.String()
}

// endpoints gives a running instance one Pod endpoint per declared port on an address
// derived from its id (10.244.x.y), so the same instance keeps its address.
func endpoints(req *vim.DeployRequest) []vim.Endpoint {
	h := fnv.New32a()
	h.Write([]byte(req.AppInstanceID))
	s := h.Sum32()
	ip := fmt.Sprintf("10.244.%d.%d", s>>8&0xff, s&0xfd+1)
	if len(req.Artifacts.Ports) == 0 {
		return []vim.Endpoint{{Kind: "Pod", Address: ip}}
	}
	eps := make([]vim.Endpoint, 0, len(req.Artifacts.Ports))
	for _, p := range req.Artifacts.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		eps = append(eps, vim.Endpoint{Name: p.Name, Kind: "Pod", Address: ip, Port: p.Port, Protocol: proto})
	}
	return eps
}

func cloneRequest(r vim.DeployRequest) vim.DeployRequest {
	r.Artifacts.Chart = slices.Clone(r.Artifacts.Chart)
	r.Artifacts.Manifests = slices.Clone(r.Artifacts.Manifests)
	r.Artifacts.Ports = slices.Clone(r.Artifacts.Ports)
	r.Params = cloneMap(r.Params)
	r.Placement.NodeSelector = cloneMap(r.Placement.NodeSelector)
	return r
}

func cloneStatus(s vim.Status) vim.Status {
	s.Reasons = slices.Clone(s.Reasons)
	s.Endpoints = slices.Clone(s.Endpoints)
	s.Nodes = slices.Clone(s.Nodes)
	return s
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
