package meo

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
)

// PackageReader is the pkgm.Reader onboarding uses: apppkg.Read within lim, which checks the zip
// and its AppD and renders its artefacts. The whole result is kept as Doc, so instantiation
// never reads the package again. It lives here, not in pkgm, because the AppD model
// holds the generated wire types and the domain stays free of HTTP packages.
func PackageReader(lim apppkg.Limits) pkgm.Reader {
	return func(r io.ReaderAt, size int64) (*pkgm.Parsed, error) {
		p, err := apppkg.Read(r, size, lim)
		if err != nil {
			return nil, err
		}
		doc, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode package: %w", err)
		}
		imgs, err := asMaps(p.SoftwareImages())
		if err != nil {
			return nil, err
		}
		arts, err := asMaps(p.ArtifactInfos())
		if err != nil {
			return nil, err
		}
		d := p.AppD
		return &pkgm.Parsed{AppDID: d.AppDID, AppName: d.AppName, AppProvider: d.AppProvider, AppSoftVersion: d.AppSoftVersion,
			AppDVersion: d.AppDVersion, AppD: p.AppDRaw, AppDFormat: p.AppDFormat,
			SoftwareImages: imgs, Artifacts: arts, Doc: doc}, nil
	}
}

// asMaps turns a list of structs into the JSON objects AppPkgInfo lists hold.
func asMaps[T any](v []T) ([]map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode package info: %w", err)
	}
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode package info: %w", err)
	}
	return out, nil
}
