//go:build integration

package deploy_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/internal/testutil"
)

// TestChartAppliesToAPIServer: the real kube-apiserver of the test bed accepts every object
// the chart renders (schema validation through server-side apply, dry run).
func TestChartAppliesToAPIServer(t *testing.T) {
	kc := testutil.RequireEnv(t, "EDGEMEC_TESTBED_KUBECONFIG")
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mec"}}, metav1.CreateOptions{})
	if err != nil {
		require.Contains(t, err.Error(), "already exists")
	}
	objs, err := render(t, map[string]any{"mep": map[string]any{"operatorToken": "s3cret-token"}})
	require.NoError(t, err)
	gvr := map[string]schema.GroupVersionResource{
		"StatefulSet": {Group: "apps", Version: "v1", Resource: "statefulsets"},
		"Service":     {Version: "v1", Resource: "services"},
		"Secret":      {Version: "v1", Resource: "secrets"},
	}
	for key, o := range objs {
		r, ok := gvr[o.GetKind()]
		require.True(t, ok, "unexpected kind in %s", key)
		data, err := o.MarshalJSON()
		require.NoError(t, err)
		_, err = dyn.Resource(r).Namespace("mec").Patch(ctx, o.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: "edgemec-test", DryRun: []string{metav1.DryRunAll}})
		require.NoError(t, err, "apiserver rejected %s", key)
	}
}
