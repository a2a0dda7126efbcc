package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// failedReasons are container waiting reasons that do not go away on their own.
var failedReasons = []string{"CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}

// snapshot is what the status of one instance is computed from.
type snapshot struct {
	ns    *corev1.Namespace
	deps  []appsv1.Deployment
	sts   []appsv1.StatefulSet
	dss   []appsv1.DaemonSet
	pods  []corev1.Pod
	svcs  []corev1.Service
	nodes map[string]*corev1.Node // nodes the pods run on
}

// Status implements vim.VIM.
func (a *Adapter) Status(ctx context.Context, id string) (vim.Status, error) {
	const op = "status"
	if err := vim.ValidateID(id); err != nil {
		return vim.Status{}, &vim.Error{Op: op, AppInstanceID: id, Err: err}
	}
	c, err := a.get(ctx, op, id)
	if err != nil {
		return vim.Status{}, err
	}
	s, err := a.snapshot(ctx, c, id)
	if err != nil {
		return vim.Status{}, err
	}
	return a.status(id, s), nil
}

func (a *Adapter) snapshot(ctx context.Context, c *Clients, id string) (*snapshot, error) {
	const op = "status"
	nsName := a.Namespace(id)
	ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, nsName, metav1.GetOptions{})
	if err != nil {
		return nil, wrap(op, id, err, "namespace "+nsName)
	}
	if ns.Labels[LabelInstance] != id {
		return nil, vim.Errorf(op, id, vim.ErrNotFound, "namespace %s is not an app instance's", nsName)
	}
	s := &snapshot{ns: ns, nodes: map[string]*corev1.Node{}}
	opts := metav1.ListOptions{}
	deps, err := c.Kube.AppsV1().Deployments(nsName).List(ctx, opts)
	if err != nil {
		return nil, wrap(op, id, err, "list deployments")
	}
	s.deps = deps.Items
	sts, err := c.Kube.AppsV1().StatefulSets(nsName).List(ctx, opts)
	if err != nil {
		return nil, wrap(op, id, err, "list statefulsets")
	}
	s.sts = sts.Items
	dss, err := c.Kube.AppsV1().DaemonSets(nsName).List(ctx, opts)
	if err != nil {
		return nil, wrap(op, id, err, "list daemonsets")
	}
	s.dss = dss.Items
	pods, err := c.Kube.CoreV1().Pods(nsName).List(ctx, opts)
	if err != nil {
		return nil, wrap(op, id, err, "list pods")
	}
	s.pods = pods.Items
	svcs, err := c.Kube.CoreV1().Services(nsName).List(ctx, opts)
	if err != nil {
		return nil, wrap(op, id, err, "list services")
	}
	s.svcs = svcs.Items
	used := map[string]bool{}
	for _, p := range s.pods {
		if p.Spec.NodeName != "" {
			used[p.Spec.NodeName] = true
		}
	}
	if len(used) > 0 {
		nodes, err := c.Kube.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, wrap(op, id, err, "list nodes")
		}
		for i := range nodes.Items {
			if n := &nodes.Items[i]; used[n.Name] {
				s.nodes[n.Name] = n
			}
		}
	}
	return s, nil
}

