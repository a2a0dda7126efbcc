package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var daemonSets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}

// stopDaemonSets gives every DaemonSet of the instance the StopNodeSelector key (Stop) or
// takes it away (Start), as the lifecycle manager, so that no node runs its pods while the
// instance is stopped. It returns how many it changed.
func (a *Adapter) stopDaemonSets(ctx context.Context, c *Clients, ns string, sel metav1.ListOptions, stop bool, mgr string) (int, error) {
	l, err := c.Kube.AppsV1().DaemonSets(ns).List(ctx, sel)
	if err != nil {
		return 0, fmt.Errorf("list daemonsets: %w", err)
	}
	n := 0
	for _, d := range l.Items {
		_, has := d.Spec.Template.Spec.NodeSelector[StopNodeSelector]
		if has == stop {
			continue
		}
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "DaemonSet",
			"metadata": map[string]any{"name": d.Name, "namespace": ns}}}
		// The node selector is an atomic map: the whole map is applied, with the key on
		// stop and without it on start; a map left empty is not applied, which removes it.
		sel := maps.Clone(d.Spec.Template.Spec.NodeSelector)
		if sel == nil {
			sel = map[string]string{}
		}
		if stop {
			sel[StopNodeSelector] = "true"
		} else {
			delete(sel, StopNodeSelector)
		}
		if len(sel) > 0 {
			_ = unstructured.SetNestedStringMap(u.Object, sel, "spec", "template", "spec", "nodeSelector")
		}
		if err := a.apply(ctx, c.Dynamic.Resource(daemonSets).Namespace(ns), u, mgr); err != nil {
			return n, fmt.Errorf("daemonset %s: %w", d.Name, err)
		}
		n++
	}
	return n, nil
}

// stopPods deletes the instance's bare pods (those no controller owns) after saving them in
// the StoppedPodsSecret. It returns how many it deleted.
func (a *Adapter) stopPods(ctx context.Context, c *Clients, ns string, sel metav1.ListOptions, labels map[string]string) (int, error) {
	l, err := c.Kube.CoreV1().Pods(ns).List(ctx, sel)
	if err != nil {
		return 0, fmt.Errorf("list pods: %w", err)
	}
	saved := map[string][]byte{}
	if s, err := c.Kube.CoreV1().Secrets(ns).Get(ctx, StoppedPodsSecret, metav1.GetOptions{}); err == nil {
		saved = s.Data
	} else if !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("get %s: %w", StoppedPodsSecret, err)
	}
	var bare []corev1.Pod
	for _, p := range l.Items {
		if metav1.GetControllerOf(&p) == nil && p.DeletionTimestamp == nil {
			bare = append(bare, p)
		}
	}
	if len(bare) == 0 {
		return 0, nil
	}
	data := maps.Clone(saved)
	if data == nil {
		data = map[string][]byte{}
	}
	for _, p := range bare {
		b, err := json.Marshal(respawnable(&p))
		if err != nil {
			return 0, fmt.Errorf("save pod %s: %w", p.Name, err)
		}
		data[p.Name] = b
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: StoppedPodsSecret, Namespace: ns, Labels: labels}, Data: data, Type: corev1.SecretTypeOpaque}
	if _, err := c.Kube.CoreV1().Secrets(ns).Update(ctx, sec, metav1.UpdateOptions{}); apierrors.IsNotFound(err) {
		_, err = c.Kube.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{})
		if err != nil {
			return 0, fmt.Errorf("save pods: %w", err)
		}
	} else if err != nil {
		return 0, fmt.Errorf("save pods: %w", err)
	}
	for _, p := range bare {
		if err := c.Kube.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("delete pod %s: %w", p.Name, err)
		}
	}
	return len(bare), nil
}

// startPods creates the pods Stop saved again and drops the StoppedPodsSecret. It returns
// how many it created.
func (a *Adapter) startPods(ctx context.Context, c *Clients, ns string) (int, error) {
	s, err := c.Kube.CoreV1().Secrets(ns).Get(ctx, StoppedPodsSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("get %s: %w", StoppedPodsSecret, err)
	}
	n := 0
	for _, name := range slices.Sorted(maps.Keys(s.Data)) {
		var p corev1.Pod
		if err := json.Unmarshal(s.Data[name], &p); err != nil {
			return n, fmt.Errorf("saved pod %s: %w", name, err)
		}
		p.Namespace = ns
		if _, err := c.Kube.CoreV1().Pods(ns).Create(ctx, &p, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return n, fmt.Errorf("create pod %s: %w", name, err)
		}
		n++
	}
	if err := c.Kube.CoreV1().Secrets(ns).Delete(ctx, StoppedPodsSecret, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return n, fmt.Errorf("delete %s: %w", StoppedPodsSecret, err)
	}
	return n, nil
}

// respawnable is p as it can be created again: its name, labels, annotations and spec,
// without what the API server and the scheduler filled in (node, service account token
// volume, status).
func respawnable(p *corev1.Pod) *corev1.Pod {
	q := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Labels: p.Labels, Annotations: p.Annotations}, Spec: *p.Spec.DeepCopy()}
	q.Spec.NodeName = ""
	token := func(name string) bool { return strings.HasPrefix(name, "kube-api-access-") }
	q.Spec.Volumes = slices.DeleteFunc(q.Spec.Volumes, func(v corev1.Volume) bool { return token(v.Name) })
	for _, cs := range [][]corev1.Container{q.Spec.InitContainers, q.Spec.Containers} {
		for i := range cs {
			cs[i].VolumeMounts = slices.DeleteFunc(cs[i].VolumeMounts, func(m corev1.VolumeMount) bool { return token(m.Name) })
		}
	}
	return q
}

// appliedKey names an applied object in AnnotApplied.
func appliedKey(gvr schema.GroupVersionResource, name string) string {
	return gvr.Group + "/" + gvr.Version + "/" + gvr.Resource + "/" + name
}

// parseApplied reads AnnotApplied; a value that does not parse counts as empty.
func parseApplied(v string) []string {
	var keys []string
	if v != "" && json.Unmarshal([]byte(v), &keys) != nil {
		return nil
	}
	return keys
}

// encodeApplied writes AnnotApplied: the keys sorted, without duplicates.
func encodeApplied(keys []string) string {
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	b, _ := json.Marshal(keys)
	return string(b)
}

// prune deletes the objects named in old but not in keep that carry the instance's label
// (an object someone else put in the namespace under that name is left alone). It returns
// how many it deleted.
func (a *Adapter) prune(ctx context.Context, c *Clients, ns, id string, old, keep []string) (int, error) {
	n := 0
	for _, k := range old {
		if slices.Contains(keep, k) {
			continue
		}
		parts := strings.Split(k, "/")
		if len(parts) != 4 {
			continue
		}
		r := c.Dynamic.Resource(schema.GroupVersionResource{Group: parts[0], Version: parts[1], Resource: parts[2]}).Namespace(ns)
		u, err := r.Get(ctx, parts[3], metav1.GetOptions{})
		if apierrors.IsNotFound(err) { // gone, or its resource is no longer served
			continue
		} else if err != nil {
			return n, fmt.Errorf("get %s: %w", k, err)
		}
		if u.GetLabels()[LabelInstance] != id {
			continue
		}
		bg := metav1.DeletePropagationBackground
		if err := r.Delete(ctx, parts[3], metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			return n, fmt.Errorf("delete %s: %w", k, err)
		}
		n++
	}
	return n, nil
}
