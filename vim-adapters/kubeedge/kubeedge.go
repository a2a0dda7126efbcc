// Package kubeedge is the VIM adapter for KubeEdge sites: the Kubernetes adapter placing apps
// on edge nodes.
//
// KubeEdge's cloudcore registers each edgecore as a Node labelled node-role.kubernetes.io/edge
// (and usually tainted with it, so cloud workloads stay off). The adapter
//   - places instances on edge nodes by default (node selector on the edge role plus a
//     toleration of the edge taint); Placement.NodeKind=cloud opts out;
//   - places on a node group (KubeEdge NodeGroup, label apps.kubeedge.io/belonging-to) when
//     Placement.NodeGroup is set;
//   - tolerates the node.kubernetes.io/unreachable and not-ready NoExecute taints without a
//     time limit, so the control plane never evicts an app from an edge node that lost its
//     uplink: edgecore keeps running it (offline autonomy);
//   - reports an instance whose edge node is offline as vim.PhaseUnreachable ("unreachable,
//     app presumed running"), not as a failure, and Running again when the node is back.
//
// Capabilities lists each node with its readiness, kind and group, which is how the MEO sees
// edge-node readiness.
package kubeedge

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// LabelNodeGroup is the label KubeEdge's NodeGroup controller puts on member nodes.
const LabelNodeGroup = "apps.kubeedge.io/belonging-to"

// Adapter is the KubeEdge VIM adapter.
type Adapter struct{ *kubernetes.Adapter }

var _ vim.VIM = (*Adapter)(nil)

// offlineTolerations keep pods bound to a node that stops reporting.
var offlineTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
}

// Flavor returns the KubeEdge flavor of the Kubernetes adapter.
func Flavor() kubernetes.Flavor {
	return kubernetes.Flavor{
		Kind:            vim.KindKubeEdge,
		NodeGroupLabel:  LabelNodeGroup,
		OfflineAutonomy: true,
		PodSpec: func(req *vim.DeployRequest, s *corev1.PodSpec) {
			if req.Placement.NodeKind == "" || req.Placement.NodeKind == vim.NodeEdge {
				if s.NodeSelector == nil {
					s.NodeSelector = map[string]string{}
				}
				s.NodeSelector[kubernetes.LabelEdgeRole] = ""
				addToleration(s, kubernetes.EdgeToleration)
			}
			for _, t := range offlineTolerations {
				addToleration(s, t)
			}
		},
	}
}

func addToleration(s *corev1.PodSpec, t corev1.Toleration) {
	for _, x := range s.Tolerations {
		if x.Key == t.Key && x.Effect == t.Effect {
			return
		}
	}
	s.Tolerations = append(s.Tolerations, t)
}

// New returns a KubeEdge adapter; cfg.Flavor is replaced by Flavor().
func New(cfg kubernetes.Config) (*Adapter, error) {
	cfg.Flavor = Flavor()
	a, err := kubernetes.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Adapter{a}, nil
}
