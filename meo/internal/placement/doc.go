// Package placement chooses the edge site for an app instance (issue 12, "Placement"). It is a
// pure function, [Decide], over its own input types: the inventory turns its sites into
// [Site] values and the LCM turns an AppD and an InstantiateAppRequest (ETSI GS MEC 010-2)
// into a [Request]. Decide reads no clock, draws no random number and does no I/O, so the
// same input always gives the same [Decision], whatever the order of the sites.
//
// # Filters
//
// Every site goes through the filters in this order; the first one it fails is recorded as
// its [Rejection], with a [Code] and a reason in words:
//
//  1. Pinning. When the request pins sites (selectedMECHostInfo), every other site is
//     rejected ("not in selectedMECHostInfo") and the pinned ones still go through the
//     filters below: a pinned site that cannot run the app is rejected with its reason, not
//     used anyway. Pinned IDs that match no site are listed in Decision.UnknownPinned.
//  2. Schedulable, then healthy: "not schedulable (cordoned)"; "unhealthy: VIM unreachable"
//     (or MEP, or MEP and VIM).
//  3. VIM kind: a container image needs the Kubernetes family (kubernetes, k3s, kubeedge), a
//     VM image needs kubevirt or libvirt: "vim kind kubernetes cannot run a VM image".
//  4. CPU architecture: one of the request's architectures (empty means any) must be among
//     the site's, names normalised by [NormalizeArch]: "arch: needs arm64, site has amd64".
//  5. Free capacity, that is the site's allocatable minus what the MEO has committed there,
//     against the request's resources times its replicas; CPU, then memory, then pods (pods
//     only when both sides count them): "cpu: needs 2000m, 1200m free", "memory: needs
//     512Mi, 256Mi free". Then, when the site lists its nodes, one replica must fit the
//     allocatable of one ready, schedulable node of an acceptable architecture: "node: one
//     replica needs 4000m cpu, the largest node has 2000m". Nodes are compared by what they
//     have, not by what is free on them, since the MEO commits resources per site.
//  6. Location constraints: the country code ("country: DE, wants FR"), then every civic
//     address element, which the site must have with the same caType and an equal value
//     (case and surrounding space ignored: "civic address: caType 3 (A3) is Munich, wants
//     Berlin"), then the area, which one of the site's served areas must cover ("area: does
//     not serve TAC 12345"). A TAC covers the same TAC; a served polygon or circle covers a
//     point inside it and a polygon or circle it overlaps. TACs and shapes never match each
//     other. Polygons are straight-edged in the (lon, lat) plane and must not cross the
//     antimeridian; circles use great-circle distances.
//  7. Latency. The site's latency is the lowest latency among its served areas that cover the
//     requested area or, when no area is requested, the lowest among all its served areas (its
//     best latency to anyone). With a maxLatency (the AppD's appLatency, converted from
//     nanoseconds by [MaxLatencyFromNanos]) it must not exceed it: "latency 14 ms >
//     maxLatency 10 ms"; a site that serves no areas has no known latency and is rejected
//     ("latency unknown (site serves no areas), maxLatency 10 ms").
//
// # Scoring
//
// The sites that pass every filter are the candidates. Each gets three parts, integers in
// [0, 1000], so that scores compare exactly on every platform:
//
//   - Latency: with a maxLatency, the margin left under it, 1000×(max−latency)/max; without
//     one, 1000×10/(10+latency in ms), so 0 ms scores 1000 and 10 ms 500. A site whose
//     latency is unknown scores 0.
//   - Capacity: 1000× the share of allocatable left free after placing the instance, on the
//     scarcer of CPU and memory, so load is balanced across sites and a site that would run
//     short of either resource scores low.
//   - Spread: 1000/(1+n) where n is the number of instances of the same appDId on the site,
//     so instances of one app go to different sites first.
//
// The total is 4×Latency + 3×Capacity + 3×Spread. The candidate with the highest total is
// chosen; equal totals go to the smallest site ID. Decision.Candidates lists every candidate,
// best first, with its [Score] breakdown; Decision.Rejected lists every other site by site ID.
//
// # Recording
//
// A Decision is JSON-ready and is recorded on the op occurrence as it is. When no site fits,
// [Decision.Err] returns a [*NoSiteError] (matching [ErrNoSite]) whose Detail, one line per
// rejected site, becomes the detail of the FAILED op occurrence's ProblemDetails.
package placement
