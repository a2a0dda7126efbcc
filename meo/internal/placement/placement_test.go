package placement

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

const (
	mi = int64(1) << 20
	gi = int64(1) << 30
)

// site returns a healthy, schedulable Kubernetes site in Germany with 8 CPUs, 16 GiB and 110
// pods, amd64, serving TAC 12345 at 5 ms, changed by the given functions.
func site(id string, opts ...func(*Site)) Site {
	s := Site{
		ID:           id,
		Name:         "site " + id,
		Schedulable:  true,
		MEPReachable: true,
		VIMReachable: true,
		VIMKind:      vim.KindKubernetes,
		Capabilities: vim.Capabilities{
			Kind:          vim.KindKubernetes,
			Allocatable:   vim.Resources{MilliCPU: 8000, MemoryBytes: 16 * gi, Pods: 110},
			Architectures: []string{"amd64"},
			NodeKinds:     []vim.NodeKind{vim.NodeCloud},
		},
		Location: Location{
			Lat: 48.137, Lon: 11.575,
			CountryCode:  "DE",
			CivicAddress: []CivicAddressElement{{CaType: 1, CaValue: "Bavaria"}, {CaType: 3, CaValue: "Munich"}},
			ServedAreas:  []ServedArea{{Area: Area{TAC: "12345"}, LatencyMs: 5}},
		},
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// request returns a container request for 1000m and 1 GiB, changed by the given functions.
func request(opts ...func(*Request)) Request {
	r := Request{
		AppDID:    "appd-1",
		Workload:  WorkloadContainer,
		Resources: vim.Resources{MilliCPU: 1000, MemoryBytes: gi},
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func kind(k vim.Kind) func(*Site) {
	return func(s *Site) { s.VIMKind = k; s.Capabilities.Kind = k }
}

func alloc(cpu, mem int64) func(*Site) {
	return func(s *Site) { s.Capabilities.Allocatable.MilliCPU, s.Capabilities.Allocatable.MemoryBytes = cpu, mem }
}

func committed(cpu, mem int64) func(*Site) {
	return func(s *Site) { s.Committed.MilliCPU, s.Committed.MemoryBytes = cpu, mem }
}

func served(areas ...ServedArea) func(*Site) {
	return func(s *Site) { s.Location.ServedAreas = areas }
}

func tac(code string, ms float64) ServedArea { return ServedArea{Area: Area{TAC: code}, LatencyMs: ms} }

func node(name, arch string, cpu, mem int64) vim.Node {
	return vim.Node{Name: name, Kind: vim.NodeCloud, Arch: arch, Ready: true, Schedulable: true,
		Allocatable: vim.Resources{MilliCPU: cpu, MemoryBytes: mem, Pods: 110}}
}

func nodes(n ...vim.Node) func(*Site) {
	return func(s *Site) { s.Capabilities.Nodes = n }
}

func instances(appd string, n int) func(*Site) {
	return func(s *Site) { s.Instances = map[string]int{appd: n} }
}

// square is a polygon of side 2d degrees around (lat, lon).
func square(lat, lon, d float64) []Point {
	return []Point{{lat - d, lon - d}, {lat - d, lon + d}, {lat + d, lon + d}, {lat + d, lon - d}}
}

func TestFilterRejections(t *testing.T) {
	munich := Point{Lat: 48.137, Lon: 11.575}
	berlin := Point{Lat: 52.52, Lon: 13.405}
	tests := []struct {
		name   string
		req    Request
		site   Site
		code   Code
		reason string
	}{
		{
			name: "cordoned", req: request(),
			site: site("a", func(s *Site) { s.Schedulable = false }),
			code: CodeNotSchedulable, reason: "not schedulable (cordoned)",
		},
		{
			name: "cordoned comes before unhealthy", req: request(),
			site: site("a", func(s *Site) { s.Schedulable, s.VIMReachable = false, false }),
			code: CodeNotSchedulable, reason: "not schedulable (cordoned)",
		},
		{
			name: "VIM unreachable", req: request(),
			site: site("a", func(s *Site) { s.VIMReachable = false }),
			code: CodeUnhealthy, reason: "unhealthy: VIM unreachable",
		},
		{
			name: "MEP unreachable", req: request(),
			site: site("a", func(s *Site) { s.MEPReachable = false }),
			code: CodeUnhealthy, reason: "unhealthy: MEP unreachable",
		},
		{
			name: "MEP and VIM unreachable", req: request(),
			site: site("a", func(s *Site) { s.MEPReachable, s.VIMReachable = false, false }),
			code: CodeUnhealthy, reason: "unhealthy: MEP and VIM unreachable",
		},
		{
			name: "VM image on kubernetes", req: request(func(r *Request) { r.Workload = WorkloadVM }),
			site: site("a"),
			code: CodeVIMKind, reason: "vim kind kubernetes cannot run a VM image",
		},
		{
			name: "VM image on kubeedge", req: request(func(r *Request) { r.Workload = WorkloadVM }),
			site: site("a", kind(vim.KindKubeEdge)),
			code: CodeVIMKind, reason: "vim kind kubeedge cannot run a VM image",
		},
		{
			name: "container image on libvirt", req: request(),
			site: site("a", kind(vim.KindLibvirt)),
			code: CodeVIMKind, reason: "vim kind libvirt cannot run a container image",
		},
		{
			name: "container image on kubevirt", req: request(),
			site: site("a", kind(vim.KindKubeVirt)),
			code: CodeVIMKind, reason: "vim kind kubevirt cannot run a container image",
		},
		{
			name: "VIM kind unknown", req: request(),
			site: site("a", kind("")),
			code: CodeVIMKind, reason: "vim kind (none) cannot run a container image",
		},
		{
			name: "arch", req: request(func(r *Request) { r.Architectures = []string{"arm64"} }),
			site: site("a"),
			code: CodeArch, reason: "arch: needs arm64, site has amd64",
		},
		{
			name: "arch several", req: request(func(r *Request) { r.Architectures = []string{"arm64", "riscv64"} }),
			site: site("a", func(s *Site) { s.Capabilities.Architectures = []string{"amd64", "s390x"} }),
			code: CodeArch, reason: "arch: needs arm64 or riscv64, site has amd64, s390x",
		},
		{
			name: "arch unknown on site", req: request(func(r *Request) { r.Architectures = []string{"amd64"} }),
			site: site("a", func(s *Site) { s.Capabilities.Architectures = nil }),
			code: CodeArch, reason: "arch: needs amd64, site has none",
		},
		{
			name: "cpu", req: request(func(r *Request) { r.Resources.MilliCPU = 2000 }),
			site: site("a", alloc(4000, 16*gi), committed(2800, 0)),
			code: CodeCPU, reason: "cpu: needs 2000m, 1200m free",
		},
		{
			name: "cpu times replicas", req: request(func(r *Request) { r.Replicas = 3 }),
			site: site("a", alloc(4000, 16*gi), committed(1500, 0)),
			code: CodeCPU, reason: "cpu: needs 3000m, 2500m free",
		},
		{
			name: "cpu overcommitted site", req: request(),
			site: site("a", alloc(4000, 16*gi), committed(4500, 0)),
			code: CodeCPU, reason: "cpu: needs 1000m, 0m free",
		},
		{
			name: "cpu comes before memory", req: request(func(r *Request) { r.Resources = vim.Resources{MilliCPU: 9000, MemoryBytes: 32 * gi} }),
			site: site("a"),
			code: CodeCPU, reason: "cpu: needs 9000m, 8000m free",
		},
		{
			name: "memory", req: request(func(r *Request) { r.Resources.MemoryBytes = 512 * mi }),
			site: site("a", alloc(8000, gi), committed(0, 768*mi)),
			code: CodeMemory, reason: "memory: needs 512Mi, 256Mi free",
		},
		{
			name: "memory in odd units", req: request(func(r *Request) { r.Resources.MemoryBytes = 3 * gi / 2 }),
			site: site("a", alloc(8000, gi+1000)),
			code: CodeMemory, reason: "memory: needs 1536Mi, 1073742824 free",
		},
		{
			name: "pods", req: request(func(r *Request) { r.Resources.Pods = 2 }),
			site: site("a", func(s *Site) { s.Capabilities.Allocatable.Pods, s.Committed.Pods = 110, 109 }),
			code: CodePods, reason: "pods: needs 2, 1 free",
		},
		{
			name: "no node holds a replica's cpu", req: request(func(r *Request) { r.Resources.MilliCPU = 3000 }),
			site: site("a", nodes(node("n1", "amd64", 2000, 8*gi), node("n2", "amd64", 2500, 8*gi))),
			code: CodeNodeFit, reason: "node: one replica needs 3000m cpu, the largest node has 2500m",
		},
		{
			name: "no node holds a replica's memory", req: request(func(r *Request) { r.Resources.MemoryBytes = 10 * gi }),
			site: site("a", nodes(node("n1", "amd64", 4000, 8*gi), node("n2", "amd64", 4000, 8*gi))),
			code: CodeNodeFit, reason: "node: one replica needs 10Gi memory, the largest node has 8Gi",
		},
		{
			name: "no node holds both", req: request(func(r *Request) { r.Resources = vim.Resources{MilliCPU: 3000, MemoryBytes: 6 * gi} }),
			site: site("a", nodes(node("n1", "amd64", 4000, 4*gi), node("n2", "amd64", 2000, 8*gi))),
			code: CodeNodeFit, reason: "node: no node has both 3000m cpu and 6Gi memory for one replica",
		},
		{
			name: "the big node is not ready", req: request(func(r *Request) { r.Resources.MilliCPU = 3000 }),
			site: site("a", nodes(node("n1", "amd64", 2000, 8*gi), func() vim.Node {
				n := node("n2", "amd64", 6000, 8*gi)
				n.Ready = false
				return n
			}())),
			code: CodeNodeFit, reason: "node: one replica needs 3000m cpu, the largest node has 2000m",
		},
		{
			name: "only nodes of another arch are big enough",
			req: request(func(r *Request) {
				r.Resources.MilliCPU = 3000
				r.Architectures = []string{"arm64"}
			}),
			site: site("a", func(s *Site) { s.Capabilities.Architectures = []string{"amd64", "arm64"} },
				nodes(node("n1", "amd64", 6000, 8*gi), node("n2", "arm64", 2000, 8*gi))),
			code: CodeNodeFit, reason: "node: one replica needs 3000m cpu, the largest node has 2000m",
		},
		{
			name: "no node of the arch is ready",
			req:  request(func(r *Request) { r.Architectures = []string{"arm64"} }),
			site: site("a", func(s *Site) { s.Capabilities.Architectures = []string{"amd64", "arm64"} },
				nodes(node("n1", "amd64", 6000, 8*gi))),
			code: CodeNodeFit, reason: "node: no ready, schedulable node of arch arm64",
		},
		{
			name: "country", req: request(func(r *Request) { r.Location.CountryCode = "FR" }),
			site: site("a"),
			code: CodeCountry, reason: "country: DE, wants FR",
		},
		{
			name: "country unknown on site", req: request(func(r *Request) { r.Location.CountryCode = "fr" }),
			site: site("a", func(s *Site) { s.Location.CountryCode = "" }),
			code: CodeCountry, reason: "country: unknown, wants FR",
		},
		{
			name: "country comes after capacity",
			req: request(func(r *Request) {
				r.Location.CountryCode = "FR"
				r.Resources.MilliCPU = 2000
			}),
			site: site("a", alloc(4000, 16*gi), committed(2800, 0)),
			code: CodeCPU, reason: "cpu: needs 2000m, 1200m free",
		},
		{
			name: "civic address other value",
			req: request(func(r *Request) {
				r.Location.CountryCode = "DE"
				r.Location.CivicAddress = []CivicAddressElement{{CaType: 1, CaValue: "Bavaria"}, {CaType: 3, CaValue: "Berlin"}}
			}),
			site: site("a"),
			code: CodeCivicAddress, reason: "civic address: caType 3 (A3) is Munich, wants Berlin",
		},
		{
			name: "civic address element missing",
			req: request(func(r *Request) {
				r.Location.CivicAddress = []CivicAddressElement{{CaType: 24, CaValue: "80331"}}
			}),
			site: site("a"),
			code: CodeCivicAddress, reason: "civic address: caType 24 (PC) unknown, wants 80331",
		},
		{
			name: "civic address unnamed caType",
			req: request(func(r *Request) {
				r.Location.CivicAddress = []CivicAddressElement{{CaType: 99, CaValue: "x"}}
			}),
			site: site("a"),
			code: CodeCivicAddress, reason: "civic address: caType 99 unknown, wants x",
		},
		{
			name: "area TAC", req: request(func(r *Request) { r.Location.Area = &Area{TAC: "54321"} }),
			site: site("a"),
			code: CodeArea, reason: "area: does not serve TAC 54321",
		},
		{
			name: "area TAC against served polygons only", req: request(func(r *Request) { r.Location.Area = &Area{TAC: "12345"} }),
			site: site("a", served(ServedArea{Area: Area{Polygon: square(48.137, 11.575, 0.1)}, LatencyMs: 2})),
			code: CodeArea, reason: "area: does not serve TAC 12345",
		},
		{
			name: "area point outside the served polygon", req: request(func(r *Request) { r.Location.Area = &Area{Point: &berlin} }),
			site: site("a", served(ServedArea{Area: Area{Polygon: square(munich.Lat, munich.Lon, 0.1)}, LatencyMs: 2})),
			code: CodeArea, reason: "area: does not serve point 52.52,13.405",
		},
		{
			name: "area point outside the served circle", req: request(func(r *Request) { r.Location.Area = &Area{Point: &berlin} }),
			site: site("a", served(ServedArea{Area: Area{Circle: &Circle{Center: munich, RadiusM: 50_000}}, LatencyMs: 2})),
			code: CodeArea, reason: "area: does not serve point 52.52,13.405",
		},
		{
			name: "area polygon disjoint from served polygon", req: request(func(r *Request) { r.Location.Area = &Area{Polygon: square(berlin.Lat, berlin.Lon, 0.2)} }),
			site: site("a", served(ServedArea{Area: Area{Polygon: square(munich.Lat, munich.Lon, 0.2)}, LatencyMs: 2})),
			code: CodeArea, reason: "area: does not serve polygon of 4 vertices",
		},
		{
			name: "area circle disjoint from served circle",
			req:  request(func(r *Request) { r.Location.Area = &Area{Circle: &Circle{Center: berlin, RadiusM: 100_000}} }),
			site: site("a", served(ServedArea{Area: Area{Circle: &Circle{Center: munich, RadiusM: 100_000}}, LatencyMs: 2})),
			code: CodeArea, reason: "area: does not serve circle of 100000 m around 52.52,13.405",
		},
		{
			name: "latency", req: request(func(r *Request) { r.MaxLatencyMs = 10 }),
			site: site("a", served(tac("12345", 14))),
			code: CodeLatency, reason: "latency 14 ms > maxLatency 10 ms",
		},
		{
			name: "latency in fractions of a ms", req: request(func(r *Request) { r.MaxLatencyMs = MaxLatencyFromNanos(2_000_000) }),
			site: site("a", served(tac("12345", 2.5))),
			code: CodeLatency, reason: "latency 2.5 ms > maxLatency 2 ms",
		},
		{
			name: "latency to the requested area, not the best one",
			req: request(func(r *Request) {
				r.MaxLatencyMs = 10
				r.Location.Area = &Area{TAC: "222"}
			}),
			site: site("a", served(tac("111", 3), tac("222", 14))),
			code: CodeLatency, reason: "latency 14 ms > maxLatency 10 ms",
		},
		{
			name: "latency unknown", req: request(func(r *Request) { r.MaxLatencyMs = 10 }),
			site: site("a", served()),
			code: CodeLatencyUnknown, reason: "latency unknown (site serves no areas), maxLatency 10 ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.req.Validate())
			require.NoError(t, tt.site.Validate())
			d := Decide(tt.req, []Site{tt.site})
			assert.Nil(t, d.Chosen)
			assert.Empty(t, d.Candidates)
			require.Len(t, d.Rejected, 1)
			assert.Equal(t, Rejection{SiteID: "a", SiteName: "site a", Code: tt.code, Reason: tt.reason}, d.Rejected[0])
			err := d.Err()
			require.ErrorIs(t, err, ErrNoSite)
			var nse *NoSiteError
			require.ErrorAs(t, err, &nse)
			assert.Equal(t, "no edge site fits: 1 site rejected\na (site a): "+tt.reason, nse.Detail())
		})
	}
}

func TestFilterPasses(t *testing.T) {
	munich := Point{Lat: 48.137, Lon: 11.575}
	tests := []struct {
		name    string
		req     Request
		site    Site
		latency *float64 // the latency the score was computed from; nil if unknown
	}{
		{name: "defaults", req: request(), site: site("a"), latency: ptr(5.0)},
		{name: "container on k3s", req: request(), site: site("a", kind(vim.KindK3s)), latency: ptr(5.0)},
		{name: "container on kubeedge", req: request(), site: site("a", kind(vim.KindKubeEdge)), latency: ptr(5.0)},
		{name: "VM on kubevirt", req: request(func(r *Request) { r.Workload = WorkloadVM }), site: site("a", kind(vim.KindKubeVirt)), latency: ptr(5.0)},
		{name: "VM on libvirt", req: request(func(r *Request) { r.Workload = WorkloadVM }), site: site("a", kind(vim.KindLibvirt)), latency: ptr(5.0)},
		{
			name: "arch names normalised", req: request(func(r *Request) { r.Architectures = []string{"aarch64"} }),
			site: site("a", func(s *Site) { s.Capabilities.Architectures = []string{"amd64", "arm64"} }), latency: ptr(5.0),
		},
		{
			name: "any arch when none asked", req: request(),
			site: site("a", func(s *Site) { s.Capabilities.Architectures = nil }), latency: ptr(5.0),
		},
		{
			name: "need equal to free", req: request(func(r *Request) { r.Resources = vim.Resources{MilliCPU: 2000, MemoryBytes: 512 * mi} }),
			site: site("a", alloc(4000, gi), committed(2000, 512*mi)), latency: ptr(5.0),
		},
		{
			name: "replicas may each go to a different node", req: request(func(r *Request) { r.Replicas = 3; r.Resources.MilliCPU = 2000 }),
			site:    site("a", nodes(node("n1", "amd64", 2000, 8*gi), node("n2", "amd64", 2000, 8*gi), node("n3", "amd64", 4000, 8*gi))),
			latency: ptr(5.0),
		},
		{
			name: "one node of the arch holds a replica",
			req: request(func(r *Request) {
				r.Resources.MilliCPU = 3000
				r.Architectures = []string{"x86_64"}
			}),
			site: site("a", nodes(node("n1", "arm64", 6000, 8*gi), node("n2", "amd64", 3000, 8*gi))), latency: ptr(5.0),
		},
		{
			name: "pods not counted by the site", req: request(func(r *Request) { r.Resources.Pods = 500 }),
			site: site("a", func(s *Site) { s.Capabilities.Allocatable.Pods = 0 }), latency: ptr(5.0),
		},
		{
			name: "country and civic address ignore case and space",
			req: request(func(r *Request) {
				r.Location.CountryCode = "de"
				r.Location.CivicAddress = []CivicAddressElement{{CaType: 3, CaValue: " munich "}}
			}),
			site: site("a"), latency: ptr(5.0),
		},
		{
			name: "latency equal to maxLatency", req: request(func(r *Request) { r.MaxLatencyMs = 5 }),
			site: site("a"), latency: ptr(5.0),
		},
		{
			name: "best served latency without an area", req: request(func(r *Request) { r.MaxLatencyMs = 10 }),
			site: site("a", served(tac("1", 30), tac("2", 7), tac("3", 12))), latency: ptr(7.0),
		},
		{
			name: "lowest latency among areas covering the point",
			req: request(func(r *Request) {
				r.MaxLatencyMs = 10
				r.Location.Area = &Area{Point: &munich}
			}),
			site: site("a", served(
				tac("12345", 1),
				ServedArea{Area: Area{Circle: &Circle{Center: munich, RadiusM: 1000}}, LatencyMs: 9},
				ServedArea{Area: Area{Polygon: square(munich.Lat, munich.Lon, 0.5)}, LatencyMs: 6},
				ServedArea{Area: Area{Polygon: square(0, 0, 0.5)}, LatencyMs: 2},
			)),
			latency: ptr(6.0),
		},
		{
			name: "TAC case-insensitive", req: request(func(r *Request) { r.Location.Area = &Area{TAC: "1a2B"} }),
			site: site("a", served(tac("1A2b", 4))), latency: ptr(4.0),
		},
		{
			name: "polygon overlapping a served polygon",
			req:  request(func(r *Request) { r.Location.Area = &Area{Polygon: square(48.5, 11.5, 0.3)} }),
			site: site("a", served(ServedArea{Area: Area{Polygon: square(48.2, 11.5, 0.2)}, LatencyMs: 3})), latency: ptr(3.0),
		},
		{
			name: "polygon overlapping a served circle",
			req:  request(func(r *Request) { r.Location.Area = &Area{Polygon: square(48.137, 12.0, 0.2)} }),
			site: site("a", served(ServedArea{Area: Area{Circle: &Circle{Center: munich, RadiusM: 20_000}}, LatencyMs: 3})), latency: ptr(3.0),
		},
		{
			name: "circle overlapping a served circle",
			req: request(func(r *Request) {
				r.Location.Area = &Area{Circle: &Circle{Center: Point{Lat: 48.137, Lon: 12.0}, RadiusM: 20_000}}
			}),
			site: site("a", served(ServedArea{Area: Area{Circle: &Circle{Center: munich, RadiusM: 20_000}}, LatencyMs: 3})), latency: ptr(3.0),
		},
		{
			name: "no latency known and none needed", req: request(),
			site: site("a", served()), latency: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.req.Validate())
			require.NoError(t, tt.site.Validate())
			d := Decide(tt.req, []Site{tt.site})
			require.Empty(t, d.Rejected)
			require.NotNil(t, d.Chosen)
			assert.Equal(t, "a", d.Chosen.SiteID)
			assert.Equal(t, tt.latency, d.Chosen.Score.LatencyMs)
			require.NoError(t, d.Err())
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestPinned(t *testing.T) {
	better := func(s *Site) { s.Location.ServedAreas = []ServedArea{tac("12345", 1)} }
	tests := []struct {
		name     string
		pinned   []string
		sites    []Site
		chosen   string // "" for none
		rejected map[string]Code
		unknown  []string
	}{
		{
			name:   "only the pinned site, though another is better",
			pinned: []string{"b"},
			sites:  []Site{site("a", better), site("b"), site("c", better)},
			chosen: "b", rejected: map[string]Code{"a": CodeNotSelected, "c": CodeNotSelected},
		},
		{
			name:   "a pinned site that fails a filter is rejected with its reason",
			pinned: []string{"a", "b"},
			sites:  []Site{site("a", better, committed(7500, 0)), site("b"), site("c", better)},
			chosen: "b", rejected: map[string]Code{"a": CodeCPU, "c": CodeNotSelected},
		},
		{
			name:   "the best of several pinned sites",
			pinned: []string{"c", "b"},
			sites:  []Site{site("a", better), site("b"), site("c", better)},
			chosen: "c", rejected: map[string]Code{"a": CodeNotSelected},
		},
		{
			name:   "every pinned site fails",
			pinned: []string{"a"},
			sites:  []Site{site("a", func(s *Site) { s.Schedulable = false }), site("b")},
			chosen: "", rejected: map[string]Code{"a": CodeNotSchedulable, "b": CodeNotSelected},
		},
		{
			name:   "pinned site not in the inventory",
			pinned: []string{"zz", "b", "yy", "zz"},
			sites:  []Site{site("a"), site("b")},
			chosen: "b", rejected: map[string]Code{"a": CodeNotSelected}, unknown: []string{"yy", "zz"},
		},
		{
			name:   "only unknown pinned sites",
			pinned: []string{"zz"},
			sites:  []Site{site("a")},
			chosen: "", rejected: map[string]Code{"a": CodeNotSelected}, unknown: []string{"zz"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(request(func(r *Request) { r.Pinned = tt.pinned }), tt.sites)
			if tt.chosen == "" {
				assert.Nil(t, d.Chosen)
			} else {
				require.NotNil(t, d.Chosen)
				assert.Equal(t, tt.chosen, d.Chosen.SiteID)
			}
			got := map[string]Code{}
			for _, r := range d.Rejected {
				got[r.SiteID] = r.Code
				assert.NotEmpty(t, r.Reason)
			}
			assert.Equal(t, tt.rejected, got)
			assert.Equal(t, tt.unknown, d.UnknownPinned)
		})
	}
}

func TestPinnedDetail(t *testing.T) {
	d := Decide(request(func(r *Request) { r.Pinned = []string{"a", "gone"} }), []Site{
		site("b"),
		site("a", func(s *Site) { s.VIMReachable = false }),
	})
	require.Nil(t, d.Chosen)
	assert.Equal(t, "no edge site fits: 2 sites rejected\n"+
		"a (site a): unhealthy: VIM unreachable\n"+
		"b (site b): not in selectedMECHostInfo\n"+
		"gone: pinned in selectedMECHostInfo but not in the inventory", d.Detail())

	// Given only the pinned sites (as the executor reads them), none of which exists.
	d = Decide(request(func(r *Request) { r.Pinned = []string{"gone"} }), nil)
	require.Nil(t, d.Chosen)
	assert.Equal(t, "no edge site fits: no pinned site in the inventory\n"+
		"gone: pinned in selectedMECHostInfo but not in the inventory", d.Detail())
}

func TestScorePrefers(t *testing.T) {
	tests := []struct {
		name  string
		req   Request
		sites []Site
		want  string
	}{
		{
			name:  "larger latency margin",
			req:   request(func(r *Request) { r.MaxLatencyMs = 20 }),
			sites: []Site{site("a", served(tac("1", 12))), site("b", served(tac("1", 4))), site("c", served(tac("1", 8)))},
			want:  "b",
		},
		{
			name:  "lower latency without maxLatency",
			req:   request(),
			sites: []Site{site("a", served(tac("1", 12))), site("b", served(tac("1", 40))), site("c", served(tac("1", 2)))},
			want:  "c",
		},
		{
			name:  "known latency over unknown",
			req:   request(),
			sites: []Site{site("a", served()), site("b", served(tac("1", 200)))},
			want:  "b",
		},
		{
			name:  "more free capacity after placement",
			req:   request(),
			sites: []Site{site("a", committed(6000, 8*gi)), site("b", committed(2000, 2*gi)), site("c", committed(4000, 4*gi))},
			want:  "b",
		},
		{
			name: "balanced: no site run short of one resource",
			req:  request(),
			// a keeps 87% of its CPU but 6% of its memory; b keeps 50% of both.
			sites: []Site{site("a", committed(0, 14*gi)), site("b", committed(3000, 7*gi))},
			want:  "b",
		},
		{
			name:  "fewer instances of the same app",
			req:   request(),
			sites: []Site{site("a", instances("appd-1", 2)), site("b", instances("appd-1", 1)), site("c", instances("appd-1", 3))},
			want:  "b",
		},
		{
			name:  "instances of other apps do not count",
			req:   request(),
			sites: []Site{site("a", instances("appd-1", 1)), site("b", instances("other", 5))},
			want:  "b",
		},
		{
			name:  "spreading beats a small latency gain",
			req:   request(func(r *Request) { r.MaxLatencyMs = 10 }),
			sites: []Site{site("a", served(tac("1", 2)), instances("appd-1", 1)), site("b", served(tac("1", 4)))},
			want:  "b",
		},
		{
			name:  "ties go to the smallest site ID",
			req:   request(),
			sites: []Site{site("c"), site("a"), site("b")},
			want:  "a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.req, tt.sites)
			require.NotNil(t, d.Chosen)
			assert.Equal(t, tt.want, d.Chosen.SiteID, "candidates: %+v", d.Candidates)
			assert.Equal(t, d.Candidates[0], *d.Chosen)
			for i := 1; i < len(d.Candidates); i++ {
				prev, cur := d.Candidates[i-1], d.Candidates[i]
				ok := prev.Score.Total > cur.Score.Total || (prev.Score.Total == cur.Score.Total && prev.SiteID < cur.SiteID)
				assert.True(t, ok, "candidates out of order: %+v before %+v", prev, cur)
			}
		})
	}
}

func TestScoreBreakdown(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		site Site
		want Score
	}{
		{
			name: "with maxLatency",
			req:  request(func(r *Request) { r.MaxLatencyMs = 10 }),
			site: site("a", alloc(4000, 4*gi), committed(1000, gi), served(tac("1", 5)), instances("appd-1", 1),
				func(s *Site) { s.Capabilities.Allocatable.Pods = 0 }),
			want: Score{
				Total: 4*500 + 3*500 + 3*500, Latency: 500, Capacity: 500, Spread: 500,
				LatencyMs: ptr(5.0), FreeAfter: vim.Resources{MilliCPU: 2000, MemoryBytes: 2 * gi}, Instances: 1,
			},
		},
		{
			name: "without maxLatency, memory scarcer",
			req:  request(func(r *Request) { r.Replicas = 2; r.Resources.Pods = 1 }),
			site: site("a", alloc(10000, 8*gi), served(tac("1", 10)), func(s *Site) { s.Committed.Pods = 8 }),
			want: Score{
				Total: 4*500 + 3*750 + 3*1000, Latency: 500, Capacity: 750, Spread: 1000,
				LatencyMs: ptr(10.0), FreeAfter: vim.Resources{MilliCPU: 8000, MemoryBytes: 6 * gi, Pods: 100},
			},
		},
		{
			name: "latency unknown, nothing allocatable known",
			req:  request(func(r *Request) { r.Resources = vim.Resources{} }),
			site: site("a", alloc(0, 0), served()),
			want: Score{Total: 3 * 1000, Spread: 1000, FreeAfter: vim.Resources{Pods: 110}},
		},
		{
			name: "zero latency and room to spare",
			req:  request(func(r *Request) { r.MaxLatencyMs = 10; r.Resources = vim.Resources{} }),
			site: site("a", served(tac("1", 0))),
			want: Score{
				Total: 10000, Latency: 1000, Capacity: 1000, Spread: 1000,
				LatencyMs: ptr(0.0), FreeAfter: vim.Resources{MilliCPU: 8000, MemoryBytes: 16 * gi, Pods: 110},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.req, []Site{tt.site})
			require.NotNil(t, d.Chosen)
			assert.Equal(t, tt.want, d.Chosen.Score)
		})
	}
}

func TestZeroSites(t *testing.T) {
	for _, sites := range [][]Site{nil, {}} {
		d := Decide(request(), sites)
		assert.Nil(t, d.Chosen)
		assert.Empty(t, d.Candidates)
		assert.Empty(t, d.Rejected)
		err := d.Err()
		require.True(t, errors.Is(err, ErrNoSite), "got %v; want ErrNoSite", err)
		assert.Equal(t, "no edge site fits: no sites in the inventory", err.Error())
		assert.Equal(t, "no edge site fits: no sites in the inventory", d.Detail())
	}
}

// TestOrderIndependent checks that shuffling the sites changes nothing.
func TestOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sites := randomSites(rng, 200)
	req := request(func(r *Request) { r.MaxLatencyMs = 15 })
	want := Decide(req, sites)
	require.NotNil(t, want.Chosen)
	for i := range 20 {
		shuffled := append([]Site(nil), sites...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		assert.Equal(t, want, Decide(req, shuffled), "shuffle %d", i)
	}
}

// TestDecideDoesNotModifyInput checks that Decide leaves its input alone.
func TestDecideDoesNotModifyInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sites := randomSites(rng, 50)
	before := cloneSites(sites)
	req := request(func(r *Request) { r.Pinned = []string{sites[3].ID, sites[1].ID} })
	Decide(req, sites)
	assert.Equal(t, before, sites)
	assert.Equal(t, []string{sites[3].ID, sites[1].ID}, req.Pinned)
}

func cloneSites(in []Site) []Site {
	out := make([]Site, len(in))
	for i, s := range in {
		s.Capabilities.Architectures = append([]string(nil), s.Capabilities.Architectures...)
		s.Location.ServedAreas = append([]ServedArea(nil), s.Location.ServedAreas...)
		s.Location.CivicAddress = append([]CivicAddressElement(nil), s.Location.CivicAddress...)
		out[i] = s
	}
	return out
}

// TestUnknownWorkload checks that a request that skipped Validate is still answered with a
// reason per site rather than placed anywhere.
func TestUnknownWorkload(t *testing.T) {
	tests := []struct {
		workload Workload
		reason   string
	}{
		{"", "vim kind kubernetes cannot run a workload of unknown kind"},
		{"wasm", `vim kind kubernetes cannot run a workload of kind "wasm"`},
	}
	for _, tt := range tests {
		t.Run(string(tt.workload), func(t *testing.T) {
			d := Decide(request(func(r *Request) { r.Workload = tt.workload }), []Site{site("a")})
			assert.Nil(t, d.Chosen)
			require.Len(t, d.Rejected, 1)
			assert.Equal(t, CodeVIMKind, d.Rejected[0].Code)
			assert.Equal(t, tt.reason, d.Rejected[0].Reason)
		})
	}
}
