package kubernetes

import (
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Labels and annotations the adapter puts on what it creates.
const (
	LabelInstance  = "edgemec.io/app-instance-id"
	LabelAppD      = "edgemec.io/appd-id"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "edgemec"
	AnnotAppD      = "edgemec.io/appd-id"
	AnnotAppName   = "edgemec.io/app-name"
	AnnotStopped   = "edgemec.io/stopped"
	AnnotReplicas  = "edgemec.io/replicas"
	Mp1SecretName  = "edgemec-mp1"
	// AnnotApplied, on the namespace, lists the objects the last Deploy applied
	// (group/version/resource/name, JSON), so that a redeploy prunes what a newer package
	// dropped.
	AnnotApplied = "edgemec.io/applied"
	// StopNodeSelector is the node selector key Stop adds to a DaemonSet's pods: no node has
	// it, so the DaemonSet runs no pod until Start removes it.
	StopNodeSelector = "edgemec.io/stopped"
	// StoppedPodsSecret holds the bare pods Stop deleted, for Start to create again.
	StoppedPodsSecret = "edgemec-stopped-pods"
)

// Environment variables every container of an instance gets from the Mp1 Secret.
const (
	EnvMEPEndpoint   = "MEC_MEP_ENDPOINT"
	EnvInstanceID    = "MEC_APP_INSTANCE_ID"
	EnvClientID      = "MEC_CLIENT_ID"
	EnvClientSecret  = "MEC_CLIENT_SECRET"
	EnvAppDID        = "MEC_APPD_ID"
	envFromSecretRef = Mp1SecretName
)

// InstanceLabels returns the labels put on every object of an instance.
func InstanceLabels(req *vim.DeployRequest) map[string]string {
	l := map[string]string{LabelInstance: req.AppInstanceID, LabelManagedBy: ManagedBy}
	if labelValueOK(req.AppDID) {
		l[LabelAppD] = req.AppDID
	}
	return l
}

func labelValueOK(s string) bool {
	if len(s) > 63 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			(i > 0 && i < len(s)-1 && (r == '-' || r == '_' || r == '.'))
		if !ok {
			return false
		}
	}
	return true
}

// prepare adds the adapter's labels, Mp1 environment, resources and placement to obj.
func (a *Adapter) prepare(req *vim.DeployRequest, ns string, u *unstructured.Unstructured) error {
	u.SetNamespace(ns)
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, InstanceLabels(req))
	u.SetLabels(l)
	an := u.GetAnnotations()
	if an == nil {
		an = map[string]string{}
	}
	an[AnnotAppD] = req.AppDID
	u.SetAnnotations(an)

	switch u.GroupVersionKind().GroupKind().String() {
	case "Deployment.apps":
		return convertAndMutate(u, &appsv1.Deployment{}, func(o *appsv1.Deployment) {
			a.podTemplate(req, &o.Spec.Template, true)
		})
	case "StatefulSet.apps":
		return convertAndMutate(u, &appsv1.StatefulSet{}, func(o *appsv1.StatefulSet) {
			a.podTemplate(req, &o.Spec.Template, true)
			for i := range o.Spec.VolumeClaimTemplates {
				a.pvc(&o.Spec.VolumeClaimTemplates[i].Spec)
			}
		})
	case "DaemonSet.apps":
		return convertAndMutate(u, &appsv1.DaemonSet{}, func(o *appsv1.DaemonSet) {
			a.podTemplate(req, &o.Spec.Template, true)
		})
	case "Job.batch":
		return convertAndMutate(u, &batchv1.Job{}, func(o *batchv1.Job) {
			a.podTemplate(req, &o.Spec.Template, false)
		})
	case "Pod":
		return convertAndMutate(u, &corev1.Pod{}, func(o *corev1.Pod) {
			t := corev1.PodTemplateSpec{ObjectMeta: o.ObjectMeta, Spec: o.Spec}
			a.podTemplate(req, &t, true)
			o.ObjectMeta, o.Spec = t.ObjectMeta, t.Spec
		})
	case "Service":
		if a.flavor.Service != nil {
			return convertAndMutate(u, &corev1.Service{}, func(o *corev1.Service) { a.flavor.Service(req, o) })
		}
	case "Ingress.networking.k8s.io":
		if a.flavor.IngressClass != "" {
			if _, ok, _ := unstructured.NestedString(u.Object, "spec", "ingressClassName"); !ok {
				return unstructured.SetNestedField(u.Object, a.flavor.IngressClass, "spec", "ingressClassName")
			}
		}
	case "PersistentVolumeClaim":
		return convertAndMutate(u, &corev1.PersistentVolumeClaim{}, func(o *corev1.PersistentVolumeClaim) { a.pvc(&o.Spec) })
	}
	return nil
}

