// Package deploy_test checks the deployment artefacts in deploy/: every Helm chart renders as
// `helm template` renders it (Helm SDK, values checked against the chart's values.schema.json),
// the Kubernetes test bed's API server accepts every object they render (server-side apply,
// dry run), `make images` builds the images the charts name, and the systemd units verify.
package deploy_test

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"regexp"
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

// charts are the platform's charts by short name.
var charts = map[string]string{
	"meo":  "../../deploy/helm/edgemec-meo",
	"site": "../../deploy/helm/edgemec-site",
	"upgw": "../../deploy/helm/edgemec-upgw",
}

// minimal are the fewest values each chart installs with.
var minimal = map[string]map[string]any{
	"meo": {
		"meo":      map[string]any{"operatorToken": "op-s3cret-token", "secretKey": "k3y-k3y-k3y-k3y-k3y-k3y-k3y-k3y"},
		"database": map[string]any{"url": "postgres://meo:pw-s3cret@db.example:5432/meo"},
	},
	"site": {"mep": map[string]any{"operatorToken": "s3cret-token"}},
	"upgw": {
		"mep":  map[string]any{"siteRelease": "edge1"},
		"upgw": map[string]any{"gnbInterface": "n3-gnb", "upfInterface": "n3-upf"},
	},
}

// secrets are the secret values of minimal and the variants: none may appear outside a Secret.
var secrets = []string{"op-s3cret-token", "k3y-k3y-k3y", "pw-s3cret", "s3cret-token", "Trial0nlyPassw0rd42", "view-s3cret-1", "feed-s3cret-0123456789"}

// merge returns base with over merged into it, recursively for maps.
func merge(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = merge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// render renders chart (a key of charts) as release "edge1" in namespace "mec" with vals, as
// `helm template` does (values validated against values.schema.json first), and returns its
// objects by "Kind/name".
func render(t *testing.T, chart string, vals map[string]any) (map[string]*unstructured.Unstructured, error) {
	t.Helper()
	return renderDir(t, charts[chart], "edge1", "mec", vals)
}

// renderDir renders the chart in dir as release in namespace ns.
func renderDir(t *testing.T, dir, release, ns string, vals map[string]any) (map[string]*unstructured.Unstructured, error) {
	t.Helper()
	ch, err := loader.Load(dir)
	require.NoError(t, err)
	rv, err := chartutil.ToRenderValues(ch, vals, common.ReleaseOptions{Name: release, Namespace: ns, Revision: 1, IsInstall: true},
		common.DefaultCapabilities.Copy())
	if err != nil {
		return nil, err
	}
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
			key := u.GetKind() + "/" + u.GetName()
			require.NotContains(t, objs, key, "rendered twice")
			objs[key] = u
		}
	}
	return objs, nil
}

func mustRender(t *testing.T, chart string, over map[string]any) map[string]*unstructured.Unstructured {
	t.Helper()
	objs, err := render(t, chart, merge(minimal[chart], over))
	require.NoError(t, err)
	return objs
}

// podSpec returns the pod template spec of a workload.
func podSpec(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	ps, found, err := unstructured.NestedMap(o.Object, "spec", "template", "spec")
	require.NoError(t, err)
	require.True(t, found, "%s has no pod template", o.GetName())
	return ps
}

// container returns the first container of a workload.
func container(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(podSpec(t, o), "containers")
	require.NotEmpty(t, cs)
	return cs[0].(map[string]any)
}

func args(t *testing.T, o *unstructured.Unstructured) []string {
	t.Helper()
	a, _, _ := unstructured.NestedStringSlice(container(t, o), "args")
	return a
}