// status derives the instance's status from a snapshot. The rules, in order:
//  1. namespace being deleted → Terminating;
//  2. a pod whose image cannot be pulled, or that crash-loops → Failed;
//  3. stopped by Stop and no pod left → Stopped;
//  4. all desired replicas ready → Running;
//  5. with offline autonomy, replicas on unreachable nodes count as presumed running, and an
//     instance otherwise complete is Unreachable;
//  6. else Pending, with scheduling, quota and progress reasons.
func (a *Adapter) status(id string, s *snapshot) vim.Status {
	st := vim.Status{AppInstanceID: id, Observed: time.Now()}
	if s.ns.DeletionTimestamp != nil {
		st.Phase = vim.PhaseTerminating
		return st
	}
	stopped := s.ns.Annotations[AnnotStopped] == "true"
	var failed, unreachable []vim.Reason
	var pending []vim.Reason
	presumed := 0 // not-ready pods on unreachable nodes (offline autonomy)
	notObserved := false
	nodes := map[string]bool{}
	for i := range s.pods {
		p := &s.pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		obj := "pod/" + p.Name
		if p.Spec.NodeName != "" {
			nodes[p.Spec.NodeName] = true
		}
		if p.Status.Phase == corev1.PodFailed {
			// A controller replaces its failed pods (evicted under node pressure, killed by
			// a node shutdown), and they can linger in the API long after: its own counts
			// below say whether the workload is short. Only a bare pod's failure is final.
			if metav1.GetControllerOf(p) == nil {
				failed = append(failed, vim.Reason{Code: orStr(p.Status.Reason, "PodFailed"), Message: p.Status.Message, Object: obj, Err: vim.ErrFailed})
			}
			continue
		}
		if n := s.nodes[p.Spec.NodeName]; p.Spec.NodeName != "" && (n == nil || !NodeReady(n)) {
			r := vim.Reason{Code: "NodeUnreachable", Message: fmt.Sprintf("node %s is not ready", p.Spec.NodeName), Object: obj}
			if a.flavor.OfflineAutonomy && p.Status.Phase == corev1.PodRunning {
				r.Message += "; the app is presumed running (offline autonomy)"
				unreachable = append(unreachable, r)
				if !podReady(p) {
					presumed++
				}
			} else {
				pending = append(pending, r)
			}
			continue
		}
		if podReady(p) {
			continue
		}
		for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			w := cs.State.Waiting
			if w == nil {
				continue
			}
			imgErr, image := ImagePullError(w.Reason, w.Message)
			switch {
			case image && imgErr != nil:
				failed = append(failed, vim.Reason{Code: w.Reason, Message: w.Message, Object: obj + "/" + cs.Name, Err: imgErr})
			case image: // a registry that failed for now: the kubelet retries
				pending = append(pending, vim.Reason{Code: w.Reason, Message: w.Message, Object: obj + "/" + cs.Name})
			case slices.Contains(failedReasons, w.Reason):
				failed = append(failed, vim.Reason{Code: w.Reason, Message: w.Message, Object: obj + "/" + cs.Name, Err: vim.ErrFailed})
			case w.Reason != "":
				pending = append(pending, vim.Reason{Code: w.Reason, Message: w.Message, Object: obj + "/" + cs.Name})
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				pending = append(pending, vim.Reason{Code: c.Reason, Message: c.Message, Object: obj, Err: vim.ErrUnschedulable})
			}
		}
	}
	// Workload counts and controller-level reasons (quota, admission).
	workloads := 0
	for _, d := range s.deps {
		workloads++
		want := ptrOr(d.Spec.Replicas, 1)
		st.Desired += int(want)
		st.Ready += int(min(d.Status.ReadyReplicas, want))
		if d.Status.ObservedGeneration < d.Generation {
			notObserved = true
		}
		if d.Status.UpdatedReplicas < want { // a rollout under way: old pods still count as ready
			pending = append(pending, vim.Reason{Code: "RollingOut", Object: "deployment/" + d.Name,
				Message: fmt.Sprintf("%d of %d replicas updated", d.Status.UpdatedReplicas, want)})
			notObserved = true
		}
		for _, c := range d.Status.Conditions {
			switch {
			case c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue:
				pending = append(pending, createFailure(c.Reason, c.Message, "deployment/"+d.Name))
			case c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded":
				failed = append(failed, vim.Reason{Code: c.Reason, Message: c.Message, Object: "deployment/" + d.Name, Err: vim.ErrFailed})
			}
		}
	}
	for _, x := range s.sts {
		workloads++
		want := ptrOr(x.Spec.Replicas, 1)
		st.Desired += int(want)
		st.Ready += int(min(x.Status.ReadyReplicas, want))
		if x.Status.ObservedGeneration < x.Generation {
			notObserved = true
		}
		if x.Status.UpdateRevision != "" && x.Status.UpdateRevision != x.Status.CurrentRevision && x.Status.UpdatedReplicas < want {
			pending = append(pending, vim.Reason{Code: "RollingOut", Object: "statefulset/" + x.Name,
				Message: fmt.Sprintf("%d of %d replicas updated", x.Status.UpdatedReplicas, want)})
			notObserved = true
		}
	}
	for _, x := range s.dss {
		workloads++
		st.Desired += int(x.Status.DesiredNumberScheduled)
		st.Ready += int(min(x.Status.NumberReady, x.Status.DesiredNumberScheduled))
		if x.Status.ObservedGeneration < x.Generation {
			notObserved = true
		}
		if x.Status.DesiredNumberScheduled == 0 { // nothing runs: no node selected (yet)
			pending = append(pending, vim.Reason{Code: "NoEligibleNodes", Object: "daemonset/" + x.Name,
				Message: "no node runs the daemon set"})
			notObserved = true
		}
	}
	for i := range s.pods {
		p := &s.pods[i]
		if len(p.OwnerReferences) == 0 && p.DeletionTimestamp == nil { // bare pods
			workloads++
			st.Desired++
			if podReady(p) {
				st.Ready++
			}
		}
	}
	// ReplicaSet-level failures (quota) only show as events on the ReplicaSet's conditions,
	// which the Deployment mirrors as ReplicaFailure above.
	st.Nodes = sortedSet(nodes)
	st.Endpoints = endpoints(s)
	switch {
	case len(failed) > 0:
		st.Phase, st.Reasons = vim.PhaseFailed, slices.Concat(failed, pending)
	case stopped && countLive(s.pods) == 0:
		st.Phase = vim.PhaseStopped
	case stopped:
		st.Phase, st.Reasons = vim.PhasePending, []vim.Reason{{Code: "Stopping"}}
	case workloads == 0:
		st.Phase, st.Reasons = vim.PhasePending, []vim.Reason{{Code: "NoWorkload", Message: "no workload objects yet"}}
	case len(unreachable) > 0 && st.Ready+presumed >= st.Desired:
		st.Phase, st.Reasons = vim.PhaseUnreachable, unreachable
	case st.Ready >= st.Desired && !notObserved:
		st.Phase = vim.PhaseRunning
	default:
		st.Phase, st.Reasons = vim.PhasePending, slices.Concat(pending, unreachable)
		if len(st.Reasons) == 0 {
			st.Reasons = []vim.Reason{{Code: "NotReady", Message: fmt.Sprintf("%d of %d replicas ready", st.Ready, st.Desired)}}
		}
	}
	return st
}

