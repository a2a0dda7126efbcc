#!/usr/bin/env bash
# UPGW data plane figures (needs root: BPF_PROG_RUN and a network namespace).
#   ns/packet, BPF_PROG_RUN with a harness that restores the packet before every run
#   (kernel-timed, restore cost subtracted; best of COUNT rounds):
#     uplink match+decap (goal <= 25 ns), pass-through (<= 15 ns), downlink encap (<= 25 ns;
#     the benchmark build pushes the head with bpf_skb_adjust_room, an upper bound for the
#     shipped bpf_skb_change_head path)
#   ns/packet of the shipped return-path program, one run per fresh skb (cold headroom), minus
#   a bare program
#   Mpps, single core: live frames -> uplink program -> decap -> veth -> XDP sink (goal >= 10),
#   kernel-timed (clock stopped while the loop yields the CPU) and wall clock
# The host is shared: rerun when other work is running, the figures vary with it.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${COUNT:-3}
out=$(go test -run '^$' -count "$count" -benchtime "${BENCHTIME:-2000000x}" \
  -bench '^(BenchmarkUplinkBreakout|BenchmarkPassThrough|BenchmarkDownlinkEncap|BenchmarkDownlinkEncapSingleShot|BenchmarkUplinkBreakoutVeth)$' \
  ./upgw/internal/dataplane/ 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -E '^Benchmark' || { echo "$out"; exit 1; }
echo "$out" | awk '
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    for (i = 3; i < NF; i++) {
      if ($(i+1) == "ns/op" && (!(name in ns) || $i < ns[name])) ns[name] = $i
      if ($(i+1) == "ns/op-upper" && (!(name in up) || $i < up[name])) up[name] = $i
      if ($(i+1) == "Mpps" && $i > mpps[name]) mpps[name] = $i
      if ($(i+1) == "Mpps-wall" && $i > wall[name]) wall[name] = $i
    }
  }
  END {
    printf "upgw: uplink match+decap  %6.1f ns/packet (upper bound %s, goal <= 25)\n", ns["BenchmarkUplinkBreakout"], up["BenchmarkUplinkBreakout"]
    printf "upgw: pass-through        %6.1f ns/packet (goal <= 15)\n", ns["BenchmarkPassThrough"]
    printf "upgw: downlink encap (TC) %6.1f ns/packet (upper bound %s, goal <= 25; adjust_room build)\n", ns["BenchmarkDownlinkEncap"], up["BenchmarkDownlinkEncap"]
    printf "upgw: downlink encap (TC), shipped program, single shot: %.1f ns/packet over a bare program\n", ns["BenchmarkDownlinkEncapSingleShot"]
    printf "upgw: uplink breakout veth pipeline, 1 core: %.2f Mpps kernel-timed, %.2f Mpps wall clock (goal >= 10)\n", mpps["BenchmarkUplinkBreakoutVeth"], wall["BenchmarkUplinkBreakoutVeth"]
  }'