// secretFiles returns the files a workload's first container sees from Secrets: each path
// with its source, "SECRET/KEY". Secret volumes and projected volumes of Secrets count.
func secretFiles(t *testing.T, o *unstructured.Unstructured) map[string]string {
	t.Helper()
	vols := map[string]map[string]string{} // volume name → path in volume → SECRET/KEY
	vs, _, _ := unstructured.NestedSlice(podSpec(t, o), "volumes")
	for _, v := range vs {
		v := v.(map[string]any)
		files := map[string]string{}
		add := func(sec map[string]any, nameField string) {
			items, _ := sec["items"].([]any)
			require.NotEmpty(t, items, "%s: volume %s mounts a whole Secret; name its keys", o.GetName(), v["name"])
			for _, it := range items {
				it := it.(map[string]any)
				files[it["path"].(string)] = sec[nameField].(string) + "/" + it["key"].(string)
			}
		}
		if sec, ok := v["secret"].(map[string]any); ok {
			add(sec, "secretName")
		}
		if pr, ok := v["projected"].(map[string]any); ok {
			for _, src := range pr["sources"].([]any) {
				if sec, ok := src.(map[string]any)["secret"].(map[string]any); ok {
					add(sec, "name")
				}
			}
		}
		if len(files) > 0 {
			vols[v["name"].(string)] = files
		}
	}
	out := map[string]string{}
	mounts, _, _ := unstructured.NestedSlice(container(t, o), "volumeMounts")
	for _, m := range mounts {
		m := m.(map[string]any)
		for p, src := range vols[m["name"].(string)] {
			require.Equal(t, true, m["readOnly"], "%s: secret volume %s mounted writable", o.GetName(), m["name"])
			out[m["mountPath"].(string)+"/"+p] = src
		}
	}
	return out
}

// fileArgs returns the paths that the arguments --NAME-file=PATH, --tls-cert=PATH and
// --tls-key=PATH of a workload name, by flag.
func fileArgs(t *testing.T, o *unstructured.Unstructured) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range args(t, o) {
		if m := regexp.MustCompile(`^--([a-z-]+-file|tls-cert|tls-key)=(.+)$`).FindStringSubmatch(a); m != nil {
			out[m[1]] = m[2]
		}
	}
	return out
}

// requireSecretFile asserts that flag names a file the workload sees from secret src.
func requireSecretFile(t *testing.T, o *unstructured.Unstructured, flag, src string) {
	t.Helper()
	p, ok := fileArgs(t, o)[flag]
	require.True(t, ok, "%s: no --%s", o.GetName(), flag)
	require.Equal(t, src, secretFiles(t, o)[p], "%s: --%s=%s", o.GetName(), flag, p)
}

// literalEnv returns the literal value of env variable name of a workload's first container.
func literalEnv(t *testing.T, o *unstructured.Unstructured, name string) string {
	t.Helper()
	env, _, _ := unstructured.NestedSlice(container(t, o), "env")
	for _, e := range env {
		e := e.(map[string]any)
		if e["name"] == name {
			v, ok := e["value"].(string)
			require.True(t, ok, "%s: env %s is not a literal", o.GetName(), name)
			return v
		}
	}
	t.Fatalf("%s: no env %s", o.GetName(), name)
	return ""
}

// nested returns the field at path of obj (an object or a part of one), which must exist.
func nested(t *testing.T, obj map[string]any, path ...string) any {
	t.Helper()
	v, found, err := unstructured.NestedFieldNoCopy(obj, path...)
	require.NoError(t, err)
	require.True(t, found, "no %s", strings.Join(path, "."))
	return v
}

// workloads returns the objects with a pod template.
func workloads(objs map[string]*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment", "StatefulSet", "DaemonSet":
			out = append(out, o)
		}
	}
	return out
}

