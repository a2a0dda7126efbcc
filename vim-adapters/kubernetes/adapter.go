package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

var _ vim.VIM = (*Adapter)(nil)

// Config configures an Adapter for one site.
type Config struct {
	// Site names the site, for logs.
	Site string
	// Clients returns the site's API clients. Required.
	Clients ClientsFunc
	// Flavor adapts to a distribution. Zero value: DefaultFlavor().
	Flavor Flavor
	// NamespacePrefix prefixes the instance id to name its namespace. Default "mec-".
	NamespacePrefix string
	// FieldManager is the server-side apply field manager. Default "edgemec".
	FieldManager string
	// Logger receives the adapter's logs. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Clients == nil {
		errs = append(errs, errors.New("kubernetes adapter: Clients is required"))
	}
	if len(c.NamespacePrefix) > 20 {
		errs = append(errs, errors.New("kubernetes adapter: NamespacePrefix longer than 20 characters"))
	}
	return errors.Join(errs...)
}

// Adapter is the Kubernetes VIM adapter for one site.
type Adapter struct {
	site    string
	clients ClientsFunc
	flavor  Flavor
	prefix  string
	manager string
	log     *slog.Logger

	versionOnce sync.Once
	version     string
}

// New returns an Adapter for cfg.
func New(cfg Config) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Adapter{site: cfg.Site, clients: cfg.Clients, flavor: cfg.Flavor, prefix: cfg.NamespacePrefix,
		manager: cfg.FieldManager, log: cfg.Logger}
	if a.flavor.Kind == "" {
		d := DefaultFlavor()
		if a.flavor.NodeGroupLabel == "" {
			a.flavor.NodeGroupLabel = d.NodeGroupLabel
		}
		a.flavor.Kind = d.Kind
	}
	if a.flavor.ClassifyNode == nil {
		a.flavor.ClassifyNode = ClassifyNode
	}
	if a.prefix == "" {
		a.prefix = "mec-"
	}
	if a.manager == "" {
		a.manager = "edgemec"
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With(logkeys.Site, cfg.Site, logkeys.Kind, string(a.flavor.Kind))
	return a, nil
}

// Namespace returns the namespace of an app instance.
func (a *Adapter) Namespace(appInstanceID string) string { return a.prefix + appInstanceID }

func (a *Adapter) get(ctx context.Context, op, id string) (*Clients, error) {
	c, err := a.clients(ctx)
	if err != nil {
		return nil, &vim.Error{Op: op, AppInstanceID: id, Err: vim.ErrUnavailable, Detail: "site " + a.site + " clients", Cause: err}
	}
	return c, nil
}

func (a *Adapter) kubeVersion(c *Clients) string {
	a.versionOnce.Do(func() {
		if v, err := c.Kube.Discovery().ServerVersion(); err == nil {
			a.version = v.GitVersion
		}
	})
	return a.version
}