func (a *Adapter) pvc(s *corev1.PersistentVolumeClaimSpec) {
	if s.StorageClassName == nil && a.flavor.StorageClass != "" {
		sc := a.flavor.StorageClass
		s.StorageClassName = &sc
	}
}

// podTemplate applies steps 1–4 of the package comment to one pod template.
func (a *Adapter) podTemplate(req *vim.DeployRequest, t *corev1.PodTemplateSpec, first bool) {
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	maps.Copy(t.Labels, InstanceLabels(req))
	s := &t.Spec
	ref := corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: envFromSecretRef}}}
	for i := range s.Containers {
		c := &s.Containers[i]
		has := false
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil && e.SecretRef.Name == envFromSecretRef {
				has = true
			}
		}
		if !has {
			c.EnvFrom = append(c.EnvFrom, ref)
		}
	}
	if first && len(s.Containers) > 0 && len(s.Containers[0].Resources.Requests) == 0 && len(s.Containers[0].Resources.Limits) == 0 {
		s.Containers[0].Resources = resourcesFor(req.Compute)
	}
	p := req.Placement
	sel := map[string]string{}
	maps.Copy(sel, p.NodeSelector)
	if arch := normArch(req.Compute.CPUArchitecture); arch != "" {
		sel[LabelArch] = arch
	}
	if p.NodeGroup != "" && a.flavor.NodeGroupLabel != "" {
		sel[a.flavor.NodeGroupLabel] = p.NodeGroup
	}
	if p.NodeKind == vim.NodeEdge {
		sel[LabelEdgeRole] = ""
		addToleration(s, EdgeToleration)
	}
	if len(sel) > 0 {
		if s.NodeSelector == nil {
			s.NodeSelector = map[string]string{}
		}
		maps.Copy(s.NodeSelector, sel)
	}
	if p.RuntimeClassName != "" {
		rc := p.RuntimeClassName
		s.RuntimeClassName = &rc
	}
	if a.flavor.PodSpec != nil {
		a.flavor.PodSpec(req, s)
	}
}

func addToleration(s *corev1.PodSpec, t corev1.Toleration) {
	for _, x := range s.Tolerations {
		if x.Key == t.Key && x.Effect == t.Effect && x.Operator == t.Operator {
			return
		}
	}
	s.Tolerations = append(s.Tolerations, t)
}

// convertAndMutate converts u to the typed object o, lets f change it, and converts it back,
// keeping only fields that were set (no zero-valued status or timestamps).
func convertAndMutate[T runtime.Object](u *unstructured.Unstructured, o T, f func(T)) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, o); err != nil {
		return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	f(o)
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return fmt.Errorf("convert %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	unstructured.RemoveNestedField(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(m, "spec", "template", "metadata", "creationTimestamp")
	if tpls, ok, _ := unstructured.NestedSlice(m, "spec", "volumeClaimTemplates"); ok {
		for _, t := range tpls {
			if tm, ok := t.(map[string]any); ok {
				unstructured.RemoveNestedField(tm, "metadata", "creationTimestamp")
				unstructured.RemoveNestedField(tm, "status")
			}
		}
		_ = unstructured.SetNestedSlice(m, tpls, "spec", "volumeClaimTemplates")
	}
	u.Object = m
	return nil
}
