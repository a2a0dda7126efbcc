// Package deploy_test checks the deployment artefacts in deploy/: the Helm chart renders as
// `helm template` would (Helm SDK), and the Kubernetes test bed's API server accepts what it
// renders (server-side apply, dry run).
package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const chartDir = "../../deploy/helm/edgemec-site"

// render renders the site chart with vals and returns its objects by "Kind/name".
func render(t *testing.T, vals map[string]any) (map[string]*unstructured.Unstructured, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	require.NoError(t, err)
	rv, err := chartutil.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "edge1", Namespace: "mec", Revision: 1, IsInstall: true},
		common.DefaultCapabilities.Copy())
	require.NoError(t, err)
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, err
	}
	objs := map[string]*unstructured.Unstructured{}
	for name, body := range files {
		if strings.HasSuffix(name, ".txt") || strings.HasPrefix(filepath.Base(name), "_") {
			continue
		}
		for _, doc := range strings.Split(body, "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var m map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(doc), &m), "%s:\n%s", name, doc)
			if m == nil {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			objs[u.GetKind()+"/"+u.GetName()] = u
		}
	}
	return objs, nil
}

func args(t *testing.T, sts *unstructured.Unstructured) []string {
	cs, _, _ := unstructured.NestedSlice(sts.Object, "spec", "template", "spec", "containers")
	require.Len(t, cs, 1)
	a, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
	return a
}

func TestChartRenders(t *testing.T) {
	objs, err := render(t, map[string]any{"mep": map[string]any{"operatorToken": "s3cret-token"},
		"dns": map[string]any{"upstreams": []any{"10.0.0.10:53"}, "allowedClients": []any{"10.60.0.0/16"}}})
	require.NoError(t, err)
	for _, k := range []string{"StatefulSet/edge1-mep", "Service/edge1-mep", "Service/edge1-mep-dns", "Secret/edge1-mep"} {
		require.Contains(t, objs, k)
	}
	a := args(t, objs["StatefulSet/edge1-mep"])
	require.Contains(t, a, "--data-dir=/var/lib/mep")
	require.Contains(t, a, "--dns-addr=0.0.0.0:5353")
	require.Contains(t, a, "--dns-upstream=10.0.0.10:53")
	require.Contains(t, a, "--dns-allowed-clients=10.60.0.0/16")
	vct, _, _ := unstructured.NestedSlice(objs["StatefulSet/edge1-mep"].Object, "spec", "volumeClaimTemplates")
	require.Len(t, vct, 1, "the embedded store needs a volume")
	tok, _, _ := unstructured.NestedString(objs["Secret/edge1-mep"].Object, "stringData", "operator-token")
	require.Equal(t, "s3cret-token", tok)
}

func TestChartVariants(t *testing.T) {
	_, err := render(t, nil)
	require.ErrorContains(t, err, "set mep.operatorToken or mep.existingSecret")

	objs, err := render(t, map[string]any{"mep": map[string]any{"existingSecret": "ops", "postgresDSN": "postgres://db/mep",
		"tls": map[string]any{"secretName": "mep-tls"}}, "dns": map[string]any{"enabled": false}})
	require.NoError(t, err)
	require.NotContains(t, objs, "Secret/edge1-mep", "an existing secret must not be shadowed")
	require.NotContains(t, objs, "Service/edge1-mep-dns")
	sts := objs["StatefulSet/edge1-mep"]
	a := args(t, sts)
	require.Contains(t, a, "--dns-addr=off")
	require.Contains(t, a, "--tls-cert=/etc/mep/tls/tls.crt")
	require.NotContains(t, a, "--data-dir=/var/lib/mep")
	_, found, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	require.False(t, found, "no volume with PostgreSQL")
}

func TestSystemdUnits(t *testing.T) {
	for unit, wants := range map[string][]string{
		"mep.service":  {"ExecStart=/usr/local/bin/mep", "EnvironmentFile=/etc/edgemec/mep.env", "DynamicUser=yes", "StateDirectory=mep"},
		"upgw.service": {"ExecStart=/usr/local/bin/upgw", "EnvironmentFile=/etc/edgemec/upgw.env", "CAP_BPF", "StateDirectory=upgw"},
	} {
		b, err := os.ReadFile("../../deploy/systemd/" + unit)
		require.NoError(t, err)
		for _, want := range wants {
			require.Contains(t, string(b), want, unit)
		}
	}
}
