package apppkg

import (
	"errors"
	"fmt"
	"time"
)

// Limits bound what one package may cost to read. The zero value of a field means its
// default; DefaultLimits returns them all.
type Limits struct {
	// MaxEntries is the most entries (files and directories) a zip may have. Default 4096.
	MaxEntries int
	// MaxEntrySize is the most bytes one entry may decompress to. Default 1 GiB (a package
	// may carry a VM image or documentation the orchestrator only stores).
	MaxEntrySize int64
	// MaxTotalSize is the most bytes all entries together may decompress to. Default 2 GiB.
	MaxTotalSize int64
	// MaxRatio is the highest decompressed/compressed ratio an entry or the whole package
	// may reach once past RatioFloor bytes. Default 100 (text compresses 5-20 times; zip
	// bombs reach 1000 and more).
	MaxRatio int64
	// RatioFloor is the decompressed size below which the ratio is not checked: small, very
	// regular files (a page of zeros) compress well and harm no one. Default 1 MiB.
	RatioFloor int64
	// MaxMetaSize bounds what is held in memory to be parsed: the AppD (also capped by
	// appd.MaxSize), TOSCA.meta and the manifest. Default 1 MiB.
	MaxMetaSize int64
	// MaxArtifactSize bounds one deployment artefact held in memory (a chart .tgz, a chart
	// directory's files together, or a manifests file) and its rendered form. Default 8 MiB,
	// what the Kubernetes adapters accept.
	MaxArtifactSize int64
	// MaxArtifactsTotal bounds all artefacts held in memory together. Default 16 MiB.
	MaxArtifactsTotal int64
	// MaxObjects bounds the Kubernetes objects the artefacts may hold. Default 1000.
	MaxObjects int
	// RenderTimeout bounds the time a Helm chart may take to render (render.go). Default 5 s.
	RenderTimeout time.Duration
	// MaxRenderItems bounds the list elements a chart's templates may build with until,
	// untilStep and seq in one render, all calls together. Default 100,000.
	MaxRenderItems int64
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxEntries:        4096,
		MaxEntrySize:      1 << 30,
		MaxTotalSize:      2 << 30,
		MaxRatio:          100,
		RatioFloor:        1 << 20,
		MaxMetaSize:       1 << 20,
		MaxArtifactSize:   8 << 20,
		MaxArtifactsTotal: 16 << 20,
		MaxObjects:        1000,
		RenderTimeout:     5 * time.Second,
		MaxRenderItems:    100_000,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int64, dv int64) {
		if *v == 0 {
			*v = dv
		}
	}
	if l.MaxEntries == 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxObjects == 0 {
		l.MaxObjects = d.MaxObjects
	}
	set(&l.MaxEntrySize, d.MaxEntrySize)
	set(&l.MaxTotalSize, d.MaxTotalSize)
	set(&l.MaxRatio, d.MaxRatio)
	set(&l.RatioFloor, d.RatioFloor)
	set(&l.MaxMetaSize, d.MaxMetaSize)
	set(&l.MaxArtifactSize, d.MaxArtifactSize)
	set(&l.MaxArtifactsTotal, d.MaxArtifactsTotal)
	set(&l.MaxRenderItems, d.MaxRenderItems)
	if l.RenderTimeout == 0 {
		l.RenderTimeout = d.RenderTimeout
	}
	return l
}

// Validate reports negative limits.
func (l Limits) Validate() error {
	var errs []error
	for _, f := range []struct {
		n string
		v int64
	}{
		{"MaxEntries", int64(l.MaxEntries)}, {"MaxEntrySize", l.MaxEntrySize}, {"MaxTotalSize", l.MaxTotalSize},
		{"MaxRatio", l.MaxRatio}, {"RatioFloor", l.RatioFloor}, {"MaxMetaSize", l.MaxMetaSize},
		{"MaxArtifactSize", l.MaxArtifactSize}, {"MaxArtifactsTotal", l.MaxArtifactsTotal}, {"MaxObjects", int64(l.MaxObjects)},
		{"RenderTimeout", int64(l.RenderTimeout)}, {"MaxRenderItems", l.MaxRenderItems},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("apppkg limits: %s is negative", f.n))
		}
	}
	return errors.Join(errs...)
}
