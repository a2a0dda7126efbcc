package placement

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Decide chooses the site for one app instance. It checks every site against the filters in
// the order given in the package documentation, scores the sites that pass them all and picks
// the best, ties going to the smallest site ID. Every site given ends up either in
// Decision.Candidates or in Decision.Rejected with its reason.
//
// Decide is pure: the same request and sites (site IDs unique), in any order, give the same
// decision. It assumes a request that passed Request.Validate and never modifies its input.
func Decide(req Request, sites []Site) Decision {
	var d Decision
	pinned, unknown := pinnedSet(req.Pinned, sites)
	d.UnknownPinned = unknown
	if pinned == nil {
		// Without pinning, room for every site on both sides saves the regrowing.
		d.Candidates = make([]Candidate, 0, len(sites))
	}
	d.Rejected = make([]Rejection, 0, len(sites))
	need := req.need()
	for i := range sites {
		s := &sites[i]
		if pinned != nil && !pinned[s.ID] {
			d.Rejected = append(d.Rejected, reject(s, CodeNotSelected, "not in selectedMECHostInfo"))
			continue
		}
		lat, code, reason := check(req, need, s)
		if code != "" {
			d.Rejected = append(d.Rejected, reject(s, code, reason))
			continue
		}
		d.Candidates = append(d.Candidates, Candidate{
			SiteID:   s.ID,
			SiteName: s.Name,
			Score:    score(req, need, s, lat),
		})
	}
	d.Rejected = sortedBy(d.Rejected, func(a, b *Rejection) int { return strings.Compare(a.SiteID, b.SiteID) })
	d.Candidates = sortedBy(d.Candidates, func(a, b *Candidate) int {
		if c := cmp.Compare(b.Score.Total, a.Score.Total); c != 0 {
			return c
		}
		return strings.Compare(a.SiteID, b.SiteID)
	})
	if len(d.Rejected) == 0 {
		d.Rejected = nil
	}
	if len(d.Candidates) == 0 {
		d.Candidates = nil
	} else {
		c := d.Candidates[0]
		d.Chosen = &c
	}
	return d
}

// sortedBy returns s sorted by compare, stable. It sorts indices rather than moving the
// elements, which are large, around.
func sortedBy[T any](s []T, compare func(a, b *T) int) []T {
	if len(s) < 2 {
		return s
	}
	idx := make([]int32, len(s))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(i, j int32) int {
		if c := compare(&s[i], &s[j]); c != 0 {
			return c
		}
		return int(i - j)
	})
	out := make([]T, len(s))
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}

