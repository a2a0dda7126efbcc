package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/rest"
)

// informerSet is the informers the watches read one cluster through: the instances'
// namespaces, pods, workloads and services (selected by the instance label) and the nodes.
// It is shared by the watches of every adapter in the process that reaches the cluster with
// the same identity (server and credentials), so that sites sharing a control plane, each on
// its own namespaces, cache its objects once rather than once per site. It runs while a
// watch holds it and stops with the last release.
type informerSet struct {
	key    string
	refs   int
	cancel context.CancelFunc
	f, nf  informers.SharedInformerFactory

	ns    coreinformers.NamespaceInformer
	pods  coreinformers.PodInformer
	deps  appsinformers.DeploymentInformer
	sts   appsinformers.StatefulSetInformer
	dss   appsinformers.DaemonSetInformer
	svcs  coreinformers.ServiceInformer
	nodes coreinformers.NodeInformer
}

var informerSets = struct {
	sync.Mutex
	m map[string]*informerSet
}{m: map[string]*informerSet{}}

// acquireInformers returns the running informer set of c's cluster and identity, starting
// one when none runs. Each acquire is paired with a release.
func acquireInformers(c *Clients) *informerSet {
	key := clusterKey(c)
	informerSets.Lock()
	defer informerSets.Unlock()
	if s := informerSets.m[key]; s != nil {
		s.refs++
		return s
	}
	f := informers.NewSharedInformerFactoryWithOptions(c.Kube, 0, informers.WithTransform(forCache),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelInstance }))
	nf := informers.NewSharedInformerFactoryWithOptions(c.Kube, 0, informers.WithTransform(forCache))
	s := &informerSet{key: key, refs: 1, f: f, nf: nf,
		ns: f.Core().V1().Namespaces(), pods: f.Core().V1().Pods(), deps: f.Apps().V1().Deployments(),
		sts: f.Apps().V1().StatefulSets(), dss: f.Apps().V1().DaemonSets(), svcs: f.Core().V1().Services(),
		nodes: nf.Core().V1().Nodes()}
	// Each informer is made before the factories start: a factory starts only the informers
	// it already made.
	s.ns.Informer()
	s.pods.Informer()
	s.deps.Informer()
	s.sts.Informer()
	s.dss.Informer()
	s.svcs.Informer()
	s.nodes.Informer()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	f.Start(ctx.Done())
	nf.Start(ctx.Done())
	informerSets.m[key] = s
	return s
}

// waitSynced waits until every informer of the set has synced, or ctx ends.
func (s *informerSet) waitSynced(ctx context.Context) error {
	for t, ok := range s.f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("cache of %v did not sync", t)
		}
	}
	for t, ok := range s.nf.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("cache of %v did not sync", t)
		}
	}
	return nil
}

// release drops a hold on the set; the last one stops its informers.
func (s *informerSet) release() {
	informerSets.Lock()
	s.refs--
	last := s.refs == 0
	if last && informerSets.m[s.key] == s {
		delete(informerSets.m, s.key)
	}
	informerSets.Unlock()
	if last {
		s.cancel()
		s.f.Shutdown()
		s.nf.Shutdown()
	}
}

// clusterKey identifies a cluster and the identity the clients reach it with: watches share
// informers only when they see the same objects with the same rights.
func clusterKey(c *Clients) string {
	if c.Config == nil {
		return fmt.Sprintf("clients:%p", c.Kube)
	}
	cfg := rest.CopyConfig(c.Config)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%v\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%v\x00%v\x00%v\x00%v",
		cfg.Host, cfg.APIPath, cfg.Username, cfg.Password, cfg.BearerToken, cfg.BearerTokenFile,
		cfg.Impersonate, cfg.CertFile, cfg.KeyFile, cfg.CAFile, cfg.CertData, cfg.KeyData, cfg.CAData,
		cfg.Insecure, cfg.ServerName, cfg.ExecProvider, cfg.AuthProvider)
	return hex.EncodeToString(h.Sum(nil))
}