// variants are the value sets every test below renders, per chart.
var variants = []struct {
	name, chart string
	vals        map[string]any
}{
	{name: "meo minimal", chart: "meo"},
	{name: "meo bundled postgresql, monitored, TLS, viewers", chart: "meo", vals: map[string]any{
		"database":       map[string]any{"url": ""},
		"postgresql":     map[string]any{"enabled": true, "password": "Trial0nlyPassw0rd42"},
		"meo":            map[string]any{"viewerTokens": []any{"view-s3cret-1"}, "tls": map[string]any{"secretName": "meo-tls"}, "callbackDeny": []any{"10.0.0.0/8"}},
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}},
		"replicas":       3,
	}},
	{name: "meo existing secrets, one replica", chart: "meo", vals: map[string]any{
		"meo":            map[string]any{"operatorToken": "", "secretKey": "", "existingSecret": "meo-creds"},
		"database":       map[string]any{"url": "", "existingSecret": "meo-db", "existingSecretKey": "url"},
		"replicas":       1,
		"serviceAccount": map[string]any{"name": "meo-sa"},
	}},
	{name: "site minimal", chart: "site"},
	{name: "site DNS load balancer keeping UE addresses, monitored", chart: "site", vals: map[string]any{
		"mep": map[string]any{"feedToken": "feed-s3cret-0123456789"},
		"dns": map[string]any{"upstreams": []any{"10.0.0.10:53"}, "allowedClients": []any{"10.60.0.0/16"},
			"service": map[string]any{"type": "LoadBalancer", "externalTrafficPolicy": "Local"}},
		"serviceMonitor": map[string]any{"enabled": true},
	}},
	{name: "site postgresql, TLS, no DNS, given apiRoot", chart: "site", vals: map[string]any{
		"mep": map[string]any{"operatorToken": "", "existingSecret": "ops", "postgres": map[string]any{"enabled": true},
			"tls": map[string]any{"secretName": "mep-tls"}, "apiRoot": "https://mep.site1.example:443"},
		"dns": map[string]any{"enabled": false},
	}},
	{name: "upgw minimal", chart: "upgw"},
	{name: "upgw privileged with apps and endpoints", chart: "upgw", vals: map[string]any{
		"upgw": map[string]any{"privileged": true, "xdpMode": "generic", "keepTxChecksum": true, "apiTokenSecret": "upgw-api",
			"apps":          []any{"mec0,02:00:00:00:00:10,10.60.0.0/24"},
			"gtpuEndpoints": []any{"10.100.0.2,n3-gnb,02:00:00:00:00:01,7"}},
		"mep":               map[string]any{"siteRelease": "", "url": "https://mep.site1.example:8443", "existingSecret": "upgw-mep"},
		"priorityClassName": "system-node-critical",
	}},
}

