package placement_test

import (
	"fmt"

	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// An app asks for 2 CPUs and 512 MiB within 10 ms of tracking area 12345; of three sites, one
// is short of CPU, one too far, and the third gets the instance.
func ExampleDecide() {
	healthy := func(id string, cpu, committedCPU int64, latencyMs float64) placement.Site {
		return placement.Site{
			ID: id, Schedulable: true, MEPReachable: true, VIMReachable: true,
			VIMKind: vim.KindK3s,
			Capabilities: vim.Capabilities{
				Allocatable:   vim.Resources{MilliCPU: cpu, MemoryBytes: 8 << 30},
				Architectures: []string{"arm64"},
			},
			Committed: vim.Resources{MilliCPU: committedCPU},
			Location: placement.Location{
				CountryCode: "DE",
				ServedAreas: []placement.ServedArea{{Area: placement.Area{TAC: "12345"}, LatencyMs: latencyMs}},
			},
		}
	}
	req := placement.Request{
		AppDID:        "video-analytics",
		Workload:      placement.WorkloadContainer,
		Architectures: []string{"aarch64"},
		Resources:     placement.ResourcesFromCompute(vim.VirtualCompute{VirtualCPUs: 2, MemoryMiB: 512}),
		Location:      placement.LocationConstraints{CountryCode: "DE", Area: &placement.Area{TAC: "12345"}},
		MaxLatencyMs:  placement.MaxLatencyFromNanos(10_000_000),
	}
	d := placement.Decide(req, []placement.Site{
		healthy("edge-munich-1", 4000, 2800, 4),
		healthy("edge-munich-2", 8000, 0, 6),
		healthy("edge-nuremberg", 8000, 0, 14),
	})
	fmt.Println(d.Detail())
	fmt.Printf("score %d = 4×%d latency + 3×%d capacity + 3×%d spread\n",
		d.Chosen.Score.Total, d.Chosen.Score.Latency, d.Chosen.Score.Capacity, d.Chosen.Score.Spread)
	// Output:
	// placed on edge-munich-2
	// edge-munich-1: cpu: needs 2000m, 1200m free
	// edge-nuremberg: latency 14 ms > maxLatency 10 ms
	// score 6850 = 4×400 latency + 3×750 capacity + 3×1000 spread
}