// createFailure classifies a controller's FailedCreate condition. The API server's refusal is
// only available as text here (the controller copied the error message into the condition).
func createFailure(reason, msg, obj string) vim.Reason {
	r := vim.Reason{Code: reason, Message: msg, Object: obj}
	switch {
	case strings.Contains(msg, "exceeded quota"):
		r.Err = vim.ErrQuota
	case strings.Contains(msg, "forbidden") && !strings.Contains(msg, "serviceaccount"):
		r.Err = vim.ErrForbidden
	}
	return r
}

func countLive(pods []corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			n++
		}
	}
	return n
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// endpoints lists where the app is reachable: Services first (LoadBalancer ingress, ClusterIP,
// NodePort), then the IPs of ready pods with their container ports.
func endpoints(s *snapshot) []vim.Endpoint {
	var out []vim.Endpoint
	for _, svc := range s.svcs {
		for _, p := range svc.Spec.Ports {
			for _, in := range svc.Status.LoadBalancer.Ingress {
				addr := orStr(in.IP, in.Hostname)
				out = append(out, vim.Endpoint{Name: svc.Name + "/" + p.Name, Kind: "LoadBalancer", Address: addr, Port: p.Port, Protocol: string(p.Protocol)})
			}
			if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
				out = append(out, vim.Endpoint{Name: svc.Name + "/" + p.Name, Kind: "ClusterIP", Address: ip, Port: p.Port, Protocol: string(p.Protocol)})
			}
			if p.NodePort != 0 {
				for _, n := range s.nodes {
					if ip := nodeIP(n); ip != "" {
						out = append(out, vim.Endpoint{Name: svc.Name + "/" + p.Name, Kind: "NodePort", Address: ip, Port: p.NodePort, Protocol: string(p.Protocol)})
					}
				}
			}
		}
	}
	for i := range s.pods {
		p := &s.pods[i]
		if !podReady(p) || p.Status.PodIP == "" {
			continue
		}
		n := 0
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				n++
				out = append(out, vim.Endpoint{Name: p.Name + "/" + orStr(cp.Name, c.Name), Kind: "Pod", Address: p.Status.PodIP, Port: cp.ContainerPort, Protocol: string(cp.Protocol)})
			}
		}
		if n == 0 {
			out = append(out, vim.Endpoint{Name: p.Name, Kind: "Pod", Address: p.Status.PodIP})
		}
	}
	return out
}

func nodeIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
