package apppkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/yaml"

	"github.com/edgemec/edgemec/meo/internal/appd"
	"github.com/edgemec/edgemec/vim-adapters/manifest"
)

// planArtifacts settles which entries are deployment artefacts (see the package
// documentation) and checks that every entry TOSCA.meta or the manifest names exists.
func (rd *reader) planArtifacts() error {
	rd.keep = map[string]bool{rd.appdPath: true}
	skip := map[string]bool{ToscaMetaPath: true, rd.appdPath: true}
	if rd.manifest != nil {
		skip[rd.manifest.Path] = true
	}
	explicit := map[string]bool{}
	var listed []string
	add := func(ref, from string, expl bool) error {
		name, e := cleanRef(ref, from)
		if e != nil {
			return e
		}
		var names []string
		switch {
		case rd.files[name] != nil:
			names = []string{name}
		case rd.dirs[strings.TrimSuffix(name, "/")+"/"]:
			prefix := strings.TrimSuffix(name, "/") + "/"
			for f := range rd.files {
				if strings.HasPrefix(f, prefix) {
					names = append(names, f)
				}
			}
		default:
			return fail(ReasonMissingArtifact, name, "%s names it but the zip lacks it", from)
		}
		for _, n := range names {
			listed = append(listed, n)
			explicit[n] = explicit[n] || expl
		}
		return nil
	}
	if rd.meta != nil {
		for _, f := range rd.meta.Files {
			if err := add(f.Name, ToscaMetaPath, true); err != nil {
				return err
			}
		}
	}
	if rd.manifest != nil {
		for _, s := range rd.manifest.Sources {
			if s.External() {
				continue
			}
			if err := add(s.Path, rd.manifest.Path, false); err != nil {
				return err
			}
		}
	}
	rd.artifactDir = "Artifacts/"
	if rd.dirs["Artifacts/Deployment/"] {
		rd.artifactDir = "Artifacts/Deployment/"
	}
	var cands []string
	if len(listed) > 0 {
		for _, n := range listed {
			if explicit[n] || strings.HasPrefix(n, rd.artifactDir) {
				cands = append(cands, n)
			}
		}
	} else {
		for n := range rd.files {
			if strings.HasPrefix(n, rd.artifactDir) {
				cands = append(cands, n)
			}
		}
	}
	slices.Sort(cands)
	cands = slices.Compact(cands)
	dirs := chartDirs(cands)
	for _, n := range cands {
		if skip[n] || strings.HasPrefix(n, "Definitions/") {
			continue
		}
		if chartDirOf(n, dirs) != "" || isChartArchive(n) || isDoc(n) {
			rd.artifactList = append(rd.artifactList, n)
			rd.keep[n] = true
		}
	}
	return nil
}

// chartDirs are the outermost directories among names that hold a Chart.yaml.
func chartDirs(names []string) []string {
	var dirs []string
	for _, n := range names {
		if path.Base(n) == "Chart.yaml" {
			dirs = append(dirs, path.Dir(n)+"/")
		}
	}
	slices.Sort(dirs)
	var out []string
	for _, d := range dirs {
		if chartDirOf(d, out) == "" {
			out = append(out, d)
		}
	}
	return out
}

func chartDirOf(name string, dirs []string) string {
	for _, d := range dirs {
		if strings.HasPrefix(name, d) {
			return d
		}
	}
	return ""
}

func isChartArchive(name string) bool {
	l := strings.ToLower(name)
	return strings.HasSuffix(l, ".tgz") || strings.HasSuffix(l, ".tar.gz")
}

