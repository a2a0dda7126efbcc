package kubernetes

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Well-known node labels and taints.
const (
	LabelEdgeRole    = "node-role.kubernetes.io/edge"
	LabelControlRole = "node-role.kubernetes.io/control-plane"
	LabelMasterRole  = "node-role.kubernetes.io/master"
	LabelArch        = "kubernetes.io/arch"
	// LabelNodeGroup is the default node-group label of a plain Kubernetes site. OpenYurt
	// sites use "apps.openyurt.io/nodepool" and SuperEdge "superedge.io/node-unit"; set
	// Flavor.NodeGroupLabel accordingly (placement hint only, see README).
	LabelNodeGroup = "edgemec.io/node-group"
)

// Flavor adapts the adapter to a Kubernetes distribution's conventions. The zero value is
// plain Kubernetes; see DefaultFlavor.
type Flavor struct {
	// Kind is reported by Capabilities.
	Kind vim.Kind
	// NodeGroupLabel is the node label that names a node's group / pool.
	NodeGroupLabel string
	// ClassifyNode tells a node's kind; nil uses ClassifyNode.
	ClassifyNode func(n *corev1.Node) vim.NodeKind
	// PodSpec adjusts every pod template after the generic placement (tolerations, selectors).
	PodSpec func(req *vim.DeployRequest, spec *corev1.PodSpec)
	// Service adjusts every Service (exposure conventions).
	Service func(req *vim.DeployRequest, svc *corev1.Service)
	// StorageClass is set on PersistentVolumeClaims (and StatefulSet claim templates) that
	// name none, when the site has no default storage class of its own.
	StorageClass string
	// IngressClass is set on Ingresses that name none (K3s: traefik).
	IngressClass string
	// OfflineAutonomy makes pods on unreachable nodes count as presumed running: the instance
	// reports vim.PhaseUnreachable, not a failure (KubeEdge edge nodes keep running offline).
	OfflineAutonomy bool
}

// DefaultFlavor is plain Kubernetes.
func DefaultFlavor() Flavor {
	return Flavor{Kind: vim.KindKubernetes, NodeGroupLabel: LabelNodeGroup}
}

// ClassifyNode is the default node classification: edge role label → edge, control-plane or
// master role → control, else cloud.
func ClassifyNode(n *corev1.Node) vim.NodeKind {
	l := n.Labels
	if _, ok := l[LabelEdgeRole]; ok {
		return vim.NodeEdge
	}
	_, cp := l[LabelControlRole]
	_, m := l[LabelMasterRole]
	if cp || m {
		return vim.NodeControl
	}
	return vim.NodeCloud
}

// EdgeToleration lets a pod onto nodes tainted with the edge role (KubeEdge's convention).
var EdgeToleration = corev1.Toleration{Key: LabelEdgeRole, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