// Deploy implements vim.VIM. It applies the instance's namespace, its Mp1 Secret and its
// rendered objects by server-side apply (force, one field manager), so it converges when
// called again with the same request, and updates the workload when called with a new one.
func (a *Adapter) Deploy(ctx context.Context, req vim.DeployRequest) error {
	const op = "deploy"
	if err := req.Validate(); err != nil {
		return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: err}
	}
	ns := a.Namespace(req.AppInstanceID)
	if len(ns) > 63 {
		return vim.Errorf(op, req.AppInstanceID, vim.ErrInvalid, "namespace %q longer than 63 characters", ns)
	}
	c, err := a.get(ctx, op, req.AppInstanceID)
	if err != nil {
		return err
	}
	objs, err := render(&req, ns, a.kubeVersion(c))
	if err != nil {
		return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: vim.ErrInvalid, Detail: "render artefacts", Cause: err}
	}
	// 1. Map every object to its resource first: reject what the site does not serve and
	// cluster-scoped objects (an app owns its namespace and nothing outside it) before
	// changing anything.
	type item struct {
		u   *unstructured.Unstructured
		gvr schema.GroupVersionResource
	}
	items := make([]item, 0, len(objs))
	var applied []string
	for _, u := range objs {
		m, err := a.mapping(c, u.GroupVersionKind())
		if err != nil {
			return wrap(op, req.AppInstanceID, err, "map "+u.GetKind())
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			return vim.Errorf(op, req.AppInstanceID, vim.ErrInvalid, "%s %s is cluster-scoped; an app may only create namespaced objects", u.GetKind(), u.GetName())
		}
		if err := a.prepare(&req, ns, u); err != nil {
			return &vim.Error{Op: op, AppInstanceID: req.AppInstanceID, Err: vim.ErrInvalid, Detail: "prepare " + u.GetKind(), Cause: err}
		}
		items = append(items, item{u, m.Resource})
		applied = append(applied, appliedKey(m.Resource, u.GetName()))
	}
	// 2. The namespace, labelled with the instance and AppD ids; one someone else made is
	// not taken over.
	cur, err := namespaceOf(ctx, c, op, ns, req.AppInstanceID)
	if err != nil {
		return err
	}
	// The namespace lists what was applied: until the new objects are in place, the old and
	// the new ones, so that a deploy that fails half way still prunes both next time.
	var before []string
	if cur != nil {
		before = parseApplied(cur.Annotations[AnnotApplied])
	}
	nsObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace"}}
	nsObj.SetName(ns)
	nsObj.SetLabels(InstanceLabels(&req))
	nsObj.SetAnnotations(map[string]string{AnnotAppD: req.AppDID, AnnotAppName: req.AppName,
		AnnotApplied: encodeApplied(slices.Concat(before, applied))})
	nsRes := c.Dynamic.Resource(corev1.SchemeGroupVersion.WithResource("namespaces"))
	if err := a.apply(ctx, nsRes, nsObj, a.manager); err != nil {
		return wrap(op, req.AppInstanceID, err, "apply namespace "+ns)
	}
	// 3. The Mp1 Secret the containers read their MEP access from.
	sec := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"stringData": map[string]any{
			EnvMEPEndpoint: req.MEP.Endpoint, EnvInstanceID: req.AppInstanceID, EnvAppDID: req.AppDID,
			EnvClientID: req.MEP.ClientID, EnvClientSecret: req.MEP.ClientSecret,
		}}}
	sec.SetName(Mp1SecretName)
	sec.SetNamespace(ns)
	sec.SetLabels(InstanceLabels(&req))
	secRes := c.Dynamic.Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(ns)
	if err := a.apply(ctx, secRes, sec, a.manager); err != nil {
		return wrap(op, req.AppInstanceID, err, "apply secret "+Mp1SecretName)
	}
	// 4. The namespace's default ServiceAccount. Pod admission refuses every pod of a new
	// namespace until the service-account controller has created it, and the workload
	// controllers then retry with exponential backoff: on a busy control plane that cost
	// seconds to tens of seconds per instance. Applying it here (unless the artefacts bring
	// their own) lets the first pod in. It is not recorded as applied, so it is never pruned.
	ownSA := slices.ContainsFunc(items, func(it item) bool {
		return it.gvr.Group == "" && it.gvr.Resource == "serviceaccounts" && it.u.GetName() == defaultServiceAccount
	})
	if !ownSA {
		sa := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount"}}
		sa.SetName(defaultServiceAccount)
		sa.SetNamespace(ns)
		sa.SetLabels(InstanceLabels(&req))
		saRes := c.Dynamic.Resource(corev1.SchemeGroupVersion.WithResource("serviceaccounts")).Namespace(ns)
		if err := a.apply(ctx, saRes, sa, a.manager); err != nil {
			return wrap(op, req.AppInstanceID, err, "apply serviceaccount "+defaultServiceAccount)
		}
	}
	// 5. The app's objects.
	for _, it := range items {
		if err := a.apply(ctx, c.Dynamic.Resource(it.gvr).Namespace(ns), it.u, a.manager); err != nil {
			return wrap(op, req.AppInstanceID, err, fmt.Sprintf("apply %s %s", it.u.GetKind(), it.u.GetName()))
		}
	}
	// 6. Prune what the previous deploy applied and this one did not (a newer package
	// dropped it), then record only this deploy's objects.
	pruned, err := a.prune(ctx, c, ns, req.AppInstanceID, before, applied)
	if err != nil {
		return wrap(op, req.AppInstanceID, err, "prune")
	}
	// (A first deploy, or one applying what the last one did, has nothing more to record.)
	if encodeApplied(slices.Concat(before, applied)) != encodeApplied(applied) {
		nsObj.SetAnnotations(map[string]string{AnnotAppD: req.AppDID, AnnotAppName: req.AppName, AnnotApplied: encodeApplied(applied)})
		if err := a.apply(ctx, nsRes, nsObj, a.manager); err != nil {
			return wrap(op, req.AppInstanceID, err, "apply namespace "+ns)
		}
	}
	if pruned > 0 {
		a.log.InfoContext(ctx, "app instance objects pruned", logkeys.AppInstanceID, req.AppInstanceID, logkeys.Count, pruned)
	}
	a.log.InfoContext(ctx, "app instance deployed", logkeys.AppInstanceID, req.AppInstanceID, logkeys.Name, ns, logkeys.Count, len(items))
	return nil
}

