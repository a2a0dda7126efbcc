package apppkg

import (
	"bytes"

	"github.com/edgemec/edgemec/meo/internal/appd"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Package is a read and checked app package: what the orchestrator keeps of it (as JSON)
// so that it never reads the zip again.
type Package struct {
	// AppD is the parsed AppD; AppDRaw its bytes as the package holds them (served back by
	// GET .../appd); AppDPath its entry.
	AppD     *appd.AppD `json:"appd"`
	AppDPath string     `json:"appdPath"`
	AppDRaw  []byte     `json:"appdRaw"`
	// ToscaMeta and Manifest are the parsed metadata, when the package has them.
	ToscaMeta *ToscaMeta `json:"toscaMeta,omitempty"`
	Manifest  *Manifest  `json:"manifest,omitempty"`
	// Artifacts are the deployment artefacts: one Helm chart, or manifests files, or none.
	Artifacts []Artifact `json:"artifacts,omitempty"`
	// Entries is the number of zip entries; Size the bytes they decompress to.
	Entries int   `json:"entries"`
	Size    int64 `json:"size"`
}

// ArtifactKind is the kind of a deployment artefact.
type ArtifactKind string

// Kinds of deployment artefact.
const (
	KindHelmChart ArtifactKind = "helm-chart"
	KindManifests ArtifactKind = "manifests"
)

// Artifact is one deployment artefact.
type Artifact struct {
	// Path is the entry (a chart .tgz or a manifests file) or, for a chart directory, the
	// directory with a trailing slash.
	Path string       `json:"path"`
	Kind ArtifactKind `json:"kind"`
	// Data is the chart as a .tgz (a chart directory packed) or the manifests file as given.
	Data []byte `json:"data"`
	// Objects are the Kubernetes objects the artefact makes (rendered with default values
	// for a chart), and Rendered the same objects as YAML documents.
	Objects  []Object `json:"objects"`
	Rendered string   `json:"rendered"`
}

// Object names a Kubernetes object.
type Object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

// VIMArtifacts are the artefacts in the form the VIM adapters take: the chart, or the
// manifests files joined into one stream, plus the AppD's ports.
func (p *Package) VIMArtifacts() vim.Artifacts {
	var a vim.Artifacts
	var mf [][]byte
	for _, art := range p.Artifacts {
		switch art.Kind {
		case KindHelmChart:
			a.Chart = art.Data
		case KindManifests:
			mf = append(mf, art.Data)
		}
	}
	if len(mf) > 0 {
		a.Manifests = bytes.Join(mf, []byte("\n---\n"))
	}
	a.Ports = p.AppD.Ports()
	return a
}

// DeployRequest is the VIM request for instance appInstanceID of this package's app (see
// appd.AppD.DeployRequest for what the caller adds).
func (p *Package) DeployRequest(appInstanceID string) vim.DeployRequest {
	return p.AppD.DeployRequest(appInstanceID, p.VIMArtifacts())
}
