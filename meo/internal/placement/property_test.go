package placement

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

var (
	allKinds  = []vim.Kind{vim.KindKubernetes, vim.KindK3s, vim.KindKubeEdge, vim.KindKubeVirt, vim.KindLibvirt, ""}
	allArchs  = [][]string{nil, {"amd64"}, {"arm64"}, {"amd64", "arm64"}, {"x86_64"}}
	countries = []string{"DE", "FR", "IT", ""}
	regions   = []string{"Bavaria", "Hesse", "Alsace"}
	cities    = []Point{{48.137, 11.575}, {50.11, 8.682}, {48.573, 7.752}}
)

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// randomSites makes n sites with unique IDs and every attribute drawn at random, overcommitted
// and unreachable sites included.
func randomSites(rng *rand.Rand, n int) []Site {
	sites := make([]Site, n)
	for i := range sites {
		allocCPU := rng.Int64N(16000)
		allocMem := rng.Int64N(32) * gi
		s := Site{
			ID:           fmt.Sprintf("s%05d", i),
			Name:         fmt.Sprintf("site %d", i),
			Schedulable:  rng.IntN(10) > 0,
			MEPReachable: rng.IntN(10) > 0,
			VIMReachable: rng.IntN(10) > 0,
			VIMKind:      pick(rng, allKinds),
			Capabilities: vim.Capabilities{
				Allocatable:   vim.Resources{MilliCPU: allocCPU, MemoryBytes: allocMem, Pods: rng.Int64N(3) * 50},
				Architectures: pick(rng, allArchs),
			},
			Committed: vim.Resources{
				MilliCPU:    rng.Int64N(allocCPU + 2000),
				MemoryBytes: rng.Int64N(allocMem+2*gi) &^ (mi - 1),
				Pods:        rng.Int64N(60),
			},
			Location: Location{CountryCode: pick(rng, countries)},
		}
		if r := rng.IntN(len(regions) + 1); r < len(regions) {
			s.Location.CivicAddress = []CivicAddressElement{{CaType: 1, CaValue: regions[r]}}
		}
		for range rng.IntN(4) {
			lat := float64(rng.IntN(60)) / 2
			if rng.IntN(2) == 0 {
				s.Location.ServedAreas = append(s.Location.ServedAreas, tac(fmt.Sprint(100+rng.IntN(10)), lat))
			} else {
				c := Circle{Center: pick(rng, cities), RadiusM: float64(1+rng.IntN(100)) * 1000}
				s.Location.ServedAreas = append(s.Location.ServedAreas, ServedArea{Area: Area{Circle: &c}, LatencyMs: lat})
			}
		}
		if rng.IntN(2) == 0 {
			for j := range rng.IntN(4) {
				s.Capabilities.Nodes = append(s.Capabilities.Nodes, vim.Node{
					Name: fmt.Sprint("n", j), Arch: pick(rng, []string{"amd64", "arm64"}),
					Ready: rng.IntN(5) > 0, Schedulable: rng.IntN(5) > 0,
					Allocatable: vim.Resources{MilliCPU: rng.Int64N(8000), MemoryBytes: rng.Int64N(16) * gi},
				})
			}
		}
		if rng.IntN(2) == 0 {
			s.Instances = map[string]int{"appd-1": rng.IntN(4), "other": rng.IntN(4)}
		}
		sites[i] = s
	}
	return sites
}

func randomRequest(rng *rand.Rand, sites []Site) Request {
	r := Request{
		AppDID:        "appd-1",
		Workload:      pick(rng, []Workload{WorkloadContainer, WorkloadVM}),
		Architectures: pick(rng, [][]string{nil, {"amd64"}, {"aarch64"}, {"arm64", "amd64"}}),
		Resources:     vim.Resources{MilliCPU: rng.Int64N(4000), MemoryBytes: rng.Int64N(8) * gi, Pods: rng.Int64N(2)},
		Replicas:      rng.IntN(4),
	}
	if rng.IntN(5) == 0 {
		for range 1 + rng.IntN(3) {
			r.Pinned = append(r.Pinned, sites[rng.IntN(len(sites))].ID)
		}
		if rng.IntN(3) == 0 {
			r.Pinned = append(r.Pinned, "missing")
		}
	}
	if rng.IntN(3) == 0 {
		r.Location.CountryCode = pick(rng, countries[:3])
	}
	if rng.IntN(4) == 0 {
		r.Location.CivicAddress = []CivicAddressElement{{CaType: 1, CaValue: pick(rng, regions)}}
	}
	switch rng.IntN(4) {
	case 0:
		r.Location.Area = &Area{TAC: fmt.Sprint(100 + rng.IntN(10))}
	case 1:
		p := pick(rng, cities)
		p.Lat += (rng.Float64() - 0.5) / 2
		r.Location.Area = &Area{Point: &p}
	}
	if rng.IntN(2) == 0 {
		r.MaxLatencyMs = float64(rng.IntN(30))
	}
	return r
}

