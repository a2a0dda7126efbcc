// Package apppkgtest builds app package zips in memory for tests: valid ones from a map of
// files, and single entries with full control over their headers for hostile ones.
package apppkgtest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// Entry is one zip entry. The zero Method is zip.Deflate; Mode 0 is a regular 0644 file.
type Entry struct {
	Name   string
	Data   []byte
	Method uint16
	Mode   fs.FileMode
}

// Zip builds a zip of files (name → content), written in name order and deflated. Names
// ending in "/" are directories.
func Zip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var es []Entry
	for _, n := range slices.Sorted(maps.Keys(files)) {
		es = append(es, Entry{Name: n, Data: []byte(files[n])})
	}
	return ZipEntries(t, es...)
}

// ZipEntries builds a zip of entries in the order given, duplicates and hostile names
// included.
func ZipEntries(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.Name, Method: e.Method, Modified: time.Unix(1700000000, 0)}
		if e.Method == 0 && !strings.HasSuffix(e.Name, "/") {
			h.Method = zip.Deflate
		}
		switch {
		case e.Mode != 0:
			h.SetMode(e.Mode)
		case strings.HasSuffix(e.Name, "/"):
			h.SetMode(fs.ModeDir | 0o755)
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatalf("zip entry %q: %v", e.Name, err)
		}
		if _, err := w.Write(e.Data); err != nil {
			t.Fatalf("zip entry %q: %v", e.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("zip: %v", err)
	}
	return buf.Bytes()
}

// AppD returns a valid AppD (YAML) for a container app with id appDID, running image.
func AppD(appDID, image string) string {
	return `appDId: ` + appDID + `
appName: ` + appDID + `
appProvider: edgemec-test
appSoftVersion: "1.0"
appDVersion: "1.0"
mecVersion: ["2.2.1"]
appDescription: a test app
virtualComputeDescriptor:
  virtualCpu: {numVirtualCpu: 1}
  virtualMemory: {virtualMemSize: 256}
swImageDescriptor: {name: app, swImage: "` + image + `", containerFormat: DOCKER}
appExtCpd: [{cpdId: http, ports: [{name: http, port: 8080}]}]
appTrafficRule:
- trafficRuleId: tr1
  filterType: FLOW
  priority: 1
  action: FORWARD_DECAPSULATED
  dstInterface: [{interfaceType: IP, dstIpAddress: 10.10.0.10}]
  trafficFilter: [{dstAddress: [10.10.0.0/24], dstPort: ["8080"], protocol: [TCP]}]
appDNSRule:
- {dnsRuleId: dns1, domainName: ` + appDID + `.example.com, ipAddressType: IP_V4, ipAddress: 10.10.0.10}
`
}

// Package returns the zip of a minimal valid package: TOSCA.meta and the AppD of AppD.
func Package(t testing.TB, appDID string) []byte {
	t.Helper()
	return Zip(t, map[string]string{
		"TOSCA-Metadata/TOSCA.meta": "TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\nCreated-By: test\nEntry-Definitions: Definitions/appd.yaml\n",
		"Definitions/appd.yaml":     AppD(appDID, "registry.example/app:1"),
	})
}

// Chart returns the files of a small valid Helm chart named name, keyed by their path in the
// chart directory (Chart.yaml, values.yaml, templates/...).
func Chart(name string) map[string]string {
	return map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n",
		"values.yaml": "image: registry.example/app:1\nreplicas: 1\n",
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
      - name: app
        image: {{ .Values.image }}
        env: [{name: MEP, value: {{ .Values.edgemec.mepEndpoint | quote }}}]
`,
		"templates/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: {{ .Release.Name }}}\nspec: {ports: [{port: 80}]}\n",
		"templates/NOTES.txt":    "installed\n",
	}
}

// ChartTgz packs chart files (as Chart returns them) into a .tgz under directory name.
func ChartTgz(t testing.TB, name string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatalf("tar: %v", err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatalf("tar: %v", err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("tar: %v", err)
	}
	if err := gz.Close(); err != nil {
		t.Fatalf("gzip: %v", err)
	}
	return buf.Bytes()
}