// pinnedSet returns the pinned IDs as a set (nil when nothing is pinned) and, sorted, the
// pinned IDs no site has.
func pinnedSet(ids []string, sites []Site) (map[string]bool, []string) {
	if len(ids) == 0 {
		return nil, nil
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	found := make(map[string]bool, len(ids))
	for i := range sites {
		if set[sites[i].ID] {
			found[sites[i].ID] = true
		}
	}
	var unknown []string
	for id := range set {
		if !found[id] {
			unknown = append(unknown, id)
		}
	}
	slices.Sort(unknown)
	return set, unknown
}

func reject(s *Site, code Code, reason string) Rejection {
	return Rejection{SiteID: s.ID, SiteName: s.Name, Code: code, Reason: reason}
}

// check runs the filters on one site. It returns the site's latency (NaN when unknown) or the
// first filter that fails.
func check(req Request, need vim.Resources, s *Site) (float64, Code, string) {
	// 1. Pinning is handled by Decide. 2. Schedulable, then healthy.
	if !s.Schedulable {
		return 0, CodeNotSchedulable, "not schedulable (cordoned)"
	}
	if !s.MEPReachable || !s.VIMReachable {
		var down []string
		if !s.MEPReachable {
			down = append(down, "MEP")
		}
		if !s.VIMReachable {
			down = append(down, "VIM")
		}
		return 0, CodeUnhealthy, "unhealthy: " + strings.Join(down, " and ") + " unreachable"
	}
	// 3. VIM kind.
	if !KindRuns(s.VIMKind, req.Workload) {
		return 0, CodeVIMKind, fmt.Sprintf("vim kind %s cannot run a %s", kindName(s.VIMKind), workloadName(req.Workload))
	}
	// 4. CPU architecture.
	if len(req.Architectures) > 0 && !archFits(req.Architectures, s.Capabilities.Architectures) {
		has := "none"
		if len(s.Capabilities.Architectures) > 0 {
			has = strings.Join(s.Capabilities.Architectures, ", ")
		}
		return 0, CodeArch, fmt.Sprintf("arch: needs %s, site has %s", strings.Join(req.Architectures, " or "), has)
	}
	// 5. Free capacity.
	free := freeOf(s)
	if need.MilliCPU > free.MilliCPU {
		return 0, CodeCPU, fmt.Sprintf("cpu: needs %dm, %dm free", need.MilliCPU, max(free.MilliCPU, 0))
	}
	if need.MemoryBytes > free.MemoryBytes {
		return 0, CodeMemory, fmt.Sprintf("memory: needs %s, %s free", FormatBytes(need.MemoryBytes), FormatBytes(max(free.MemoryBytes, 0)))
	}
	if need.Pods > 0 && s.Capabilities.Allocatable.Pods > 0 && need.Pods > free.Pods {
		return 0, CodePods, fmt.Sprintf("pods: needs %d, %d free", need.Pods, max(free.Pods, 0))
	}
	if reason := nodeMisfit(req, s); reason != "" {
		return 0, CodeNodeFit, reason
	}
	// 6. Location: country, civic address, area.
	loc := req.Location
	if loc.CountryCode != "" && !strings.EqualFold(strings.TrimSpace(loc.CountryCode), strings.TrimSpace(s.Location.CountryCode)) {
		has := strings.ToUpper(s.Location.CountryCode)
		if has == "" {
			has = "unknown"
		}
		return 0, CodeCountry, fmt.Sprintf("country: %s, wants %s", has, strings.ToUpper(loc.CountryCode))
	}
	for _, want := range loc.CivicAddress {
		if reason := civicMismatch(want, s.Location.CivicAddress); reason != "" {
			return 0, CodeCivicAddress, reason
		}
	}
	lat := math.NaN()
	if loc.Area != nil {
		for _, sa := range s.Location.ServedAreas {
			if covers(sa.Area, *loc.Area) && !(sa.LatencyMs >= lat) {
				lat = sa.LatencyMs
			}
		}
		if math.IsNaN(lat) {
			return 0, CodeArea, "area: does not serve " + loc.Area.String()
		}
	} else {
		for _, sa := range s.Location.ServedAreas {
			if !(sa.LatencyMs >= lat) {
				lat = sa.LatencyMs
			}
		}
	}
	// 7. Latency.
	if req.MaxLatencyMs > 0 {
		if math.IsNaN(lat) {
			return 0, CodeLatencyUnknown, fmt.Sprintf("latency unknown (site serves no areas), maxLatency %s ms", formatNum(req.MaxLatencyMs))
		}
		if lat > req.MaxLatencyMs {
			return 0, CodeLatency, fmt.Sprintf("latency %s ms > maxLatency %s ms", formatNum(lat), formatNum(req.MaxLatencyMs))
		}
	}
	return lat, "", ""
}

// nodeMisfit returns why no single node of the site can hold one replica, or "" if one can
// or the site does not list its nodes. It compares with each node's allocatable, not with
// what is free on it (the MEO commits per site, not per node), so it only rejects sites where
// a replica could never fit: enough in total, but spread over nodes too small.
func nodeMisfit(req Request, s *Site) string {
	nodes := s.Capabilities.Nodes
	per := req.Resources
	if len(nodes) == 0 || (per.MilliCPU <= 0 && per.MemoryBytes <= 0) {
		return ""
	}
	var eligible int
	var cpu, mem int64
	for i := range nodes {
		n := &nodes[i]
		if !n.Ready || !n.Schedulable {
			continue
		}
		if len(req.Architectures) > 0 && !archFits(req.Architectures, []string{n.Arch}) {
			continue
		}
		if n.Allocatable.MilliCPU >= per.MilliCPU && n.Allocatable.MemoryBytes >= per.MemoryBytes {
			return ""
		}
		eligible++
		cpu, mem = max(cpu, n.Allocatable.MilliCPU), max(mem, n.Allocatable.MemoryBytes)
	}
	switch {
	case eligible == 0 && len(req.Architectures) > 0:
		return "node: no ready, schedulable node of arch " + strings.Join(req.Architectures, " or ")
	case eligible == 0:
		return "node: no ready, schedulable node"
	case cpu < per.MilliCPU:
		return fmt.Sprintf("node: one replica needs %dm cpu, the largest node has %dm", per.MilliCPU, cpu)
	case mem < per.MemoryBytes:
		return fmt.Sprintf("node: one replica needs %s memory, the largest node has %s", FormatBytes(per.MemoryBytes), FormatBytes(mem))
	}
	return fmt.Sprintf("node: no node has both %dm cpu and %s memory for one replica", per.MilliCPU, FormatBytes(per.MemoryBytes))
}

// KindRuns reports whether a VIM of kind k can run workload w: containers need the Kubernetes
// family (kubernetes, k3s, kubeedge), VM images need kubevirt or libvirt.
func KindRuns(k vim.Kind, w Workload) bool {
	switch w {
	case WorkloadContainer:
		return k == vim.KindKubernetes || k == vim.KindK3s || k == vim.KindKubeEdge
	case WorkloadVM:
		return k == vim.KindKubeVirt || k == vim.KindLibvirt
	}
	return false
}

func kindName(k vim.Kind) string {
	if k == "" {
		return "(none)"
	}
	return string(k)
}

func workloadName(w Workload) string {
	switch w {
	case WorkloadContainer:
		return "container image"
	case WorkloadVM:
		return "VM image"
	case "":
		return "workload of unknown kind"
	}
	return fmt.Sprintf("workload of kind %q", string(w))
}

// archFits reports whether one of the wanted architectures is among the site's, both sides
// normalised.
func archFits(want, has []string) bool {
	for _, w := range want {
		w = NormalizeArch(w)
		for _, h := range has {
			if NormalizeArch(h) == w {
				return true
			}
		}
	}
	return false
}

// freeOf is allocatable minus committed; it may be negative on an overcommitted site.
func freeOf(s *Site) vim.Resources {
	a, c := s.Capabilities.Allocatable, s.Committed
	return vim.Resources{
		MilliCPU:    a.MilliCPU - c.MilliCPU,
		MemoryBytes: a.MemoryBytes - c.MemoryBytes,
		Pods:        a.Pods - c.Pods,
	}
}

// civicMismatch returns why the site's civic address lacks want, or "" if it has it. Values
// compare case-insensitively, ignoring surrounding space.
func civicMismatch(want CivicAddressElement, has []CivicAddressElement) string {
	var other string
	for _, h := range has {
		if h.CaType != want.CaType {
			continue
		}
		if strings.EqualFold(strings.TrimSpace(h.CaValue), strings.TrimSpace(want.CaValue)) {
			return ""
		}
		if other == "" {
			other = h.CaValue
		}
	}
	if other == "" {
		return fmt.Sprintf("civic address: %s unknown, wants %s", caTypeName(want.CaType), want.CaValue)
	}
	return fmt.Sprintf("civic address: %s is %s, wants %s", caTypeName(want.CaType), other, want.CaValue)
}

// caTypeNames are the IETF RFC 4776 section 3.4 CAtype labels (with RFC 5139's additions).
var caTypeNames = map[int]string{
	0: "language", 1: "A1", 2: "A2", 3: "A3", 4: "A4", 5: "A5", 6: "A6",
	16: "PRD", 17: "POD", 18: "STS", 19: "HNO", 20: "HNS", 21: "LMK", 22: "LOC", 23: "NAM",
	24: "PC", 25: "BLD", 26: "UNIT", 27: "FLR", 28: "ROOM", 29: "PLC", 30: "PCN", 31: "POBOX",
	32: "ADDCODE", 33: "SEAT", 34: "RD", 35: "RDSEC", 36: "RDBR", 37: "RDSUBBR", 38: "PRM",
	39: "POM", 128: "script",
}

// caTypeName names a CAtype for people: "caType 3 (A3)", or "caType 99" when unknown.
func caTypeName(t int) string {
	if n, ok := caTypeNames[t]; ok {
		return "caType " + strconv.Itoa(t) + " (" + n + ")"
	}
	return "caType " + strconv.Itoa(t)
}

// Score weights: the parts are in [0, 1000] and Total = 4×Latency + 3×Capacity + 3×Spread.
const (
	weightLatency  = 4
	weightCapacity = 3
	weightSpread   = 3
	// latencyRefMs is the latency that scores 500 when the app sets no maxLatency.
	latencyRefMs = 10.0
)

// score rates a candidate; lat is its latency, NaN if unknown.
func score(req Request, need vim.Resources, s *Site, lat float64) Score {
	free := freeOf(s)
	after := vim.Resources{
		MilliCPU:    free.MilliCPU - need.MilliCPU,
		MemoryBytes: free.MemoryBytes - need.MemoryBytes,
	}
	if s.Capabilities.Allocatable.Pods > 0 {
		after.Pods = free.Pods - need.Pods
	}
	n := s.Instances[req.AppDID]
	sc := Score{FreeAfter: after, Instances: n}

	// Latency: the margin left under maxLatency, or, without one, how low the latency is.
	if !math.IsNaN(lat) {
		l := lat
		sc.LatencyMs = &l
		if req.MaxLatencyMs > 0 {
			sc.Latency = points((req.MaxLatencyMs - lat) / req.MaxLatencyMs)
		} else {
			sc.Latency = points(latencyRefMs / (latencyRefMs + max(lat, 0)))
		}
	}

	// Capacity: the share of allocatable left after placement on the scarcer of CPU and
	// memory, so a site that would run short of either scores low.
	share, dims := 1.0, 0
	alloc := s.Capabilities.Allocatable
	if alloc.MilliCPU > 0 {
		share = min(share, float64(after.MilliCPU)/float64(alloc.MilliCPU))
		dims++
	}
	if alloc.MemoryBytes > 0 {
		share = min(share, float64(after.MemoryBytes)/float64(alloc.MemoryBytes))
		dims++
	}
	if dims > 0 {
		sc.Capacity = points(share)
	}

	// Spread: fewer instances of the same app score higher.
	sc.Spread = points(1 / float64(1+max(n, 0)))

	sc.Total = weightLatency*sc.Latency + weightCapacity*sc.Capacity + weightSpread*sc.Spread
	return sc
}

// points maps a share in [0, 1] to an integer in [0, 1000], so that scores compare exactly
// and alike on every platform.
func points(f float64) int {
	if math.IsNaN(f) || f <= 0 {
		return 0
	}
	if f >= 1 {
		return 1000
	}
	return int(math.Round(float64(f * 1000)))
}

// formatNum prints a number without trailing zeros: 14, 2.5.
func formatNum(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}
