package apppkg

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"

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
	// AppDFormat is "json" when AppDRaw is JSON, else "yaml" (TOSCA AppDs included).
	AppDFormat string `json:"appdFormat"`
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

// SoftwareImageInfo is an Mm1 AppPkgSWImageInfo: one software image of the package, from
// the AppD's swImageDescriptor.
type SoftwareImageInfo struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Version         string `json:"version,omitempty"`
	ContainerFormat string `json:"containerFormat,omitempty"`
	DiskFormat      string `json:"diskFormat,omitempty"`
	SwImage         string `json:"swImage,omitempty"`
	Size            int64  `json:"size,omitempty"`
}

// SoftwareImages lists the package's software images for AppPkgInfo.softwareImages. An image
// without id or name takes its position and the app's name.
func (p *Package) SoftwareImages() []SoftwareImageInfo {
	out := make([]SoftwareImageInfo, 0, len(p.AppD.SwImageDescriptor))
	for i, d := range p.AppD.SwImageDescriptor {
		s := SoftwareImageInfo{ID: d.ID, Name: d.Name, Version: d.Version, ContainerFormat: string(d.ContainerFormat),
			DiskFormat: string(d.DiskFormat), SwImage: d.SwImage, Size: d.Size}
		if s.ID == "" {
			s.ID = "image-" + strconv.Itoa(i)
		}
		if s.Name == "" {
			s.Name = p.AppD.AppName
		}
		out = append(out, s)
	}
	return out
}

// ArtifactInfo is an Mm1 AppPkgArtifactInfo: one deployment artefact, with the SHA-256 of the
// bytes the VIM gets (a chart directory's packed .tgz) and its kind.
type ArtifactInfo struct {
	ArtifactPath string       `json:"artifactPath"`
	Checksum     Checksum     `json:"checksum"`
	Kind         ArtifactKind `json:"kind"`
}

// Checksum is an Mm1 Checksum.
type Checksum struct {
	Algorithm string `json:"algorithm"`
	Hash      string `json:"hash"`
}

// ArtifactInfos lists the deployment artefacts for AppPkgInfo.additionalArtifacts.
func (p *Package) ArtifactInfos() []ArtifactInfo {
	out := make([]ArtifactInfo, 0, len(p.Artifacts))
	for _, a := range p.Artifacts {
		h := sha256.Sum256(a.Data)
		out = append(out, ArtifactInfo{ArtifactPath: a.Path, Checksum: Checksum{Algorithm: "SHA-256", Hash: hex.EncodeToString(h[:])}, Kind: a.Kind})
	}
	return out
}
