// Package k3s is the VIM adapter for K3s sites: the Kubernetes adapter with K3s conventions.
//
// K3s is the Kubernetes API, so the adapter is kubernetes.Adapter with a Flavor that
//   - reports the kind "k3s" and classifies server nodes (control-plane/master role labels,
//     which K3s servers carry and which also run workloads) as control nodes;
//   - sets the K3s default storage class "local-path" (local-path-provisioner) on claims that
//     name none;
//   - sets ingressClassName "traefik" (the bundled Traefik) on Ingresses that name none;
//   - with the parameter expose=LoadBalancer, makes the app's Services type LoadBalancer, which
//     K3s' ServiceLB (klipper-lb) serves on the nodes' addresses; the endpoint then shows up as
//     a LoadBalancer endpoint once ServiceLB has filled the Service's status.
//
// IsK3sNode tells K3s nodes by the node.kubernetes.io/instance-type=k3s label K3s sets.
package k3s

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// K3s conventions.
const (
	StorageClass      = "local-path"
	IngressClass      = "traefik"
	LabelInstanceType = "node.kubernetes.io/instance-type"
	InstanceType      = "k3s"
	// ParamExpose = "LoadBalancer" exposes the app's Services through ServiceLB.
	ParamExpose = "expose"
)

// Adapter is the K3s VIM adapter.
type Adapter struct{ *kubernetes.Adapter }

var _ vim.VIM = (*Adapter)(nil)

// Flavor returns the K3s flavor of the Kubernetes adapter.
func Flavor() kubernetes.Flavor {
	return kubernetes.Flavor{
		Kind:           vim.KindK3s,
		NodeGroupLabel: kubernetes.LabelNodeGroup,
		StorageClass:   StorageClass,
		IngressClass:   IngressClass,
		Service: func(req *vim.DeployRequest, svc *corev1.Service) {
			if strings.EqualFold(req.Params[ParamExpose], string(corev1.ServiceTypeLoadBalancer)) && svc.Spec.ClusterIP != corev1.ClusterIPNone {
				svc.Spec.Type = corev1.ServiceTypeLoadBalancer
			}
		},
	}
}

// New returns a K3s adapter; cfg.Flavor is replaced by Flavor().
func New(cfg kubernetes.Config) (*Adapter, error) {
	cfg.Flavor = Flavor()
	a, err := kubernetes.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Adapter{a}, nil
}

// IsK3sNode reports whether n is a K3s node.
func IsK3sNode(n vim.Node) bool { return n.Labels[LabelInstanceType] == InstanceType }