// defaultServiceAccount is the ServiceAccount pods run as when they name none.
const defaultServiceAccount = "default"

func (a *Adapter) mapping(c *Clients, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.Mapper.Reset() // a CRD may have appeared since discovery was cached
		m, err = c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

// Apply server-side applies u (namespaced when u has a namespace) with force as manager, for
// adapters built on this one (kubevirt).
func Apply(ctx context.Context, c *Clients, gvr schema.GroupVersionResource, u *unstructured.Unstructured, manager string) error {
	r := c.Dynamic.Resource(gvr)
	if ns := u.GetNamespace(); ns != "" {
		_, err := r.Namespace(ns).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: manager, Force: true})
		return err
	}
	_, err := r.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: manager, Force: true})
	return err
}

// apply server-side applies u with force as manager.
func (a *Adapter) apply(ctx context.Context, r dynamic.ResourceInterface, u *unstructured.Unstructured, manager string) error {
	_, err := r.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: manager, Force: true})
	return err
}

// Terminate implements vim.VIM: it deletes the instance's namespace (with everything in it)
// in the background. An instance that is already gone succeeds.
func (a *Adapter) Terminate(ctx context.Context, id string) error {
	const op = "terminate"
	if err := vim.ValidateID(id); err != nil {
		return &vim.Error{Op: op, AppInstanceID: id, Err: err}
	}
	c, err := a.get(ctx, op, id)
	if err != nil {
		return err
	}
	ns := a.Namespace(id)
	if err := a.owned(ctx, c, id); err != nil {
		if errors.Is(err, vim.ErrNotFound) {
			return nil
		}
		return err
	}
	bg := metav1.DeletePropagationBackground
	err = c.Kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return wrap(op, id, err, "delete namespace "+ns)
	}
	a.log.InfoContext(ctx, "app instance terminated", logkeys.AppInstanceID, id, logkeys.Name, ns)
	return nil
}

// Stop implements vim.VIM: it scales the instance's Deployments and StatefulSets to zero,
// remembering their replica counts in an annotation, gives its DaemonSets' pods a node
// selector no node matches (StopNodeSelector), saves its bare pods in a Secret
// (StoppedPodsSecret) and deletes them, and marks the namespace stopped. Stopping a stopped
// instance succeeds.
func (a *Adapter) Stop(ctx context.Context, id string) error { return a.scale(ctx, "stop", id, true) }

// Start implements vim.VIM: it restores the replica counts Stop recorded, lets the
// DaemonSets run again and creates the saved bare pods again.
func (a *Adapter) Start(ctx context.Context, id string) error {
	return a.scale(ctx, "start", id, false)
}

// scaleManager owns spec.replicas while an instance is stopped; Deploy's manager takes it back
// with a forced apply.
const scaleManagerSuffix = "-lifecycle"