// buildArtifacts makes the artefacts from the kept entries and checks each renders into
// namespaced objects.
func (rd *reader) buildArtifacts(a *appd.AppD) ([]Artifact, error) {
	dirs := chartDirs(rd.artifactList)
	var arts []Artifact
	dirFiles := map[string][]string{}
	for _, n := range rd.artifactList {
		if d := chartDirOf(n, dirs); d != "" {
			dirFiles[d] = append(dirFiles[d], n)
			continue
		}
		kind := KindManifests
		if isChartArchive(n) {
			kind = KindHelmChart
		}
		arts = append(arts, Artifact{Path: n, Kind: kind, Data: rd.kept[n]})
	}
	for _, d := range dirs {
		tgz, err := packChart(d, dirFiles[d], rd.kept, rd.lim.MaxArtifactSize)
		if err != nil {
			return nil, err
		}
		arts = append(arts, Artifact{Path: d, Kind: KindHelmChart, Data: tgz})
	}
	slices.SortFunc(arts, func(x, y Artifact) int { return strings.Compare(x.Path, y.Path) })
	var charts, manifests []string
	for _, art := range arts {
		if art.Kind == KindHelmChart {
			charts = append(charts, art.Path)
		} else {
			manifests = append(manifests, art.Path)
		}
	}
	switch {
	case len(charts) > 1:
		return nil, fail(ReasonArtifacts, charts[1], "a second Helm chart (after %s); a package deploys one", charts[0])
	case len(charts) == 1 && len(manifests) > 0:
		return nil, fail(ReasonArtifacts, manifests[0], "manifests beside the Helm chart %s; a package deploys one or the other", charts[0])
	}
	objects := 0
	for i := range arts {
		art := &arts[i]
		var docs [][]byte
		var err error
		if art.Kind == KindHelmChart {
			if docs, err = renderChart(art.Data, a, rd.lim); err != nil {
				if errors.Is(err, errRenderBudget) {
					return nil, &Error{Reason: ReasonRenderBudget, Entry: art.Path, Detail: "the Helm chart is over its render budget", Cause: err}
				}
				return nil, &Error{Reason: ReasonChart, Entry: art.Path, Detail: "the Helm chart does not render", Cause: err}
			}
		} else {
			docs = [][]byte{art.Data}
		}
		objs, err := manifest.Decode(docs, manifest.Limits{MaxObjects: rd.lim.MaxObjects - objects})
		if err != nil {
			r := ReasonManifests
			if art.Kind == KindHelmChart {
				r = ReasonChart
			}
			return nil, &Error{Reason: r, Entry: art.Path, Detail: "objects do not decode", Cause: err}
		}
		objects += len(objs)
		var out bytes.Buffer
		for _, u := range objs {
			ref := Object{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Name: u.GetName()}
			if clusterScoped[ref.Kind] {
				return nil, fail(ReasonClusterScoped, art.Path, "%s %s is cluster-scoped; an app may only create namespaced objects", ref.Kind, ref.Name)
			}
			art.Objects = append(art.Objects, ref)
			y, err := yaml.Marshal(u.Object)
			if err != nil {
				return nil, &Error{Reason: ReasonManifests, Entry: art.Path, Detail: "object does not encode", Cause: err}
			}
			out.WriteString("---\n")
			out.Write(y)
		}
		if int64(out.Len()) > rd.lim.MaxArtifactSize {
			return nil, fail(ReasonTooLarge, art.Path, "renders to more than %d bytes", rd.lim.MaxArtifactSize)
		}
		art.Rendered = out.String()
	}
	return arts, nil
}