func TestChartsRender(t *testing.T) {
	meo := mustRender(t, "meo", nil)
	for _, k := range []string{"Deployment/edge1-meo", "Service/edge1-meo", "Secret/edge1-meo", "Secret/edge1-meo-db",
		"ServiceAccount/edge1-meo", "PodDisruptionBudget/edge1-meo"} {
		require.Contains(t, meo, k)
	}
	d := meo["Deployment/edge1-meo"]
	require.EqualValues(t, 2, nested(t, d.Object, "spec", "replicas"), "the MEO runs two replicas by default")
	a := args(t, d)
	for _, want := range []string{"--api-root=http://edge1-meo.mec.svc:8090", "--operator-token-file=/etc/edgemec/operator-token",
		"--viewer-token-file=/etc/edgemec/viewer-tokens", "--secret-key-file=/etc/edgemec/meo.key", "--http-addr=0.0.0.0:8090"} {
		require.Contains(t, a, want)
	}
	requireSecretFile(t, d, "database-url-file", "edge1-meo-db/dsn")
	requireSecretFile(t, d, "operator-token-file", "edge1-meo/operator-token")
	requireSecretFile(t, d, "viewer-token-file", "edge1-meo/viewer-tokens")
	requireSecretFile(t, d, "secret-key-file", "edge1-meo/secret-key")
	require.Equal(t, "/readyz", nested(t, container(t, d), "readinessProbe", "httpGet", "path").(string))
	require.Equal(t, "/healthz", nested(t, container(t, d), "livenessProbe", "httpGet", "path").(string))
	dsn, _, _ := unstructured.NestedString(meo["Secret/edge1-meo-db"].Object, "stringData", "dsn")
	require.Equal(t, "postgres://meo:pw-s3cret@db.example:5432/meo", dsn)

	trial := mustRender(t, "meo", variants[1].vals)
	require.Contains(t, trial, "StatefulSet/edge1-postgresql")
	require.Contains(t, trial, "ServiceMonitor/edge1-meo")
	dsn, _, _ = unstructured.NestedString(trial["Secret/edge1-meo-db"].Object, "stringData", "dsn")
	require.Equal(t, "postgres://edgemec:Trial0nlyPassw0rd42@edge1-postgresql:5432/edgemec?sslmode=disable", dsn)
	require.Contains(t, args(t, trial["Deployment/edge1-meo"]), "--api-root=https://edge1-meo.mec.svc:8090")
	requireSecretFile(t, trial["Deployment/edge1-meo"], "tls-cert", "meo-tls/tls.crt")
	requireSecretFile(t, trial["Deployment/edge1-meo"], "tls-key", "meo-tls/tls.key")
	pgFiles := secretFiles(t, trial["StatefulSet/edge1-postgresql"])
	require.Equal(t, "edge1-meo-db/password", pgFiles[literalEnv(t, trial["StatefulSet/edge1-postgresql"], "POSTGRES_PASSWORD_FILE")])
	viewers, _, _ := unstructured.NestedString(trial["Secret/edge1-meo"].Object, "stringData", "viewer-tokens")
	require.Equal(t, "view-s3cret-1", viewers)

	given := mustRender(t, "meo", variants[2].vals)
	for _, k := range []string{"Secret/edge1-meo", "Secret/edge1-meo-db", "ServiceAccount/edge1-meo", "PodDisruptionBudget/edge1-meo"} {
		require.NotContains(t, given, k, "an existing object must not be shadowed, nor one replica guarded")
	}
	requireSecretFile(t, given["Deployment/edge1-meo"], "database-url-file", "meo-db/url")
	requireSecretFile(t, given["Deployment/edge1-meo"], "operator-token-file", "meo-creds/operator-token")

	site := mustRender(t, "site", map[string]any{"dns": map[string]any{"upstreams": []any{"10.0.0.10:53"}, "allowedClients": []any{"10.60.0.0/16"}}})
	for _, k := range []string{"StatefulSet/edge1-mep", "Service/edge1-mep", "Service/edge1-mep-dns", "Secret/edge1-mep", "ServiceAccount/edge1-mep"} {
		require.Contains(t, site, k)
	}
	a = args(t, site["StatefulSet/edge1-mep"])
	for _, want := range []string{"--data-dir=/var/lib/mep", "--dns-addr=0.0.0.0:5353", "--dns-upstream=10.0.0.10:53",
		"--dns-allowed-clients=10.60.0.0/16", "--api-root=http://edge1-mep.mec.svc:8080"} {
		require.Contains(t, a, want)
	}
	vct, _, _ := unstructured.NestedSlice(site["StatefulSet/edge1-mep"].Object, "spec", "volumeClaimTemplates")
	require.Len(t, vct, 1, "the embedded store needs a volume")
	requireSecretFile(t, site["StatefulSet/edge1-mep"], "operator-token-file", "edge1-mep/operator-token")
	requireSecretFile(t, site["StatefulSet/edge1-mep"], "feed-token-file", "edge1-mep/feed-token")
	feed, _, _ := unstructured.NestedString(site["Secret/edge1-mep"].Object, "stringData", "feed-token")
	require.Len(t, feed, 40, "without mep.feedToken the chart makes a feed token")
	require.NotEqual(t, "s3cret-token", feed)
	require.NotContains(t, fileArgs(t, site["StatefulSet/edge1-mep"]), "postgres-dsn-file")
	_, found, _ := unstructured.NestedString(site["Service/edge1-mep-dns"].Object, "spec", "externalTrafficPolicy")
	require.False(t, found)

	lb := mustRender(t, "site", variants[4].vals)
	feed, _, _ = unstructured.NestedString(lb["Secret/edge1-mep"].Object, "stringData", "feed-token")
	require.Equal(t, "feed-s3cret-0123456789", feed, "mep.feedToken is the feed token")
	require.Equal(t, "Local", nested(t, lb["Service/edge1-mep-dns"].Object, "spec", "externalTrafficPolicy"))
	require.Equal(t, "LoadBalancer", nested(t, lb["Service/edge1-mep-dns"].Object, "spec", "type"))
	require.Contains(t, lb, "ServiceMonitor/edge1-mep")

	pg := mustRender(t, "site", variants[5].vals)
	require.NotContains(t, pg, "Secret/edge1-mep", "an existing secret must not be shadowed")
	require.NotContains(t, pg, "Service/edge1-mep-dns")
	a = args(t, pg["StatefulSet/edge1-mep"])
	require.Contains(t, a, "--dns-addr=off")
	require.Contains(t, a, "--tls-cert=/etc/mep/tls/tls.crt")
	require.Contains(t, a, "--api-root=https://mep.site1.example:443")
	require.NotContains(t, a, "--data-dir=/var/lib/mep")
	requireSecretFile(t, pg["StatefulSet/edge1-mep"], "operator-token-file", "ops/operator-token")
	requireSecretFile(t, pg["StatefulSet/edge1-mep"], "feed-token-file", "ops/feed-token")
	requireSecretFile(t, pg["StatefulSet/edge1-mep"], "postgres-dsn-file", "ops/postgres-dsn")
	requireSecretFile(t, pg["StatefulSet/edge1-mep"], "tls-cert", "mep-tls/tls.crt")
	_, found, _ = unstructured.NestedSlice(pg["StatefulSet/edge1-mep"].Object, "spec", "volumeClaimTemplates")
	require.False(t, found, "no volume with PostgreSQL")

	own := mustRender(t, "site", map[string]any{"mep": map[string]any{"postgres": map[string]any{"enabled": true, "dsn": "postgres://mep:pw-s3cret@db/mep"}}})
	dsn, _, _ = unstructured.NestedString(own["Secret/edge1-mep"].Object, "stringData", "postgres-dsn")
	require.Equal(t, "postgres://mep:pw-s3cret@db/mep", dsn)
	requireSecretFile(t, own["StatefulSet/edge1-mep"], "postgres-dsn-file", "edge1-mep/postgres-dsn")

	upgw := mustRender(t, "upgw", nil)
	ds := upgw["DaemonSet/edge1-upgw"]
	require.NotNil(t, ds)
	ps := podSpec(t, ds)
	require.Equal(t, true, ps["hostNetwork"])
	require.Equal(t, map[string]any{"edgemec.io/n3": "true"}, ps["nodeSelector"])
	sc := nested(t, container(t, ds), "securityContext").(map[string]any)
	require.Equal(t, false, sc["privileged"])
	require.Equal(t, map[string]any{"drop": []any{"ALL"}, "add": []any{"BPF", "NET_ADMIN", "PERFMON"}}, sc["capabilities"],
		"CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON, not CAP_SYS_ADMIN")
	a = args(t, ds)
	for _, want := range []string{"--gnb-if=n3-gnb", "--upf-if=n3-upf", "--mep-url=http://edge1-mep.mec.svc:8080", "--pin-dir=/sys/fs/bpf/edgemec-upgw"} {
		require.Contains(t, a, want)
	}
	// The site chart's Secret, its read-only feed token: the UPGW holds no operator token.
	requireSecretFile(t, ds, "mep-token-file", "edge1-mep/feed-token")
	for p, src := range secretFiles(t, ds) {
		require.NotContains(t, src, "operator-token", "the UPGW mounts the MEP's operator token at %s", p)
	}
	require.NotContains(t, fileArgs(t, ds), "api-token-file")

	priv := mustRender(t, "upgw", variants[7].vals)
	a = args(t, priv["DaemonSet/edge1-upgw"])
	for _, want := range []string{"--app=mec0,02:00:00:00:00:10,10.60.0.0/24", "--gtpu-endpoint=10.100.0.2,n3-gnb,02:00:00:00:00:01,7",
		"--keep-tx-checksum", "--xdp-mode=generic", "--mep-url=https://mep.site1.example:8443"} {
		require.Contains(t, a, want)
	}
	sc = nested(t, container(t, priv["DaemonSet/edge1-upgw"]), "securityContext").(map[string]any)
	require.Equal(t, true, sc["privileged"])
	requireSecretFile(t, priv["DaemonSet/edge1-upgw"], "mep-token-file", "upgw-mep/feed-token")
	requireSecretFile(t, priv["DaemonSet/edge1-upgw"], "api-token-file", "upgw-api/api-token")
}

