package placement

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// ErrInvalid is matched by the errors of Request.Validate and Site.Validate.
var ErrInvalid = errors.New("invalid placement input")

// NormalizeArch maps CPU architecture names to Go's: x86_64 and x86-64 to amd64, aarch64 to
// arm64; others are lowercased.
func NormalizeArch(a string) string {
	switch a = strings.ToLower(strings.TrimSpace(a)); a {
	case "x86_64", "x86-64", "x64":
		return "amd64"
	case "aarch64", "arm64v8":
		return "arm64"
	}
	return a
}

// ResourcesFromCompute converts an AppD virtualComputeDescriptor into what one replica
// requests: numVirtualCpu cores rounded up to whole milli-CPUs, virtualMemSize MiB in bytes.
func ResourcesFromCompute(c vim.VirtualCompute) vim.Resources {
	return vim.Resources{
		MilliCPU:    int64(math.Ceil(c.VirtualCPUs*1000 - 1e-9)),
		MemoryBytes: c.MemoryMiB << 20,
	}
}

// MaxLatencyFromNanos converts the AppD's appLatency.maxLatency (ETSI MEC 010-2 / MEC 037
// LatencyDescriptor: a Uint32 in nanoseconds) into Request.MaxLatencyMs. A zero maxLatency
// would tolerate no latency at all; it is read as no limit.
func MaxLatencyFromNanos(ns uint32) float64 {
	return float64(ns) / 1e6
}

// Validate reports every problem with a request: an unknown workload, negative resources or
// replicas, a bad country code, a malformed area, a negative or non-finite maxLatency.
func (r Request) Validate() error {
	var errs []error
	if r.Workload != WorkloadContainer && r.Workload != WorkloadVM {
		errs = append(errs, fmt.Errorf("%w: workload %q is neither %s nor %s", ErrInvalid, r.Workload, WorkloadContainer, WorkloadVM))
	}
	if r.Resources.MilliCPU < 0 || r.Resources.MemoryBytes < 0 || r.Resources.Pods < 0 {
		errs = append(errs, fmt.Errorf("%w: negative resources", ErrInvalid))
	}
	if r.Replicas < 0 {
		errs = append(errs, fmt.Errorf("%w: negative replicas", ErrInvalid))
	}
	if c := r.Location.CountryCode; c != "" && !isCountryCode(c) {
		errs = append(errs, fmt.Errorf("%w: country code %q is not two letters", ErrInvalid, c))
	}
	if a := r.Location.Area; a != nil {
		if err := a.validate(true); err != nil {
			errs = append(errs, fmt.Errorf("%w: locationConstraints area: %w", ErrInvalid, err))
		}
	}
	if !validMs(r.MaxLatencyMs) {
		errs = append(errs, fmt.Errorf("%w: maxLatency %v ms", ErrInvalid, r.MaxLatencyMs))
	}
	return errors.Join(errs...)
}

// Validate reports every problem with a site's location: a bad country code, a malformed
// served area, a negative or non-finite latency.
func (s Site) Validate() error {
	var errs []error
	if s.ID == "" {
		errs = append(errs, fmt.Errorf("%w: site without id", ErrInvalid))
	}
	if c := s.Location.CountryCode; c != "" && !isCountryCode(c) {
		errs = append(errs, fmt.Errorf("%w: site %s: country code %q is not two letters", ErrInvalid, s.ID, c))
	}
	for i, sa := range s.Location.ServedAreas {
		if err := sa.validate(false); err != nil {
			errs = append(errs, fmt.Errorf("%w: site %s: served area %d: %w", ErrInvalid, s.ID, i, err))
		}
		if !validMs(sa.LatencyMs) {
			errs = append(errs, fmt.Errorf("%w: site %s: served area %d: latency %v ms", ErrInvalid, s.ID, i, sa.LatencyMs))
		}
	}
	return errors.Join(errs...)
}

func validMs(ms float64) bool {
	return ms >= 0 && !math.IsInf(ms, 1)
}

func isCountryCode(c string) bool {
	if len(c) != 2 {
		return false
	}
	for _, r := range c {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return true
}

// validate checks that exactly one shape is set and that it is well-formed. Points are only
// allowed in requests: a site serves areas, not points.
func (a Area) validate(pointOK bool) error {
	n := 0
	if a.TAC != "" {
		n++
	}
	if a.Point != nil {
		n++
		if !pointOK {
			return errors.New("a point serves no area; use a circle")
		}
		if !validPoint(*a.Point) {
			return fmt.Errorf("point %s out of range", a.Point)
		}
	}
	if len(a.Polygon) > 0 {
		n++
		if len(ring(a.Polygon)) < 3 {
			return errors.New("polygon with fewer than 3 vertices")
		}
		for _, p := range a.Polygon {
			if !validPoint(p) {
				return fmt.Errorf("polygon vertex %s out of range", p)
			}
		}
	}
	if a.Circle != nil {
		n++
		if !validPoint(a.Circle.Center) {
			return fmt.Errorf("circle centre %s out of range", a.Circle.Center)
		}
		if !(a.Circle.RadiusM > 0) || math.IsInf(a.Circle.RadiusM, 1) {
			return fmt.Errorf("circle radius %v m", a.Circle.RadiusM)
		}
	}
	if n != 1 {
		return fmt.Errorf("%d of tac, point, polygon and circle set; want exactly 1", n)
	}
	return nil
}

func validPoint(p Point) bool {
	return p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180
}