// oracle is a second, deliberately naive statement of the filters: whether s passes them all,
// and its latency (NaN if unknown).
func oracle(req Request, s Site) (bool, float64) {
	if len(req.Pinned) > 0 && !slices.Contains(req.Pinned, s.ID) {
		return false, 0
	}
	if !s.Schedulable || !s.MEPReachable || !s.VIMReachable {
		return false, 0
	}
	containers := []vim.Kind{vim.KindKubernetes, vim.KindK3s, vim.KindKubeEdge}
	vms := []vim.Kind{vim.KindKubeVirt, vim.KindLibvirt}
	if req.Workload == WorkloadContainer && !slices.Contains(containers, s.VIMKind) ||
		req.Workload == WorkloadVM && !slices.Contains(vms, s.VIMKind) {
		return false, 0
	}
	if len(req.Architectures) > 0 {
		ok := false
		for _, a := range req.Architectures {
			for _, b := range s.Capabilities.Architectures {
				ok = ok || NormalizeArch(a) == NormalizeArch(b)
			}
		}
		if !ok {
			return false, 0
		}
	}
	reps := int64(max(req.Replicas, 1))
	a, c := s.Capabilities.Allocatable, s.Committed
	if reps*req.Resources.MilliCPU > a.MilliCPU-c.MilliCPU || reps*req.Resources.MemoryBytes > a.MemoryBytes-c.MemoryBytes {
		return false, 0
	}
	if a.Pods > 0 && req.Resources.Pods > 0 && reps*req.Resources.Pods > a.Pods-c.Pods {
		return false, 0
	}
	if len(s.Capabilities.Nodes) > 0 && (req.Resources.MilliCPU > 0 || req.Resources.MemoryBytes > 0) &&
		!slices.ContainsFunc(s.Capabilities.Nodes, func(n vim.Node) bool {
			archOK := len(req.Architectures) == 0 || slices.ContainsFunc(req.Architectures, func(a string) bool {
				return NormalizeArch(a) == NormalizeArch(n.Arch)
			})
			return n.Ready && n.Schedulable && archOK &&
				n.Allocatable.MilliCPU >= req.Resources.MilliCPU && n.Allocatable.MemoryBytes >= req.Resources.MemoryBytes
		}) {
		return false, 0
	}
	if req.Location.CountryCode != "" && !strings.EqualFold(req.Location.CountryCode, s.Location.CountryCode) {
		return false, 0
	}
	for _, w := range req.Location.CivicAddress {
		if !slices.ContainsFunc(s.Location.CivicAddress, func(h CivicAddressElement) bool {
			return h.CaType == w.CaType && strings.EqualFold(h.CaValue, w.CaValue)
		}) {
			return false, 0
		}
	}
	lat := math.Inf(1)
	for _, sa := range s.Location.ServedAreas {
		match := true
		if want := req.Location.Area; want != nil {
			switch {
			case want.TAC != "":
				match = sa.TAC == want.TAC
			case want.Point != nil:
				match = sa.Circle != nil && distanceM(*want.Point, sa.Circle.Center) <= sa.Circle.RadiusM
			}
		}
		if match {
			lat = min(lat, sa.LatencyMs)
		}
	}
	if math.IsInf(lat, 1) {
		if req.Location.Area != nil {
			return false, 0
		}
		lat = math.NaN()
	}
	if req.MaxLatencyMs > 0 && !(lat <= req.MaxLatencyMs) {
		return false, 0
	}
	return true, lat
}

