package placement

import (
	"math"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

func TestNormalizeArch(t *testing.T) {
	// " ARM64 " tests that surrounding space is ignored.
	tests := map[string]string{
		"x86_64": "amd64", "X86-64": "amd64", "amd64": "amd64", "aarch64": "arm64", " ARM64 ": "arm64", //nolint:gocritic // see above
		"riscv64": "riscv64", "": "",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			assert.Equal(t, want, NormalizeArch(in))
		})
	}
}

func TestResourcesFromCompute(t *testing.T) {
	tests := []struct {
		name string
		in   vim.VirtualCompute
		want vim.Resources
	}{
		{"whole cores", vim.VirtualCompute{VirtualCPUs: 2, MemoryMiB: 512}, vim.Resources{MilliCPU: 2000, MemoryBytes: 512 * mi}},
		{"fraction", vim.VirtualCompute{VirtualCPUs: 0.3, MemoryMiB: 1}, vim.Resources{MilliCPU: 300, MemoryBytes: mi}},
		{"below a milli-CPU rounds up", vim.VirtualCompute{VirtualCPUs: 0.0001}, vim.Resources{MilliCPU: 1}},
		{"nothing", vim.VirtualCompute{}, vim.Resources{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ResourcesFromCompute(tt.in))
		})
	}
}

func TestMaxLatencyFromNanos(t *testing.T) {
	tests := []struct {
		ns   uint32
		want float64
	}{
		{10_000_000, 10},
		{1_500_000, 1.5},
		{500_000, 0.5},
		{0, 0},
		{math.MaxUint32, 4294.967295},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, MaxLatencyFromNanos(tt.ns), "MaxLatencyFromNanos(%d)", tt.ns)
	}
}

func TestRequestValidate(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		errs []string // substrings of the error; none for a valid request
	}{
		{name: "valid", req: request()},
		{name: "valid with every constraint", req: request(func(r *Request) {
			r.Location = LocationConstraints{CountryCode: "de", CivicAddress: []CivicAddressElement{{CaType: 3, CaValue: "Munich"}},
				Area: &Area{Polygon: append(square(48, 11, 1), Point{47, 10})}}
			r.MaxLatencyMs = 0.5
		})},
		{name: "no workload", req: request(func(r *Request) { r.Workload = "" }), errs: []string{`workload "" is neither container nor vm`}},
		{name: "negative", req: request(func(r *Request) { r.Resources.MilliCPU = -1; r.Replicas = -1 }),
			errs: []string{"negative resources", "negative replicas"}},
		{name: "country", req: request(func(r *Request) { r.Location.CountryCode = "DEU" }), errs: []string{`country code "DEU"`}},
		{name: "two shapes", req: request(func(r *Request) { r.Location.Area = &Area{TAC: "1", Point: &Point{}} }),
			errs: []string{"2 of tac, point, polygon and circle set"}},
		{name: "empty area", req: request(func(r *Request) { r.Location.Area = &Area{} }),
			errs: []string{"0 of tac, point, polygon and circle set"}},
		{name: "short polygon", req: request(func(r *Request) { r.Location.Area = &Area{Polygon: []Point{{0, 0}, {1, 1}, {0, 0}}} }),
			errs: []string{"fewer than 3 vertices"}},
		{name: "point out of range", req: request(func(r *Request) { r.Location.Area = &Area{Point: &Point{Lat: 91}} }),
			errs: []string{"point 91,0 out of range"}},
		{name: "circle radius", req: request(func(r *Request) { r.Location.Area = &Area{Circle: &Circle{RadiusM: 0}} }),
			errs: []string{"circle radius 0 m"}},
		{name: "latency", req: request(func(r *Request) { r.MaxLatencyMs = math.NaN() }), errs: []string{"maxLatency NaN ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if len(tt.errs) == 0 {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			for _, e := range tt.errs {
				assert.Contains(t, err.Error(), e)
			}
		})
	}
}

func TestSiteValidate(t *testing.T) {
	tests := []struct {
		name string
		site Site
		errs []string
	}{
		{name: "valid", site: site("a", served(tac("1", 0), ServedArea{Area: Area{Circle: &Circle{RadiusM: 5}}, LatencyMs: 1}))},
		{name: "no id", site: site(""), errs: []string{"site without id"}},
		{name: "served point", site: site("a", served(ServedArea{Area: Area{Point: &Point{}}, LatencyMs: 1})),
			errs: []string{"served area 0: a point serves no area"}},
		{name: "negative latency", site: site("a", served(tac("1", -1))), errs: []string{"served area 0: latency -1 ms"}},
		{name: "infinite latency", site: site("a", served(tac("1", math.Inf(1)))), errs: []string{"served area 0: latency +Inf ms"}},
		{name: "country", site: site("a", func(s *Site) { s.Location.CountryCode = "1" }), errs: []string{`country code "1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.site.Validate()
			if len(tt.errs) == 0 {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			for _, e := range tt.errs {
				assert.Contains(t, err.Error(), e)
			}
		})
	}
}

// TestPure keeps the package free of clocks, randomness and I/O by what it imports: the
// standard library's pure packages and the vim types, nothing else.
func TestPure(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").CombinedOutput()
	require.NoError(t, err, "go list: %s", out)
	allowed := map[string]bool{
		"cmp": true, "errors": true, "fmt": true, "math": true, "slices": true, "strconv": true, "strings": true,
		"github.com/edgemec/edgemec/vim-adapters/vim": true,
	}
	imports := strings.Fields(string(out))
	require.NotEmpty(t, imports)
	for _, p := range imports {
		assert.True(t, allowed[p], "placement imports %s; Decide must stay pure (no clock, randomness or I/O)", p)
	}
}