// TestSecretsOnlyFromSecrets: no token, key, password or DSN appears outside a Secret; the
// containers get every one as a file mounted from a Secret (no argument carries a secret,
// no variable takes one from a Secret: a command line shows in ps, an environment in /proc),
// every file argument names such a file; and every pod runs without a service account token.
func TestSecretsOnlyFromSecrets(t *testing.T) {
	secretish := regexp.MustCompile(`TOKEN|DSN|DATABASE_URL|PASSWORD|KEY`)
	secretArg := regexp.MustCompile(`^--[a-z-]*(token|dsn|database-url|password|secret)s?=`)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			objs := mustRender(t, v.chart, v.vals)
			for key, o := range objs {
				if o.GetKind() == "Secret" {
					continue
				}
				b, err := json.Marshal(o.Object)
				require.NoError(t, err)
				for _, s := range secrets {
					require.NotContains(t, string(b), s, "%s carries a secret", key)
				}
			}
			ws := workloads(objs)
			require.NotEmpty(t, ws)
			for _, w := range ws {
				require.Equal(t, false, podSpec(t, w)["automountServiceAccountToken"], "%s mounts a service account token", w.GetName())
				cs, _, _ := unstructured.NestedSlice(podSpec(t, w), "containers")
				for _, c := range cs {
					env, _, _ := unstructured.NestedSlice(c.(map[string]any), "env")
					for _, e := range env {
						e := e.(map[string]any)
						_, fromSecret, _ := unstructured.NestedMap(e, "valueFrom", "secretKeyRef")
						require.False(t, fromSecret, "%s: env %s takes a Secret's value; mount it as a file", w.GetName(), e["name"])
						if secretish.MatchString(e["name"].(string)) {
							require.True(t, strings.HasSuffix(e["name"].(string), "_FILE"), "%s: env %s carries a secret", w.GetName(), e["name"])
						}
					}
					a, _, _ := unstructured.NestedStringSlice(c.(map[string]any), "args")
					for _, arg := range a {
						require.NotRegexp(t, secretArg, arg, "%s: a secret on the command line", w.GetName())
					}
				}
				files := secretFiles(t, w)
				for flag, p := range fileArgs(t, w) {
					require.Contains(t, files, p, "%s: --%s=%s is no file from a Secret", w.GetName(), flag, p)
				}
			}
			if sa, ok := objs["ServiceAccount/edge1-"+map[string]string{"meo": "meo", "site": "mep", "upgw": "upgw"}[v.chart]]; ok {
				require.Equal(t, false, sa.Object["automountServiceAccountToken"])
			}
		})
	}
}

