package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/edgemec/edgemec/vim-adapters/manifest"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Parameter keys understood by the adapter (DeployRequest.Params). All other keys are Helm
// values for charts ("image.tag=v2" style, parsed with Helm's --set syntax).
const (
	// ParamReplicas sets the replica count of the image-only Deployment.
	ParamReplicas = "replicas"
	// ParamServiceType sets the type of the image-only Service (ClusterIP, NodePort,
	// LoadBalancer).
	ParamServiceType = "serviceType"
)

// maxManifestBytes bounds rendered artefacts, which come from untrusted packages.
const maxManifestBytes = 8 << 20

// render turns the request's artefacts into objects, without the adapter's additions.
func render(req *vim.DeployRequest, namespace string, kubeVersion string) ([]*unstructured.Unstructured, error) {
	switch {
	case len(req.Artifacts.Chart) > 0:
		docs, err := renderChart(req, namespace, kubeVersion)
		if err != nil {
			return nil, err
		}
		return decode(docs)
	case len(req.Artifacts.Manifests) > 0:
		return decode([][]byte{req.Artifacts.Manifests})
	case req.Image.Ref != "":
		return imageOnly(req)
	default:
		return nil, errors.New("package has no chart, no manifests and no swImage")
	}
}

// renderChart renders a packaged chart with the Helm SDK's template engine, as `helm template`
// would, with the request's parameters as --set values and the MEP access under .Values.edgemec.
func renderChart(req *vim.DeployRequest, namespace, kubeVersion string) ([][]byte, error) {
	ch, err := loader.LoadArchive(bytes.NewReader(req.Artifacts.Chart))
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	vals := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(req.Params)) {
		if k == ParamReplicas || k == ParamServiceType {
			continue
		}
		if err := strvals.ParseInto(k+"="+req.Params[k], vals); err != nil {
			return nil, fmt.Errorf("parameter %s: %w", k, err)
		}
	}
	vals["edgemec"] = map[string]any{
		"appInstanceId": req.AppInstanceID,
		"appDId":        req.AppDID,
		"mepEndpoint":   req.MEP.Endpoint,
		"secretName":    Mp1SecretName,
	}
	caps := common.DefaultCapabilities.Copy()
	if kubeVersion != "" {
		caps.KubeVersion.Version = kubeVersion
	}
	rv, err := chartutil.ToRenderValues(ch, vals, common.ReleaseOptions{
		Name: releaseName(req), Namespace: namespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, fmt.Errorf("render chart: %w", err)
	}
	var docs [][]byte
	total := 0
	for _, name := range slices.Sorted(maps.Keys(files)) {
		base := name[strings.LastIndex(name, "/")+1:]
		if strings.HasPrefix(base, "_") || strings.HasSuffix(base, ".txt") || strings.TrimSpace(files[name]) == "" {
			continue
		}
		total += len(files[name])
		if total > maxManifestBytes {
			return nil, fmt.Errorf("rendered chart exceeds %d bytes", maxManifestBytes)
		}
		docs = append(docs, []byte(files[name]))
	}
	return docs, nil
}

func releaseName(req *vim.DeployRequest) string {
	if n := dnsName(req.AppName); n != "" {
		return n
	}
	return "app"
}

// decode splits YAML/JSON streams into objects (see manifest.Decode).
func decode(docs [][]byte) ([]*unstructured.Unstructured, error) {
	objs, err := manifest.Decode(docs, manifest.Limits{MaxBytes: maxManifestBytes})
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	return objs, nil
}

// imageOnly builds the workload of a package that only has a swImageDescriptor: one
// Deployment running the image, and a Service when the package declares ports.
func imageOnly(req *vim.DeployRequest) ([]*unstructured.Unstructured, error) {
	name := releaseName(req)
	replicas := int32(1)
	if s := req.Params[ParamReplicas]; s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("parameter %s=%q is not a replica count", ParamReplicas, s)
		}
		replicas = int32(n)
	}
	sel := map[string]string{"app.kubernetes.io/name": name}
	c := corev1.Container{Name: name, Image: req.Image.Ref, ImagePullPolicy: corev1.PullIfNotPresent}
	for _, p := range req.Artifacts.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.Port, Protocol: protocol(p.Protocol)})
	}
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: sel},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
			},
		},
	}
	objs := []runtime.Object{dep}
	if len(req.Artifacts.Ports) > 0 {
		svc := &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: sel},
			Spec:       corev1.ServiceSpec{Selector: sel, Type: corev1.ServiceType(req.Params[ParamServiceType])},
		}
		for _, p := range req.Artifacts.Ports {
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
				Name: p.Name, Port: p.Port, TargetPort: intstr.FromInt32(p.Port), Protocol: protocol(p.Protocol),
			})
		}
		objs = append(objs, svc)
	}
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, fmt.Errorf("convert %T: %w", o, err)
		}
		unstructured.RemoveNestedField(m, "status")
		unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(m, "spec", "template", "metadata", "creationTimestamp")
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

func protocol(p string) corev1.Protocol {
	if strings.EqualFold(p, "UDP") {
		return corev1.ProtocolUDP
	}
	return corev1.ProtocolTCP
}

// dnsName lowercases s and replaces what a DNS label cannot hold, trimmed to 40 characters.
func dnsName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0:
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// resourcesFor turns a virtualComputeDescriptor into container requests and limits: CPU is
// requested (not limited, to avoid throttling), memory is requested and limited.
func resourcesFor(c vim.VirtualCompute) corev1.ResourceRequirements {
	var rr corev1.ResourceRequirements
	if c.VirtualCPUs > 0 {
		rr.Requests = corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(int64(c.VirtualCPUs*1000+0.5), resource.DecimalSI)}
	}
	if c.MemoryMiB > 0 {
		q := *resource.NewQuantity(c.MemoryMiB<<20, resource.BinarySI)
		if rr.Requests == nil {
			rr.Requests = corev1.ResourceList{}
		}
		rr.Requests[corev1.ResourceMemory] = q
		rr.Limits = corev1.ResourceList{corev1.ResourceMemory: q}
	}
	return rr
}

// normArch maps ETSI/uname architecture names to Kubernetes ones.
func normArch(a string) string {
	switch strings.ToLower(a) {
	case "x86_64", "x86-64", "amd64", "x64":
		return "amd64"
	case "aarch64", "arm64", "armv8":
		return "arm64"
	default:
		return strings.ToLower(a)
	}
}