func (a *Adapter) scale(ctx context.Context, op, id string, stop bool) error {
	if err := vim.ValidateID(id); err != nil {
		return &vim.Error{Op: op, AppInstanceID: id, Err: err}
	}
	c, err := a.get(ctx, op, id)
	if err != nil {
		return err
	}
	if err := a.owned(ctx, c, id); err != nil {
		return err
	}
	ns := a.Namespace(id)
	sel := metav1.ListOptions{LabelSelector: LabelInstance + "=" + id}
	type target struct {
		gvr      schema.GroupVersionResource
		kind     string
		name     string
		replicas int32
		saved    string
	}
	var targets []target
	deps, err := c.Kube.AppsV1().Deployments(ns).List(ctx, sel)
	if err != nil {
		return wrap(op, id, err, "list deployments")
	}
	for _, d := range deps.Items {
		targets = append(targets, target{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "Deployment", d.Name, ptrOr(d.Spec.Replicas, 1), d.Annotations[AnnotReplicas]})
	}
	sts, err := c.Kube.AppsV1().StatefulSets(ns).List(ctx, sel)
	if err != nil {
		return wrap(op, id, err, "list statefulsets")
	}
	for _, s := range sts.Items {
		targets = append(targets, target{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}, "StatefulSet", s.Name, ptrOr(s.Spec.Replicas, 1), s.Annotations[AnnotReplicas]})
	}
	mgr := a.manager + scaleManagerSuffix
	// DaemonSets run no pod while their pods select a node label no node has; bare pods are
	// saved and deleted, and created again by Start.
	dsn, err := a.stopDaemonSets(ctx, c, ns, sel, stop, mgr)
	if err != nil {
		return wrap(op, id, err, "daemonsets")
	}
	var podn int
	if stop {
		podn, err = a.stopPods(ctx, c, ns, sel, map[string]string{LabelInstance: id, LabelManagedBy: ManagedBy})
	} else {
		podn, err = a.startPods(ctx, c, ns)
	}
	if err != nil {
		return wrap(op, id, err, "bare pods")
	}
	for _, t := range targets {
		var replicas int64
		annot := map[string]any{}
		switch {
		case stop && t.saved != "":
			continue // already stopped
		case stop:
			annot[AnnotReplicas] = strconv.Itoa(int(t.replicas))
		case t.saved == "":
			continue // not stopped by us
		default:
			n, err := strconv.ParseInt(t.saved, 10, 32)
			if err != nil {
				n = 1
			}
			replicas = n
		}
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": t.kind,
			"metadata": map[string]any{"name": t.name, "namespace": ns},
			"spec":     map[string]any{"replicas": replicas},
		}}
		if stop {
			_ = unstructured.SetNestedMap(u.Object, annot, "metadata", "annotations")
		}
		// Applying as the lifecycle manager without the annotation on start removes it.
		if err := a.apply(ctx, c.Dynamic.Resource(t.gvr).Namespace(ns), u, mgr); err != nil {
			return wrap(op, id, err, fmt.Sprintf("scale %s %s", t.kind, t.name))
		}
	}
	patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotStopped: nil}}}
	if stop {
		patch = map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotStopped: "true"}}}
	}
	b, _ := json.Marshal(patch)
	if _, err := c.Kube.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, b, metav1.PatchOptions{FieldManager: mgr}); err != nil {
		return wrap(op, id, err, "mark namespace")
	}
	a.log.InfoContext(ctx, "app instance state changed", logkeys.AppInstanceID, id, logkeys.Status, op, logkeys.Count, len(targets)+dsn+podn)
	return nil
}

func ptrOr(p *int32, d int32) int32 {
	if p == nil {
		return d
	}
	return *p
}

// Capabilities implements vim.VIM from the site's nodes.
func (a *Adapter) Capabilities(ctx context.Context) (vim.Capabilities, error) {
	const op = "capabilities"
	c, err := a.get(ctx, op, "")
	if err != nil {
		return vim.Capabilities{}, err
	}
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return vim.Capabilities{}, wrap(op, "", err, "list nodes")
	}
	caps := vim.Capabilities{Kind: a.flavor.Kind, Version: a.kubeVersion(c), StorageClass: a.flavor.StorageClass}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		vn := a.node(n)
		caps.Nodes = append(caps.Nodes, vn)
		if !vn.Ready || !vn.Schedulable {
			continue
		}
		caps.Allocatable.MilliCPU += vn.Allocatable.MilliCPU
		caps.Allocatable.MemoryBytes += vn.Allocatable.MemoryBytes
		caps.Allocatable.Pods += vn.Allocatable.Pods
		if !slices.Contains(caps.Architectures, vn.Arch) {
			caps.Architectures = append(caps.Architectures, vn.Arch)
		}
		if !slices.Contains(caps.NodeKinds, vn.Kind) {
			caps.NodeKinds = append(caps.NodeKinds, vn.Kind)
		}
	}
	slices.Sort(caps.Architectures)
	slices.Sort(caps.NodeKinds)
	if rcs, err := c.Kube.NodeV1().RuntimeClasses().List(ctx, metav1.ListOptions{}); err == nil {
		for _, rc := range rcs.Items {
			caps.RuntimeClasses = append(caps.RuntimeClasses, rc.Name)
		}
	}
	if scs, err := c.Kube.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{}); err == nil {
		for _, sc := range scs.Items {
			if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
				caps.StorageClass = sc.Name
			}
		}
	}
	return caps, nil
}

func (a *Adapter) node(n *corev1.Node) vim.Node {
	arch := n.Labels[LabelArch]
	if arch == "" {
		arch = n.Status.NodeInfo.Architecture
	}
	alloc := n.Status.Allocatable
	return vim.Node{
		Name:        n.Name,
		Kind:        a.flavor.ClassifyNode(n),
		Arch:        arch,
		Ready:       NodeReady(n),
		Schedulable: !n.Spec.Unschedulable,
		Allocatable: vim.Resources{MilliCPU: alloc.Cpu().MilliValue(), MemoryBytes: alloc.Memory().Value(), Pods: alloc.Pods().Value()},
		Group:       n.Labels[a.flavor.NodeGroupLabel],
		Labels:      n.Labels,
	}
}

// NodeReady reports whether a node's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
