//go:build integration

package deploy_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/edgemec/edgemec/internal/testutil"
)

// warnings collects the API server's warnings (PodSecurity verdicts among them).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// TestChartsApplyToAPIServer: the real kube-apiserver of the test bed accepts every object
// every chart renders, in every variant (server-side apply, dry run, strict field validation,
// so a misspelt field in a template fails too). The MEO and the site charts go to a namespace
// enforcing the "restricted" Pod Security Standard and must draw no warning; the UPGW needs
// host networking and capabilities, so its namespace is privileged.
func TestChartsApplyToAPIServer(t *testing.T) {
	kc := testutil.RequireEnv(t, "EDGEMEC_TESTBED_KUBECONFIG")
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	require.NoError(t, err)
	warn := &warnings{}
	cfg.WarningHandlerWithContext = warn
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := t.Context()

	installServiceMonitorCRD(t, dyn)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))

	ns := map[string]string{"meo": "edgemec-deploy-restricted", "site": "edgemec-deploy-restricted", "upgw": "edgemec-deploy-privileged"}
	ensureNamespace(t, cs, ns["meo"], "restricted")
	ensureNamespace(t, cs, ns["upgw"], "privileged")
	warn.take()

	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			objs := mustRender(t, v.chart, v.vals)
			for key, o := range objs {
				m, err := mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
				require.NoError(t, err, "%s: kind unknown to the API server", key)
				o.SetNamespace(ns[v.chart])
				data, err := o.MarshalJSON()
				require.NoError(t, err)
				_, err = dyn.Resource(m.Resource).Namespace(ns[v.chart]).Patch(ctx, o.GetName(), types.ApplyPatchType, data,
					metav1.PatchOptions{FieldManager: "edgemec-test", DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
				require.NoError(t, err, "apiserver rejected %s", key)
				require.Empty(t, warn.take(), "apiserver warned about %s", key)
			}
		})
	}
}

// TestRestrictedNamespaceWarns shows that the warnings TestChartsApplyToAPIServer asserts
// empty are really collected: the UPGW's DaemonSet violates the restricted profile.
func TestRestrictedNamespaceWarns(t *testing.T) {
	kc := testutil.RequireEnv(t, "EDGEMEC_TESTBED_KUBECONFIG")
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	require.NoError(t, err)
	warn := &warnings{}
	cfg.WarningHandlerWithContext = warn
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	ensureNamespace(t, cs, "edgemec-deploy-restricted", "restricted")
	warn.take()
	ds := mustRender(t, "upgw", nil)["DaemonSet/edge1-upgw"]
	data, err := ds.MarshalJSON()
	require.NoError(t, err)
	_, err = dyn.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}).Namespace("edgemec-deploy-restricted").
		Patch(t.Context(), ds.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "edgemec-test", DryRun: []string{metav1.DryRunAll}})
	require.NoError(t, err)
	w := strings.Join(warn.take(), "\n")
	require.Contains(t, w, "would violate PodSecurity")
	require.Contains(t, w, "hostNetwork")
}

// ensureNamespace creates namespace name with the Pod Security level enforced and warned.
func ensureNamespace(t *testing.T, cs kubernetes.Interface, name, level string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/warn": level}}}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

// installServiceMonitorCRD installs testdata/servicemonitor-crd.yaml (once per test bed) and
// waits until ServiceMonitors can be created.
func installServiceMonitorCRD(t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	b, err := os.ReadFile("testdata/servicemonitor-crd.yaml")
	require.NoError(t, err)
	crd := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal(b, &crd.Object))
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if _, err := crds.Create(t.Context(), crd, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	// A CR can be refused for a moment after the CRD is Established (notes/k8s-testbed.md G4).
	sm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
		"metadata": map[string]any{"name": "probe"}, "spec": map[string]any{"selector": map[string]any{}}}}
	smr := dyn.Resource(schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}).Namespace("default")
	require.Eventually(t, func() bool {
		_, err := smr.Create(context.Background(), sm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "ServiceMonitor CRD not served")
}

var _ rest.WarningHandlerWithContext = (*warnings)(nil)
