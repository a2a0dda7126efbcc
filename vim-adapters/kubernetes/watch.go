package kubernetes

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Watch implements vim.VIM with shared informers on the instances' namespaces, workloads and
// pods (selected by the instance label) and on nodes (an edge node going offline changes the
// status of what runs on it). Each change queues its instance; a worker recomputes the status
// from the informer caches and sends it when it differs from the last one sent. The
// informers of one cluster are shared by the watches of every adapter in the process that
// reaches it with the same identity (informerSet).
func (a *Adapter) Watch(ctx context.Context) (<-chan vim.Event, error) {
	const op = "watch"
	c, err := a.get(ctx, op, "")
	if err != nil {
		return nil, err
	}
	set := acquireInformers(c)
	q := workqueue.NewTyped[string]()
	var regs []func()
	release := func() {
		q.ShutDown()
		for _, r := range regs {
			r()
		}
		set.release()
	}
	nsInf, podInf, depInf, stsInf, dsInf, svcInf, nodeInf := set.ns, set.pods, set.deps, set.sts, set.dss, set.svcs, set.nodes

	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			if id := m.GetLabels()[LabelInstance]; id != "" {
				q.Add(id)
			}
		}
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) error {
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return err
		}
		regs = append(regs, func() { _ = inf.RemoveEventHandler(reg) })
		return nil
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue}
	for _, inf := range []cache.SharedIndexInformer{nsInf.Informer(), podInf.Informer(), depInf.Informer(), stsInf.Informer(), dsInf.Informer()} {
		if err := add(inf, h); err != nil {
			release()
			return nil, wrap(op, "", err, "add handler")
		}
	}
	onNode := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		n, ok := obj.(*corev1.Node)
		if !ok {
			return
		}
		pods, _ := podInf.Lister().List(labels.Everything())
		for _, p := range pods {
			if p.Spec.NodeName == n.Name {
				q.Add(p.Labels[LabelInstance])
			}
		}
	}
	if err := add(nodeInf.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc: onNode, DeleteFunc: onNode,
		UpdateFunc: func(o, n any) {
			if NodeReady(o.(*corev1.Node)) != NodeReady(n.(*corev1.Node)) {
				onNode(n)
			}
		},
	}); err != nil {
		release()
		return nil, wrap(op, "", err, "add node handler")
	}
	if err := set.waitSynced(ctx); err != nil {
		release()
		return nil, vim.Errorf(op, "", vim.ErrUnavailable, "%v", err)
	}

	out := make(chan vim.Event, 64)
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	go func() {
		defer close(out)
		defer release()
		sent := map[string]string{}
		for {
			id, shutdown := q.Get()
			if shutdown {
				return
			}
			ev, ok := a.cachedEvent(id, nsInf.Lister(), func(ns string) (*snapshot, error) {
				s := &snapshot{nodes: map[string]*corev1.Node{}}
				deps, _ := depInf.Lister().Deployments(ns).List(labels.Everything())
				for _, d := range deps {
					s.deps = append(s.deps, *d)
				}
				sts, _ := stsInf.Lister().StatefulSets(ns).List(labels.Everything())
				for _, x := range sts {
					s.sts = append(s.sts, *x)
				}
				dss, _ := dsInf.Lister().DaemonSets(ns).List(labels.Everything())
				for _, x := range dss {
					s.dss = append(s.dss, *x)
				}
				pods, _ := podInf.Lister().Pods(ns).List(labels.Everything())
				for _, p := range pods {
					s.pods = append(s.pods, *p)
					if n, err := nodeInf.Lister().Get(p.Spec.NodeName); err == nil {
						s.nodes[n.Name] = n
					}
				}
				svcs, _ := svcInf.Lister().Services(ns).List(labels.Everything())
				for _, x := range svcs {
					s.svcs = append(s.svcs, *x)
				}
				return s, nil
			})
			q.Done(id)
			if !ok {
				continue
			}
			sig := signature(ev)
			if sent[id] == sig {
				continue
			}
			if ev.Deleted {
				if _, known := sent[id]; !known {
					continue
				}
				delete(sent, id)
			} else {
				sent[id] = sig
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

type nsLister interface {
	Get(name string) (*corev1.Namespace, error)
}

func (a *Adapter) cachedEvent(id string, nl nsLister, snap func(ns string) (*snapshot, error)) (vim.Event, bool) {
	ns, err := nl.Get(a.Namespace(id))
	if apierrors.IsNotFound(err) {
		return vim.Event{Status: vim.Status{AppInstanceID: id}, Deleted: true}, true
	}
	if err != nil || ns.Labels[LabelInstance] != id {
		return vim.Event{}, false
	}
	s, err := snap(ns.Name)
	if err != nil {
		return vim.Event{}, false
	}
	s.ns = ns
	return vim.Event{Status: a.status(id, s)}, true
}

// signature is what makes two statuses different enough to send.
func signature(ev vim.Event) string {
	var b strings.Builder
	st := ev.Status
	fmt.Fprintf(&b, "%v|%s|%d/%d|", ev.Deleted, st.Phase, st.Ready, st.Desired)
	for _, r := range st.Reasons {
		b.WriteString(r.Code + "@" + r.Object + ",")
	}
	b.WriteString("|")
	for _, e := range st.Endpoints {
		fmt.Fprintf(&b, "%s:%s:%d,", e.Kind, e.Address, e.Port)
	}
	return b.String()
}

// forCache drops from an object what the watch never reads before the informers cache it:
// its managed fields (the field manager's record of server-side apply, often the larger
// part of an object) and the images a node holds. The watch derives an instance's status
// from the rest.
func forCache(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	if n, ok := obj.(*corev1.Node); ok {
		n.Status.Images = nil
	}
	return obj, nil
}
