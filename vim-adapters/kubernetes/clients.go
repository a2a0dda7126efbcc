package kubernetes

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// Clients are the API clients for one site.
type Clients struct {
	Kube    k8s.Interface
	Dynamic dynamic.Interface
	// Mapper maps the kinds found in artefacts to resources; it refreshes itself when a kind
	// is unknown (a CRD installed after start).
	Mapper meta.ResettableRESTMapper
	// Config is the REST config the clients were made from.
	Config *rest.Config
}

// ClientsFunc returns the clients of one site. The MEO injects one per site (a per-site client
// factory, as karmada's ClusterClientSetFunc); it is called on every operation, so it should
// cache.
type ClientsFunc func(ctx context.Context) (*Clients, error)

// NewClients makes the clients for cfg. It raises client-go's default client-side rate limit
// (5 QPS), which would otherwise serialise concurrent deploys on one site.
func NewClients(cfg *rest.Config) (*Clients, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 200, 400
	}
	kube, err := k8s.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kube.Discovery()))
	return &Clients{Kube: kube, Dynamic: dyn, Mapper: mapper, Config: cfg}, nil
}

// Static returns a ClientsFunc that always hands out c.
func Static(c *Clients) ClientsFunc {
	return func(context.Context) (*Clients, error) { return c, nil }
}

// FromKubeconfig returns a ClientsFunc reading the kubeconfig at path once, on first use.
func FromKubeconfig(path string) ClientsFunc {
	var (
		once sync.Once
		c    *Clients
		err  error
	)
	return func(context.Context) (*Clients, error) {
		once.Do(func() {
			var cfg *rest.Config
			cfg, err = clientcmd.BuildConfigFromFlags("", path)
			if err != nil {
				err = fmt.Errorf("load kubeconfig %s: %w", path, err)
				return
			}
			c, err = NewClients(cfg)
		})
		return c, err
	}
}
