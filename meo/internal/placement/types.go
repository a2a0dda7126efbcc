package placement

import (
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Site is what placement needs to know about one edge site. The inventory builds it from its
// own records and the site's last vim.Capabilities.
type Site struct {
	// ID identifies the site; selectedMECHostInfo pins by it, and ties are broken by it.
	ID string `json:"id"`
	// Name is the operator's name for the site, shown next to the ID in rejection lines.
	Name string `json:"name,omitempty"`
	// Labels are the operator's labels. Placement does not filter on them yet; they travel
	// with the site so the record of a decision shows what the operator saw.
	Labels map[string]string `json:"labels,omitempty"`
	// Schedulable is false when an operator has cordoned the site.
	Schedulable bool `json:"schedulable"`
	// MEPReachable and VIMReachable are the site's last health. A site is healthy when both
	// answer; an unknown health counts as unreachable.
	MEPReachable bool `json:"mepReachable"`
	VIMReachable bool `json:"vimReachable"`
	// VIMKind is the kind of the site's VIM.
	VIMKind vim.Kind `json:"vimKind"`
	// Capabilities is the site's last vim.Capabilities: allocatable resources, CPU
	// architectures and node kinds.
	Capabilities vim.Capabilities `json:"capabilities"`
	// Committed is what the MEO has already placed on the site (the sum of the resources of
	// the instances it placed there and has not terminated).
	Committed vim.Resources `json:"committed"`
	// Location is where the site is and which areas it serves.
	Location Location `json:"location"`
	// Instances counts the app instances on the site per appDId, for spreading.
	Instances map[string]int `json:"instances,omitempty"`
}

// Location is a site's position and the areas it serves.
type Location struct {
	// Lat and Lon are the site's position in WGS 84 degrees. Informational: placement matches
	// areas, not distances to the site.
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	// CountryCode is the two-letter ISO 3166 code of the country the site is in.
	CountryCode string `json:"countryCode,omitempty"`
	// CivicAddress is the site's civic address (ETSI MEC 010-2 CivicAddressElement, IETF RFC
	// 4776 CAtypes).
	CivicAddress []CivicAddressElement `json:"civicAddressElement,omitempty"`
	// ServedAreas are the areas whose users the site serves, each with its latency.
	ServedAreas []ServedArea `json:"servedAreas,omitempty"`
}

// CivicAddressElement is one element of a civic address (ETSI MEC 010-2 CivicAddressElement):
// CaType is an IETF RFC 4776 section 3.4 CAtype (1 = A1 state, 3 = A3 city, 24 = PC postal
// code, ...) and CaValue its value.
type CivicAddressElement struct {
	CaType  int    `json:"caType"`
	CaValue string `json:"caValue"`
}

// ServedArea is an area a site serves and the one-way latency in milliseconds from a device in
// that area to an app on the site.
type ServedArea struct {
	Area
	LatencyMs float64 `json:"latencyMs"`
}

// Area is a place on the map: exactly one of TAC, Point, Polygon and Circle is set. Sites serve
// TACs, polygons and circles; a request may also ask for a point.
type Area struct {
	// TAC is a 3GPP tracking area code, compared as a string (case-insensitively, so hex
	// codes match whatever their case).
	TAC string `json:"tac,omitempty"`
	// Point is a single position.
	Point *Point `json:"point,omitempty"`
	// Polygon is a closed ring of at least three vertices; the last vertex joins the first
	// (repeating the first vertex at the end, as GeoJSON does, is allowed).
	Polygon []Point `json:"polygon,omitempty"`
	// Circle is a disc on the ground.
	Circle *Circle `json:"circle,omitempty"`
}

// Point is a WGS 84 position in degrees.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Circle is a disc: every position within RadiusM metres of Center.
type Circle struct {
	Center  Point   `json:"center"`
	RadiusM float64 `json:"radiusM"`
}

// Workload says what an app runs as, from its AppD's swImageDescriptor.
type Workload string

// Workloads.
const (
	// WorkloadContainer is a container image; it needs a VIM of the Kubernetes family
	// (kubernetes, k3s, kubeedge).
	WorkloadContainer Workload = "container"
	// WorkloadVM is a VM disk image; it needs a VM VIM (kubevirt, libvirt).
	WorkloadVM Workload = "vm"
)

// Request is what one app instance asks of the site it is placed on, from its AppD and its
// InstantiateAppRequest (ETSI MEC 010-2).
type Request struct {
	// AppDID is the app's appDId; instances of the same appDId are spread across sites.
	AppDID string `json:"appDId"`
	// Workload is what the app runs as.
	Workload Workload `json:"workload"`
	// Architectures are the CPU architectures the app's image runs on (amd64, arm64, ...;
	// see NormalizeArch). Empty means any.
	Architectures []string `json:"architectures,omitempty"`
	// Resources is what one replica requests (from the virtualComputeDescriptor; see
	// ResourcesFromCompute). Pods is the number of pods or VMs one replica makes (0 = not
	// checked).
	Resources vim.Resources `json:"resources"`
	// Replicas multiplies Resources; 0 means 1.
	Replicas int `json:"replicas,omitempty"`
	// Pinned are the site IDs of selectedMECHostInfo. When set, only those sites are
	// candidates.
	Pinned []string `json:"pinned,omitempty"`
	// Location is the InstantiateAppRequest's locationConstraints.
	Location LocationConstraints `json:"locationConstraints"`
	// MaxLatencyMs is the AppD's appLatency.maxLatency in milliseconds (see
	// MaxLatencyFromNanos); 0 means no limit.
	MaxLatencyMs float64 `json:"maxLatencyMs,omitempty"`
}

// LocationConstraints restricts where an instance may run (ETSI MEC 010-2 LocationConstraints:
// countryCode, civicAddressElement, and the V3 area).
type LocationConstraints struct {
	// CountryCode is a two-letter ISO 3166 code; empty means any country.
	CountryCode string `json:"countryCode,omitempty"`
	// CivicAddress elements must all be present, with equal values, in the site's civic
	// address.
	CivicAddress []CivicAddressElement `json:"civicAddressElement,omitempty"`
	// Area, if set, must be served by the site; the site's latency to it is the latency
	// checked against MaxLatencyMs.
	Area *Area `json:"area,omitempty"`
}

// need is the total the request needs on one site: Resources times Replicas.
func (r Request) need() vim.Resources {
	n := int64(r.Replicas)
	if n < 1 {
		n = 1
	}
	return vim.Resources{
		MilliCPU:    r.Resources.MilliCPU * n,
		MemoryBytes: r.Resources.MemoryBytes * n,
		Pods:        r.Resources.Pods * n,
	}
}

// Code is the machine-readable cause of a rejection.
type Code string

// Rejection codes, one per filter, in filter order.
const (
	CodeNotSelected    Code = "NotSelected"          // pinning chose other sites
	CodeNotSchedulable Code = "NotSchedulable"       // cordoned by an operator
	CodeUnhealthy      Code = "Unhealthy"            // MEP or VIM unreachable
	CodeVIMKind        Code = "VIMKindMismatch"      // the VIM cannot run the workload
	CodeArch           Code = "ArchMismatch"         // no acceptable CPU architecture
	CodeCPU            Code = "InsufficientCPU"      // free milli-CPU below the need
	CodeMemory         Code = "InsufficientMemory"   // free memory below the need
	CodePods           Code = "InsufficientPods"     // free pod slots below the need
	CodeNodeFit        Code = "NoNodeFits"           // no single node can hold one replica
	CodeCountry        Code = "CountryMismatch"      // locationConstraints.countryCode
	CodeCivicAddress   Code = "CivicAddressMismatch" // locationConstraints.civicAddressElement
	CodeArea           Code = "AreaNotServed"        // locationConstraints.area
	CodeLatencyUnknown Code = "LatencyUnknown"       // maxLatency set, site serves no areas
	CodeLatency        Code = "LatencyExceeded"      // latency above maxLatency
)

// Rejection says why one site was not a candidate.
type Rejection struct {
	SiteID   string `json:"siteId"`
	SiteName string `json:"siteName,omitempty"`
	Code     Code   `json:"code"`
	// Reason is the human sentence, e.g. "cpu: needs 2000m, 1200m free".
	Reason string `json:"reason"`
}

// Score is the breakdown of a candidate's score. Each part is in [0, 1000]; Total is
// 4×Latency + 3×Capacity + 3×Spread, in [0, 10000] (see the package documentation).
type Score struct {
	Total    int `json:"total"`
	Latency  int `json:"latency"`
	Capacity int `json:"capacity"`
	Spread   int `json:"spread"`
	// LatencyMs is the site's latency the Latency part was computed from; nil when the site
	// serves no areas.
	LatencyMs *float64 `json:"latencyMs,omitempty"`
	// FreeAfter is what the site has left once the instance is placed (allocatable minus
	// committed minus the need).
	FreeAfter vim.Resources `json:"freeAfter"`
	// Instances is how many instances of the app the site already runs.
	Instances int `json:"instances"`
}

// Candidate is a site that passed every filter, with its score.
type Candidate struct {
	SiteID   string `json:"siteId"`
	SiteName string `json:"siteName,omitempty"`
	Score    Score  `json:"score"`
}

// Decision is the outcome of Decide. It is meant to be recorded as it is (JSON) on the op
// occurrence.
type Decision struct {
	// Chosen is the best candidate; nil when no site fits.
	Chosen *Candidate `json:"chosen,omitempty"`
	// Candidates are all the sites that passed every filter, best first (Chosen is the
	// first).
	Candidates []Candidate `json:"candidates,omitempty"`
	// Rejected holds every other site with its reason, ordered by site ID.
	Rejected []Rejection `json:"rejected,omitempty"`
	// UnknownPinned are pinned site IDs that match no site given to Decide.
	UnknownPinned []string `json:"unknownPinned,omitempty"`
}