// packChart packs the files of a chart directory into a .tgz as `helm package` lays it out
// (one top directory named after the chart directory).
func packChart(dir string, names []string, kept map[string][]byte, maxSize int64) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	top := path.Base(strings.TrimSuffix(dir, "/"))
	var total int64
	for _, n := range names {
		b := kept[n]
		total += int64(len(b))
		if total > maxSize {
			return nil, fail(ReasonTooLarge, dir, "chart files hold more than %d bytes", maxSize)
		}
		hdr := &tar.Header{Name: top + "/" + strings.TrimPrefix(n, dir), Mode: 0o644, Size: int64(len(b)),
			ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("pack chart %s: %w", dir, err)
		}
		if _, err := tw.Write(b); err != nil {
			return nil, fmt.Errorf("pack chart %s: %w", dir, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("pack chart %s: %w", dir, err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("pack chart %s: %w", dir, err)
	}
	return buf.Bytes(), nil
}

// renderChart renders a packed chart offline with its default values, as the Kubernetes
// adapters will (with the instance's values under .Values.edgemec, given placeholders here).
func renderChart(tgz []byte, a *appd.AppD, lim Limits) ([][]byte, error) {
	maxSize := lim.MaxArtifactSize
	// Helm's loader allows 100 MiB decompressed; the package's limit is lower.
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("not a gzip archive: %w", err)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(gz, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if n > maxSize {
		return nil, fmt.Errorf("decompresses to more than %d bytes", maxSize)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	vals := map[string]any{"edgemec": map[string]any{
		"appInstanceId": "render-check", "appDId": a.AppDID,
		"mepEndpoint": "http://mep.invalid:8080", "secretName": "mec-mp1",
	}}
	rv, err := chartutil.ToRenderValues(ch, vals, common.ReleaseOptions{
		Name: "app", Namespace: "mec-render-check", Revision: 1, IsInstall: true,
	}, common.DefaultCapabilities.Copy())
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	b := &renderBudget{deadline: time.Now().Add(lim.RenderTimeout), timeout: lim.RenderTimeout,
		items: lim.MaxRenderItems, maxItems: lim.MaxRenderItems, maxBytes: maxSize}
	files, err := withinBudget(b, func() (map[string]string, error) {
		return engine.Engine{CustomTemplateFuncs: b.funcs()}.Render(ch, rv)
	})
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	var docs [][]byte
	var total int64
	for _, name := range slices.Sorted(maps.Keys(files)) {
		base := path.Base(name)
		if strings.HasPrefix(base, "_") || strings.HasSuffix(base, ".txt") || strings.TrimSpace(files[name]) == "" {
			continue
		}
		total += int64(len(files[name]))
		if total > maxSize {
			return nil, fmt.Errorf("renders to more than %d bytes", maxSize)
		}
		docs = append(docs, []byte(files[name]))
	}
	return docs, nil
}

// clusterScoped are the kinds of Kubernetes and common add-ons that live outside any
// namespace. The VIM adapters check scope again against the cluster's own API at deploy time;
// this list lets onboarding refuse the usual cases early.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "ComponentStatus": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true, "APIService": true,
	"StorageClass": true, "CSIDriver": true, "CSINode": true, "VolumeAttachment": true, "VolumeAttributesClass": true,
	"PriorityClass": true, "RuntimeClass": true, "IngressClass": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
	"CertificateSigningRequest": true, "ClusterTrustBundle": true, "FlowSchema": true,
	"PriorityLevelConfiguration": true, "PodSecurityPolicy": true, "IPAddress": true, "ServiceCIDR": true,
	"DeviceClass": true, "ResourceSlice": true, "StorageVersion": true, "StorageVersionMigration": true,
	"TokenReview": true, "SubjectAccessReview": true, "SelfSubjectAccessReview": true,
	"SelfSubjectRulesReview": true, "SelfSubjectReview": true,
	"ClusterIssuer": true, "GatewayClass": true, "ClusterPolicy": true,
}

// checkImage checks the app can run: a VM app needs its image reference; a container app
// without artefacts needs a container image; an image named as a package path must be there.
func (rd *reader) checkImage(p *Package) error {
	const ptr = "/swImageDescriptor/0/swImage"
	var ref string
	if len(p.AppD.SwImageDescriptor) > 0 {
		ref = p.AppD.SwImageDescriptor[0].SwImage
	}
	w := p.AppD.Workload()
	switch {
	case w.Kind == appd.KindVM && ref == "":
		return &Error{Reason: ReasonAppD, Entry: p.AppDPath, Pointer: ptr, Detail: "a VM app needs its image reference"}
	case ref == "" && len(p.Artifacts) == 0:
		return &Error{Reason: ReasonArtifacts, Entry: p.AppDPath, Pointer: ptr, Detail: "no deployment artefact and no swImage to run"}
	}
	for _, dir := range []string{"Artifacts/", "Files/", "Definitions/"} {
		if strings.HasPrefix(ref, dir) && rd.files[ref] == nil {
			return &Error{Reason: ReasonMissingArtifact, Entry: ref, Pointer: ptr, Detail: "the AppD names an image the zip lacks"}
		}
	}
	return nil
}