// TestValuesSchema: a misspelt or invalid value fails at install (schema validation, as
// `helm install` does it), naming the value; so do contradictory choices the templates check.
func TestValuesSchema(t *testing.T) {
	for _, tc := range []struct {
		name, chart string
		vals        map[string]any
		wantErr     []string
	}{
		{"meo misspelt top-level key", "meo", map[string]any{"replica": 3}, []string{"replica"}},
		{"meo misspelt nested key", "meo", map[string]any{"meo": map[string]any{"operatortoken": "x"}}, []string{"operatortoken"}},
		{"meo bad log level", "meo", map[string]any{"meo": map[string]any{"logLevel": "verbose"}}, []string{"/meo/logLevel"}},
		{"meo port as a string", "meo", map[string]any{"service": map[string]any{"port": "8090"}}, []string{"/service/port"}},
		{"meo zero replicas", "meo", map[string]any{"replicas": 0}, []string{"/replicas"}},
		{"meo short operator token", "meo", map[string]any{"meo": map[string]any{"operatorToken": "short"}}, []string{"/meo/operatorToken"}},
		{"meo not a PostgreSQL URL", "meo", map[string]any{"database": map[string]any{"url": "mysql://db/meo"}}, []string{"/database/url"}},
		{"meo bundled PostgreSQL without a good password", "meo", map[string]any{"database": map[string]any{"url": ""},
			"postgresql": map[string]any{"enabled": true, "password": "short"}}, []string{"/postgresql/password"}},
		{"meo bad monitor interval", "meo", map[string]any{"serviceMonitor": map[string]any{"interval": "30 seconds"}}, []string{"/serviceMonitor/interval"}},
		{"meo no database", "meo", map[string]any{"database": map[string]any{"url": ""}}, []string{"exactly one of database.existingSecret"}},
		{"meo two databases", "meo", map[string]any{"postgresql": map[string]any{"enabled": true, "password": "Trial0nlyPassw0rd42"}},
			[]string{"exactly one of database.existingSecret"}},
		{"meo no secret key", "meo", map[string]any{"meo": map[string]any{"secretKey": ""}}, []string{"set meo.secretKey or meo.existingSecret"}},
		{"meo no operator token", "meo", map[string]any{"meo": map[string]any{"operatorToken": ""}}, []string{"set meo.operatorToken or meo.existingSecret"}},
		{"site short feed token", "site", map[string]any{"mep": map[string]any{"feedToken": "short"}}, []string{"/mep/feedToken"}},
		{"site misspelt key", "site", map[string]any{"mep": map[string]any{"operatorTokn": "s3cret-token"}}, []string{"operatorTokn"}},
		{"site allowed client not a prefix", "site", map[string]any{"dns": map[string]any{"allowedClients": []any{"10.60.0.0"}}},
			[]string{"/dns/allowedClients/0"}},
		{"site upstream without port", "site", map[string]any{"dns": map[string]any{"upstreams": []any{"10.0.0.10"}}}, []string{"/dns/upstreams/0"}},
		{"site Local policy on a ClusterIP DNS service", "site", map[string]any{"dns": map[string]any{"service": map[string]any{"externalTrafficPolicy": "Local"}}},
			[]string{"/dns/service/type"}},
		{"site apiRoot with a path", "site", map[string]any{"mep": map[string]any{"apiRoot": "http://mep:8080/mp1"}}, []string{"/mep/apiRoot"}},
		{"site bad storage size", "site", map[string]any{"mep": map[string]any{"storage": map[string]any{"size": "lots"}}}, []string{"/mep/storage/size"}},
		{"site PostgreSQL without a URL", "site", map[string]any{"mep": map[string]any{"postgres": map[string]any{"enabled": true}}}, []string{"set mep.postgres.dsn"}},
		{"site no operator token", "site", map[string]any{"mep": map[string]any{"operatorToken": ""}}, []string{"set mep.operatorToken or mep.existingSecret"}},
		{"upgw misspelt key", "upgw", map[string]any{"nodeselector": map[string]any{"n3": "yes"}}, []string{"nodeselector"}},
		{"upgw bad XDP mode", "upgw", map[string]any{"upgw": map[string]any{"xdpMode": "offload"}}, []string{"/upgw/xdpMode"}},
		{"upgw bad app MAC", "upgw", map[string]any{"upgw": map[string]any{"apps": []any{"mec0,02:00:00:10,10.60.0.0/24"}}}, []string{"/upgw/apps/0"}},
		{"upgw pin dir outside bpffs", "upgw", map[string]any{"upgw": map[string]any{"pinDir": "/var/lib/upgw"}}, []string{"/upgw/pinDir"}},
		{"upgw interface name too long", "upgw", map[string]any{"upgw": map[string]any{"gnbInterface": "a-very-long-interface-name"}}, []string{"/upgw/gnbInterface"}},
		{"upgw no N3 interfaces", "upgw", map[string]any{"upgw": map[string]any{"upfInterface": ""}}, []string{"set upgw.gnbInterface and upgw.upfInterface"}},
		{"upgw no MEP", "upgw", map[string]any{"mep": map[string]any{"siteRelease": ""}}, []string{"set mep.siteRelease"}},
		{"upgw API token Secret not a name", "upgw", map[string]any{"upgw": map[string]any{"apiTokenSecret": "Upgw_API"}}, []string{"/upgw/apiTokenSecret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.chart, merge(minimal[tc.chart], tc.vals))
			require.Error(t, err)
			for _, want := range tc.wantErr {
				require.ErrorContains(t, err, want)
			}
		})
	}
}
