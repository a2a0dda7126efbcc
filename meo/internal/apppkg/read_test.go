package apppkg_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/appd"
	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/apppkg/apppkgtest"
)

const meta = "TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\nCreated-By: test\nEntry-Definitions: Definitions/appd.yaml\n"

func read(t *testing.T, zb []byte, lim apppkg.Limits) (*apppkg.Package, error) {
	t.Helper()
	return apppkg.Read(bytes.NewReader(zb), int64(len(zb)), lim)
}

func withChart(dir string, files map[string]string, chart map[string]string) map[string]string {
	for k, v := range chart {
		files[dir+k] = v
	}
	return files
}

func TestReadGood(t *testing.T) {
	appdYAML := apppkgtest.AppD("app1", "registry.example/app:1")
	a, err := appd.Parse([]byte(appdYAML))
	require.NoError(t, err)
	appdJSON, err := json.Marshal(a)
	require.NoError(t, err)
	vmAppD := strings.Replace(appdYAML, `swImage: "registry.example/app:1", containerFormat: DOCKER`,
		`swImage: "https://images.example/app.qcow2", containerFormat: BARE, diskFormat: QCOW2`, 1)
	manifests := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n---\n# a comment only\n---\n" +
		"apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n---\n" +
		"apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: ConfigMap, metadata: {name: cfg}}]\n"

	for _, tc := range []struct {
		name     string
		files    map[string]string
		appdPath string
		kinds    []apppkg.ArtifactKind
		objects  []string // Kind/name of every object, in order
		check    func(t *testing.T, p *apppkg.Package)
	}{
		{name: "AppD only, YAML at the root", files: map[string]string{"appd.yaml": appdYAML}, appdPath: "appd.yaml",
			check: func(t *testing.T, p *apppkg.Package) {
				assert.Equal(t, "yaml", p.AppDFormat)
				assert.Equal(t, []apppkg.SoftwareImageInfo{{ID: "image-0", Name: "app", ContainerFormat: "DOCKER", SwImage: "registry.example/app:1"}}, p.SoftwareImages())
				assert.Empty(t, p.ArtifactInfos())
			}},
		{name: "AppD only, JSON under Definitions", files: map[string]string{"Definitions/app.json": string(appdJSON), "README.txt": "hi"},
			appdPath: "Definitions/app.json",
			check:    func(t *testing.T, p *apppkg.Package) { assert.Equal(t, "json", p.AppDFormat) }},
		{name: "TOSCA.meta, AppD and chart directory",
			files: withChart("Artifacts/Deployment/HELM/app/", map[string]string{
				"TOSCA-Metadata/TOSCA.meta": meta, "Definitions/appd.yaml": appdYAML,
				"Artifacts/Informational/notes.yaml": "not: [an, artefact",
			}, apppkgtest.Chart("app")),
			appdPath: "Definitions/appd.yaml", kinds: []apppkg.ArtifactKind{apppkg.KindHelmChart},
			objects: []string{"Deployment/app", "Service/app"},
			check: func(t *testing.T, p *apppkg.Package) {
				assert.Equal(t, "Artifacts/Deployment/HELM/app/", p.Artifacts[0].Path)
				infos := p.ArtifactInfos()
				require.Len(t, infos, 1)
				assert.Equal(t, apppkg.Checksum{Algorithm: "SHA-256", Hash: sha(string(p.Artifacts[0].Data))}, infos[0].Checksum)
				assert.Equal(t, apppkg.KindHelmChart, infos[0].Kind)
				assert.Contains(t, p.Artifacts[0].Rendered, "value: http://mep.invalid:8080")
				req := p.DeployRequest("inst-1")
				assert.Equal(t, p.Artifacts[0].Data, req.Artifacts.Chart)
				assert.Nil(t, req.Artifacts.Manifests)
				require.NoError(t, req.Validate())
			}},
		{name: "chart .tgz named by TOSCA.meta",
			files: map[string]string{
				"TOSCA-Metadata/TOSCA.meta": meta + "\nName: Files/app-0.1.0.tgz\nContent-Type: application/vnd.helm.chart\n",
				"Definitions/appd.yaml":     appdYAML,
				"Files/app-0.1.0.tgz":       string(apppkgtest.ChartTgz(t, "app", apppkgtest.Chart("app"))),
			},
			appdPath: "Definitions/appd.yaml", kinds: []apppkg.ArtifactKind{apppkg.KindHelmChart},
			objects: []string{"Deployment/app", "Service/app"},
			check: func(t *testing.T, p *apppkg.Package) {
				require.Len(t, p.ToscaMeta.Files, 1)
				assert.Equal(t, "application/vnd.helm.chart", p.ToscaMeta.Files[0].Keys["Content-Type"])
			}},
		{name: "multi-document manifests under Artifacts",
			files:    map[string]string{"appd.yaml": appdYAML, "Artifacts/k8s/app.yaml": manifests, "Artifacts/k8s/extra.json": `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`},
			appdPath: "appd.yaml", kinds: []apppkg.ArtifactKind{apppkg.KindManifests, apppkg.KindManifests},
			objects: []string{"Deployment/web", "Service/web", "ConfigMap/cfg", "Secret/s"},
			check: func(t *testing.T, p *apppkg.Package) {
				req := p.DeployRequest("inst-1")
				assert.Contains(t, string(req.Artifacts.Manifests), "kind: Deployment")
				assert.Contains(t, string(req.Artifacts.Manifests), `"kind":"Secret"`)
				assert.Equal(t, "registry.example/app:1", req.Image.Ref)
			}},
		{name: "VM app", files: map[string]string{"TOSCA-Metadata/TOSCA.meta": meta, "Definitions/appd.yaml": vmAppD},
			appdPath: "Definitions/appd.yaml",
			check: func(t *testing.T, p *apppkg.Package) {
				assert.Equal(t, appd.KindVM, p.AppD.Workload().Kind)
				req := p.DeployRequest("vm-1")
				assert.Equal(t, "https://images.example/app.qcow2", req.Image.Ref)
				assert.Equal(t, "qcow2", req.Image.DiskFormat)
			}},
		{name: "manifest with digests",
			files: map[string]string{
				"TOSCA-Metadata/TOSCA.meta": meta + "ETSI-Entry-Manifest: app.mf\n",
				"Definitions/appd.yaml":     appdYAML,
				"app.mf": "metadata:\napp_product_name: app1\napp_provider_id: edgemec-test\n\n" +
					"Source: Definitions/appd.yaml\nAlgorithm: SHA-256\nHash: " + sha(appdYAML) + "\n\n" +
					"Source: https://images.example/app.qcow2\n\nSource: Artifacts/Deployment/k8s.yaml\n",
				"Artifacts/Deployment/k8s.yaml": manifests,
			},
			appdPath: "Definitions/appd.yaml", kinds: []apppkg.ArtifactKind{apppkg.KindManifests},
			objects: []string{"Deployment/web", "Service/web", "ConfigMap/cfg"},
			check: func(t *testing.T, p *apppkg.Package) {
				assert.Equal(t, "app1", p.Manifest.Metadata["app_product_name"])
				assert.Len(t, p.Manifest.Sources, 3)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := read(t, apppkgtest.Zip(t, tc.files), apppkg.Limits{})
			require.NoError(t, err)
			assert.Equal(t, tc.appdPath, p.AppDPath)
			assert.Equal(t, "app1", p.AppD.AppDID)
			assert.Equal(t, []byte(tc.files[tc.appdPath]), p.AppDRaw)
			var kinds []apppkg.ArtifactKind
			var objs []string
			for _, art := range p.Artifacts {
				kinds = append(kinds, art.Kind)
				for _, o := range art.Objects {
					objs = append(objs, o.Kind+"/"+o.Name)
				}
			}
			assert.Equal(t, tc.kinds, kinds)
			assert.Equal(t, tc.objects, objs)
			// The parse result is kept as JSON and must come back whole.
			js, err := json.Marshal(p)
			require.NoError(t, err)
			var back apppkg.Package
			require.NoError(t, json.Unmarshal(js, &back))
			assert.Equal(t, p, &back)
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// rawEntry writes an entry with headers of the caller's choosing: sizes and CRC can lie.
type rawEntry struct {
	name                      string
	data                      []byte // the real content
	method                    uint16
	claimSize, claimComp, crc uint64 // 0: the truth
}

func rawZip(t *testing.T, es ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		payload := e.data
		if e.method == zip.Deflate {
			var c bytes.Buffer
			fw, err := flate.NewWriter(&c, flate.BestCompression)
			require.NoError(t, err)
			_, err = fw.Write(e.data)
			require.NoError(t, err)
			require.NoError(t, fw.Close())
			payload = c.Bytes()
		}
		h := &zip.FileHeader{Name: e.name, Method: e.method,
			CRC32: crc32.ChecksumIEEE(e.data), UncompressedSize64: uint64(len(e.data)), CompressedSize64: uint64(len(payload))}
		h.SetMode(0o644)
		if e.claimSize != 0 {
			h.UncompressedSize64 = e.claimSize
		}
		if e.claimComp != 0 {
			h.CompressedSize64 = e.claimComp
			payload = payload[:min(len(payload), int(e.claimComp))]
		}
		if e.crc != 0 {
			h.CRC32 = uint32(e.crc)
		}
		w, err := zw.CreateRaw(h)
		require.NoError(t, err)
		_, err = w.Write(payload)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestReadHostile(t *testing.T) {
	appdYAML := apppkgtest.AppD("app1", "registry.example/app:1")
	good := map[string]string{"TOSCA-Metadata/TOSCA.meta": meta, "Definitions/appd.yaml": appdYAML}
	with := func(extra ...apppkgtest.Entry) []byte {
		es := []apppkgtest.Entry{{Name: "TOSCA-Metadata/TOSCA.meta", Data: []byte(meta)}, {Name: "Definitions/appd.yaml", Data: []byte(appdYAML)}}
		return apppkgtest.ZipEntries(t, append(es, extra...)...)
	}
	file := func(name, data string) apppkgtest.Entry { return apppkgtest.Entry{Name: name, Data: []byte(data)} }
	zeros := bytes.Repeat([]byte{0}, 10<<20)
	manyFiles := func(n int) []byte {
		es := make([]apppkgtest.Entry, n)
		for i := range es {
			es[i] = file(fmt.Sprintf("Files/f%05d", i), "")
		}
		return with(es...)
	}
	var nested bytes.Buffer
	nested.Write(apppkgtest.Zip(t, good))
	chart := apppkgtest.Chart("app")

	for _, tc := range []struct {
		name   string
		zip    []byte
		lim    apppkg.Limits
		reason apppkg.Reason
		entry  string
		ptr    string
	}{
		{name: "not a zip", zip: []byte("hello"), reason: apppkg.ReasonNotZip},
		{name: "empty file", zip: nil, reason: apppkg.ReasonNotZip},
		{name: "zip slip", zip: with(file("../../etc/cron.d/x", "x")), reason: apppkg.ReasonPathEscape, entry: "../../etc/cron.d/x"},
		{name: "zip slip inside", zip: with(file("Artifacts/../../x", "x")), reason: apppkg.ReasonPathEscape, entry: "Artifacts/../../x"},
		{name: "absolute path", zip: with(file("/etc/passwd", "x")), reason: apppkg.ReasonPathEscape, entry: "/etc/passwd"},
		{name: "drive letter", zip: with(file("C:/Windows/x", "x")), reason: apppkg.ReasonPathEscape, entry: "C:/Windows/x"},
		{name: "backslash", zip: with(file(`Artifacts\..\..\x`, "x")), reason: apppkg.ReasonPathEscape, entry: `Artifacts\..\..\x`},
		{name: "dot element", zip: with(file("Artifacts/./x", "x")), reason: apppkg.ReasonBadName, entry: "Artifacts/./x"},
		{name: "empty element", zip: with(file("Artifacts//x", "x")), reason: apppkg.ReasonBadName, entry: "Artifacts//x"},
		{name: "name too long", zip: with(file("Files/"+strings.Repeat("n", 1100), "x")), reason: apppkg.ReasonBadName, entry: "Files/" + strings.Repeat("n", 58) + "..."},
		{name: "control character", zip: with(file("Files/a\nb", "x")), reason: apppkg.ReasonBadName, entry: "Files/a\nb"},
		{name: "non-UTF-8 name", zip: with(file("Files/caf\xe9.txt", "x")), reason: apppkg.ReasonBadName, entry: "Files/caf\uFFFD.txt"},
		{name: "symlink", zip: with(apppkgtest.Entry{Name: "Files/link", Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink | 0o777}),
			reason: apppkg.ReasonNotRegular, entry: "Files/link"},
		{name: "device", zip: with(apppkgtest.Entry{Name: "Files/dev", Mode: fs.ModeDevice | 0o600}), reason: apppkg.ReasonNotRegular, entry: "Files/dev"},
		{name: "duplicate entry", zip: with(file("Definitions/appd.yaml", "appDId: other")), reason: apppkg.ReasonDuplicate, entry: "Definitions/appd.yaml"},
		{name: "duplicate ignoring case", zip: with(file("definitions/APPD.yaml", "x")), reason: apppkg.ReasonDuplicate, entry: "definitions/APPD.yaml"},
		{name: "file and directory", zip: with(file("Files/a", "x"), file("Files/a/b", "y")), reason: apppkg.ReasonDuplicate, entry: "Files/a/b"},
		{name: "bomb by count", zip: manyFiles(100), lim: apppkg.Limits{MaxEntries: 50}, reason: apppkg.ReasonTooManyEntries},
		{name: "bomb by ratio", zip: with(apppkgtest.Entry{Name: "Files/zeros", Data: zeros}), reason: apppkg.ReasonRatio, entry: "Files/zeros"},
		{name: "bomb by ratio over many entries", zip: func() []byte {
			es := make([]apppkgtest.Entry, 40)
			for i := range es {
				es[i] = apppkgtest.Entry{Name: fmt.Sprintf("Files/z%02d", i), Data: zeros[:200<<10]}
			}
			return with(es...)
		}(), lim: apppkg.Limits{RatioFloor: 1 << 20, MaxRatio: 100}, reason: apppkg.ReasonRatio, entry: "Files/z07"},
		{name: "entry over size limit", zip: with(file("Files/big", strings.Repeat("abcdefgh", 1<<10))),
			lim: apppkg.Limits{MaxEntrySize: 4 << 10}, reason: apppkg.ReasonTooLarge, entry: "Files/big"},
		{name: "total over size limit", zip: with(file("Files/a", strings.Repeat("a", 3<<10)), file("Files/b", strings.Repeat("b", 3<<10))),
			lim: apppkg.Limits{MaxTotalSize: 5 << 10}, reason: apppkg.ReasonTooLarge},
		{name: "header claims too much", zip: rawZip(t, rawEntry{name: "appd.yaml", data: []byte(appdYAML), method: zip.Store, claimSize: 1 << 40}),
			reason: apppkg.ReasonTooLarge, entry: "appd.yaml"},
		{name: "lying header size, deflate", zip: rawZip(t,
			rawEntry{name: "appd.yaml", data: []byte(appdYAML), method: zip.Deflate},
			rawEntry{name: "Files/zeros", data: zeros[:1<<20], method: zip.Deflate, claimSize: 100}),
			reason: apppkg.ReasonSizeMismatch, entry: "Files/zeros"},
		{name: "lying header size, store", zip: rawZip(t,
			rawEntry{name: "appd.yaml", data: []byte(appdYAML), method: zip.Store},
			rawEntry{name: "Files/x", data: []byte("0123456789"), method: zip.Store, claimSize: 4}),
			reason: apppkg.ReasonSizeMismatch, entry: "Files/x"},
		{name: "header size overstated", zip: rawZip(t,
			rawEntry{name: "appd.yaml", data: []byte(appdYAML), method: zip.Deflate, claimSize: uint64(len(appdYAML) + 10)}),
			reason: apppkg.ReasonSizeMismatch, entry: "appd.yaml"},
		{name: "bad CRC", zip: rawZip(t, rawEntry{name: "appd.yaml", data: []byte(appdYAML), method: zip.Deflate, crc: 12345}),
			reason: apppkg.ReasonCorrupt, entry: "appd.yaml"},
		{name: "unsupported method", zip: rawZip(t, rawEntry{name: "appd.yaml", data: []byte(appdYAML), method: 12}),
			reason: apppkg.ReasonUnsupported, entry: "appd.yaml"},
		{name: "nested zip", zip: with(file("Files/inner.zip", nested.String())), reason: apppkg.ReasonNestedArchive, entry: "Files/inner.zip"},
		{name: "no AppD", zip: apppkgtest.Zip(t, map[string]string{"Files/readme.txt": "x"}), reason: apppkg.ReasonNoAppD},
		{name: "two AppD candidates", zip: apppkgtest.Zip(t, map[string]string{"a.yaml": appdYAML, "b.json": "{}"}), reason: apppkg.ReasonNoAppD},
		{name: "Entry-Definitions absent", zip: apppkgtest.Zip(t, map[string]string{"TOSCA-Metadata/TOSCA.meta": meta}),
			reason: apppkg.ReasonNoAppD, entry: "Definitions/appd.yaml"},
		{name: "Entry-Definitions escapes", zip: apppkgtest.Zip(t, map[string]string{"TOSCA-Metadata/TOSCA.meta": "Entry-Definitions: ../appd.yaml\n"}),
			reason: apppkg.ReasonPathEscape, entry: "TOSCA-Metadata/TOSCA.meta"},
		{name: "TOSCA.meta without Entry-Definitions", zip: apppkgtest.Zip(t, map[string]string{"TOSCA-Metadata/TOSCA.meta": "CSAR-Version: 1.1\n", "appd.yaml": appdYAML}),
			reason: apppkg.ReasonToscaMeta, entry: "TOSCA-Metadata/TOSCA.meta"},
		{name: "AppD unparsable", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": "appDId: [\n"}), reason: apppkg.ReasonAppD, entry: "appd.yaml"},
		{name: "AppD field error", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": strings.Replace(appdYAML, "FORWARD_DECAPSULATED", "TELEPORT", 1)}),
			reason: apppkg.ReasonAppD, entry: "appd.yaml", ptr: "/appTrafficRule/0/action"},
		{name: "AppD too large", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": appdYAML + "appDescription: " + strings.Repeat("x", 2<<10) + "\n"}),
			lim: apppkg.Limits{MaxMetaSize: 1 << 10}, reason: apppkg.ReasonTooLarge, entry: "appd.yaml"},
		{name: "artefact named by TOSCA.meta absent", zip: apppkgtest.Zip(t, map[string]string{
			"TOSCA-Metadata/TOSCA.meta": meta + "\nName: Artifacts/Deployment/chart.tgz\n", "Definitions/appd.yaml": appdYAML}),
			reason: apppkg.ReasonMissingArtifact, entry: "Artifacts/Deployment/chart.tgz"},
		{name: "artefact named by manifest absent", zip: apppkgtest.Zip(t, map[string]string{
			"appd.yaml": appdYAML, "app.mf": "Source: Artifacts/k8s.yaml\n"}),
			reason: apppkg.ReasonMissingArtifact, entry: "Artifacts/k8s.yaml"},
		{name: "manifest named by TOSCA.meta absent", zip: apppkgtest.Zip(t, map[string]string{
			"TOSCA-Metadata/TOSCA.meta": meta + "ETSI-Entry-Manifest: app.mf\n", "Definitions/appd.yaml": appdYAML}),
			reason: apppkg.ReasonMissingArtifact, entry: "app.mf"},
		{name: "manifest digest mismatch", zip: apppkgtest.Zip(t, map[string]string{
			"appd.yaml": appdYAML, "app.mf": "Source: appd.yaml\nAlgorithm: SHA-256\nHash: " + sha("something else") + "\n"}),
			reason: apppkg.ReasonChecksum, entry: "appd.yaml"},
		{name: "manifest unknown algorithm", zip: apppkgtest.Zip(t, map[string]string{
			"appd.yaml": appdYAML, "app.mf": "Source: appd.yaml\nAlgorithm: MD5\nHash: 00\n"}),
			reason: apppkg.ReasonManifest, entry: "app.mf"},
		{name: "two manifests", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": appdYAML, "a.mf": "", "b.mf": ""}),
			reason: apppkg.ReasonManifest},
		{name: "chart does not render", zip: apppkgtest.Zip(t, withChart("Artifacts/Deployment/app/", map[string]string{"appd.yaml": appdYAML},
			map[string]string{"Chart.yaml": chart["Chart.yaml"], "templates/x.yaml": "{{ required \"need x\" .Values.x }}"})),
			reason: apppkg.ReasonChart, entry: "Artifacts/Deployment/app/"},
		{name: "chart without Chart.yaml version", zip: apppkgtest.Zip(t, withChart("Artifacts/Deployment/app/", map[string]string{"appd.yaml": appdYAML},
			map[string]string{"Chart.yaml": "apiVersion: v2\nname: app\n", "templates/x.yaml": chart["templates/service.yaml"]})),
			reason: apppkg.ReasonChart, entry: "Artifacts/Deployment/app/"},
		{name: "chart tgz not gzip", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": appdYAML, "Artifacts/Deployment/app.tgz": "not gzip"}),
			reason: apppkg.ReasonChart, entry: "Artifacts/Deployment/app.tgz"},
		{name: "two charts", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": appdYAML,
			"Artifacts/Deployment/a.tgz": string(apppkgtest.ChartTgz(t, "a", chart)), "Artifacts/Deployment/b.tgz": string(apppkgtest.ChartTgz(t, "b", chart))}),
			reason: apppkg.ReasonArtifacts, entry: "Artifacts/Deployment/b.tgz"},
		{name: "chart and manifests", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": appdYAML,
			"Artifacts/Deployment/a.tgz": string(apppkgtest.ChartTgz(t, "a", chart)), "Artifacts/Deployment/k8s.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"}),
			reason: apppkg.ReasonArtifacts, entry: "Artifacts/Deployment/k8s.yaml"},
		{name: "manifests do not parse", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": appdYAML, "Artifacts/k8s.yaml": "kind: [Service\n"}),
			reason: apppkg.ReasonManifests, entry: "Artifacts/k8s.yaml"},
		{name: "manifest object without name", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": appdYAML, "Artifacts/k8s.yaml": "apiVersion: v1\nkind: Service\n"}),
			reason: apppkg.ReasonManifests, entry: "Artifacts/k8s.yaml"},
		{name: "cluster-scoped object", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": appdYAML,
			"Artifacts/k8s.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: admin2}\n"}),
			reason: apppkg.ReasonClusterScoped, entry: "Artifacts/k8s.yaml"},
		{name: "cluster-scoped object in a chart", zip: apppkgtest.Zip(t, withChart("Artifacts/Deployment/app/", map[string]string{"appd.yaml": appdYAML},
			map[string]string{"Chart.yaml": chart["Chart.yaml"], "templates/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: {{ .Release.Namespace }}-x}\n"})),
			reason: apppkg.ReasonClusterScoped, entry: "Artifacts/Deployment/app/"},
		{name: "artefact over the memory limit", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": appdYAML,
			"Artifacts/k8s.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: " + strings.Repeat("x", 8<<10) + "}\n"}),
			lim: apppkg.Limits{MaxArtifactSize: 4 << 10}, reason: apppkg.ReasonTooLarge, entry: "Artifacts/k8s.yaml"},
		{name: "no artefact and no image", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": strings.Replace(appdYAML, `swImage: "registry.example/app:1", `, "", 1)}),
			reason: apppkg.ReasonArtifacts, entry: "appd.yaml", ptr: "/swImageDescriptor/0/swImage"},
		{name: "VM app without image", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": strings.Replace(appdYAML,
			`swImage: "registry.example/app:1", containerFormat: DOCKER`, `diskFormat: QCOW2`, 1)}),
			reason: apppkg.ReasonAppD, entry: "appd.yaml", ptr: "/swImageDescriptor/0/swImage"},
		{name: "image named in the package but absent", zip: apppkgtest.Zip(t, map[string]string{"appd.yaml": strings.Replace(appdYAML,
			`swImage: "registry.example/app:1", containerFormat: DOCKER`, `swImage: Artifacts/Images/vm.qcow2, diskFormat: QCOW2`, 1)}),
			reason: apppkg.ReasonMissingArtifact, entry: "Artifacts/Images/vm.qcow2", ptr: "/swImageDescriptor/0/swImage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read(t, tc.zip, tc.lim)
			require.Error(t, err)
			require.ErrorIs(t, err, apppkg.ErrInvalid)
			var pe *apppkg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.reason, pe.Reason, "error %v", err)
			assert.Equal(t, tc.entry, pe.Entry, "error %v", err)
			assert.Equal(t, tc.ptr, pe.Pointer, "error %v", err)
		})
	}
}

func TestReadAppDErrorUnwraps(t *testing.T) {
	zb := apppkgtest.Zip(t, map[string]string{"appd.yaml": "appDId: UPPER\n"})
	_, err := read(t, zb, apppkg.Limits{})
	require.ErrorIs(t, err, apppkg.ErrInvalid)
	require.ErrorIs(t, err, appd.ErrInvalid)
	var fe *appd.FieldError
	require.ErrorAs(t, err, &fe)
}

func TestLimits(t *testing.T) {
	require.NoError(t, apppkg.DefaultLimits().Validate())
	require.Error(t, apppkg.Limits{MaxRatio: -1}.Validate())
	_, err := read(t, apppkgtest.Package(t, "x"), apppkg.Limits{MaxEntries: -1})
	require.Error(t, err)
	assert.NotErrorIs(t, err, apppkg.ErrInvalid, "a bad limit is the caller's fault, not the package's")
}

func TestSamplePackageBuilder(t *testing.T) {
	p, err := read(t, apppkgtest.Package(t, "sample-1"), apppkg.Limits{})
	require.NoError(t, err)
	assert.Equal(t, "sample-1", p.AppD.AppDID)
	assert.Equal(t, 2, p.Entries)
}