// TestProperties runs Decide on random sites and requests and checks what must always hold:
// every site is either a candidate or rejected with a code and a reason; the candidates are
// exactly the sites that pass every filter (so the chosen one does, and no passing site is
// rejected); the chosen site has the best score, ties going to the smallest ID.
func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 2026))
	known := map[Code]bool{
		CodeNotSelected: true, CodeNotSchedulable: true, CodeUnhealthy: true, CodeVIMKind: true, CodeArch: true,
		CodeCPU: true, CodeMemory: true, CodePods: true, CodeNodeFit: true, CodeCountry: true, CodeCivicAddress: true, CodeArea: true,
		CodeLatencyUnknown: true, CodeLatency: true,
	}
	chosen := 0
	for iter := range 2000 {
		sites := randomSites(rng, 1+rng.IntN(40))
		req := randomRequest(rng, sites)
		require.NoError(t, req.Validate())
		d := Decide(req, sites)

		seen := map[string]bool{}
		for _, c := range d.Candidates {
			require.False(t, seen[c.SiteID], "iteration %d: site %s listed twice", iter, c.SiteID)
			seen[c.SiteID] = true
		}
		for _, r := range d.Rejected {
			require.False(t, seen[r.SiteID], "iteration %d: site %s listed twice", iter, r.SiteID)
			seen[r.SiteID] = true
			require.True(t, known[r.Code], "iteration %d: site %s: unknown code %q", iter, r.SiteID, r.Code)
			require.NotEmpty(t, r.Reason, "iteration %d: site %s rejected without a reason", iter, r.SiteID)
		}
		require.Len(t, seen, len(sites), "iteration %d: every site is a candidate or rejected", iter)

		isCandidate := map[string]bool{}
		for _, c := range d.Candidates {
			isCandidate[c.SiteID] = true
		}
		for _, s := range sites {
			pass, lat := oracle(req, s)
			require.Equal(t, pass, isCandidate[s.ID], "iteration %d: site %+v, request %+v", iter, s, req)
			if pass && !math.IsNaN(lat) {
				i := slices.IndexFunc(d.Candidates, func(c Candidate) bool { return c.SiteID == s.ID })
				require.NotNil(t, d.Candidates[i].Score.LatencyMs)
				require.Equal(t, lat, *d.Candidates[i].Score.LatencyMs, "iteration %d: site %s", iter, s.ID)
			}
		}

		if len(d.Candidates) == 0 {
			require.Nil(t, d.Chosen)
			require.ErrorIs(t, d.Err(), ErrNoSite)
			require.Equal(t, len(d.Rejected)+len(d.UnknownPinned)+1, strings.Count(d.Detail(), "\n")+1)
			continue
		}
		chosen++
		require.NotNil(t, d.Chosen)
		require.NoError(t, d.Err())
		for _, c := range d.Candidates {
			better := c.Score.Total > d.Chosen.Score.Total ||
				c.Score.Total == d.Chosen.Score.Total && c.SiteID < d.Chosen.SiteID
			require.False(t, better, "iteration %d: %s beats the chosen %s", iter, c.SiteID, d.Chosen.SiteID)
			for _, part := range []int{c.Score.Latency, c.Score.Capacity, c.Score.Spread} {
				require.True(t, part >= 0 && part <= 1000, "iteration %d: score part %d out of range", iter, part)
			}
		}
	}
	// Both outcomes must have been exercised for the test to mean anything.
	require.Greater(t, chosen, 200)
	require.Less(t, chosen, 1800)
}

// BenchmarkDecide10000 decides over 10,000 sites, a third of them rejected by capacity or
// latency, with a TAC area and a maxLatency.
func BenchmarkDecide10000(b *testing.B) {
	sites := make([]Site, 10_000)
	for i := range sites {
		sites[i] = site(fmt.Sprintf("s%05d", i),
			committed(int64(i%8)*1000, int64(i%16)*gi),
			served(tac(fmt.Sprint(i%10), float64(i%20)), tac("12345", float64(i%15))),
			instances("appd-1", i%3))
	}
	req := request(func(r *Request) {
		r.Resources = vim.Resources{MilliCPU: 1500, MemoryBytes: 2 * gi}
		r.MaxLatencyMs = 10
		r.Location = LocationConstraints{CountryCode: "DE", Area: &Area{TAC: "12345"}}
	})
	b.ReportAllocs()
	for b.Loop() {
		d := Decide(req, sites)
		if d.Chosen == nil {
			b.Fatal("no site chosen")
		}
	}
}
