#!/usr/bin/env bash
# UPGW data plane figures (needs root: BPF_PROG_RUN and a network namespace).
#   ns/packet, BPF_PROG_RUN with a harness that restores the packet before every run
#   (kernel-timed, restore cost subtracted; best of COUNT rounds):
#     uplink match+decap (goal <= 25 ns), pass-through (<= 15 ns), and downlink encap in the
#     benchmark build, which pushes the head with bpf_skb_adjust_room (an upper bound for the
#     shipped bpf_skb_change_head path)
#   downlink encap (TC, goal <= 25 ns; BenchmarkDownlinkEncap), the shipped program
#     (bpf_skb_change_head) in a looping harness: restore
#     (VLAN tags written over the outer headers and popped, which also moves the network
#     header back) + tail call into the shipped upgw_app, minus a twin with the same restore
#     and a bare bpf_skb_change_head (the lower bound), plus the marginal cost of one
#     bpf_skb_change_head call (twin with two); best of 50 short rounds per run, median of
#     COUNT runs. Once with the UE in the session cache (every UE whose cache slot no other
#     UE holds), once with its slot taken (the session comes from the sessions map)
#   ns/packet of the shipped return-path program, one run per fresh skb (cold headroom), minus
#   a bare program
#   ns/packet of a downlink G-PDU of a known UE (parse, session check, redirect; most N3
#   traffic), looping (the program does not modify the packet) minus a bare program
#   Mpps, single core: live frames -> uplink program -> decap -> veth -> XDP sink (goal >= 10),
#   kernel-timed (clock stopped while the loop yields the CPU) and wall clock
#   packet trace: uplink match+decap and pass-through with the trace points compiled in and
#   off against the same build with them compiled out (alternating rounds; goal: no
#   measurable difference), and with tracing on for every packet at a cap of 1,000 events/s
# The host is shared: rerun when other work is running, the figures vary with it.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${COUNT:-3}
out=$(go test -run '^$' -count "$count" -benchtime "${BENCHTIME:-2000000x}" \
  -bench '^(BenchmarkUplinkBreakout|BenchmarkPassThrough|BenchmarkDownlinkEncapAdjustRoom|BenchmarkDownlinkEncap|BenchmarkDownlinkEncapSlotTaken|BenchmarkDownlinkEncapSingleShot|BenchmarkDownlinkPass|BenchmarkUplinkBreakoutVeth|BenchmarkTraceOffUplinkBreakout|BenchmarkTraceOffPassThrough|BenchmarkTraceCapUplinkBreakout|BenchmarkTraceCapPassThrough)$' \
  ./upgw/internal/dataplane/ 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -E '^Benchmark' || { echo "$out"; exit 1; }
echo "$out" | awk '
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    for (i = 3; i < NF; i++) {
      if ($(i+1) == "ns/op" && (!(name in ns) || $i < ns[name])) ns[name] = $i
      if ($(i+1) == "ns/op-upper" && (!(name in up) || $i < up[name])) up[name] = $i
      if (name == "BenchmarkDownlinkEncap" && $(i+1) == "ns/op") shp[++nshp] = $i
      if (name == "BenchmarkDownlinkEncap" && $(i+1) == "ns/op-lower") shl[++nshl] = $i
      if (name == "BenchmarkDownlinkEncap" && $(i+1) == "ns/change-head") shc[++nshc] = $i
      if (name == "BenchmarkDownlinkEncapSlotTaken" && $(i+1) == "ns/op") slt[++nslt] = $i
      if ($(i+1) == "ns/op-notrace" && (!(name in nt) || $i < nt[name])) nt[name] = $i
      if ($(i+1) == "Mpps" && $i > mpps[name]) mpps[name] = $i
      if ($(i+1) == "Mpps-wall" && $i > wall[name]) wall[name] = $i
    }
  }
  # median of n values in a (sorted in place)
  function median(a, n,   i, j, v) {
    for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j+1] = a[j]; a[j+1] = v }
    return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  END {
    printf "upgw: uplink match+decap  %6.1f ns/packet (upper bound %s, goal <= 25)\n", ns["BenchmarkUplinkBreakout"], up["BenchmarkUplinkBreakout"]
    printf "upgw: pass-through        %6.1f ns/packet (goal <= 15)\n", ns["BenchmarkPassThrough"]
    printf "upgw: downlink encap (TC), adjust_room build (upper bound of the shipped path) %6.1f ns/packet (upper bound %s)\n", ns["BenchmarkDownlinkEncapAdjustRoom"], up["BenchmarkDownlinkEncapAdjustRoom"]
    printf "upgw: downlink encap (TC), shipped program, looping harness (restore + shipped upgw_app minus restore + bare change_head, plus one change_head; median of %d runs): %.1f ns/packet (%s-%s; lower bound %.1f, change_head %.1f; goal <= 25)\n", nshp, median(shp, nshp), shp[1], shp[nshp], median(shl, nshl), median(shc, nshc)
    printf "upgw: downlink encap (TC), shipped program, looping harness, UE whose session-cache slot another UE holds (median of %d runs): %.1f ns/packet (%s-%s)\n", nslt, median(slt, nslt), slt[1], slt[nslt]
    printf "upgw: downlink encap (TC), shipped program, single shot: %.1f ns/packet over a bare program\n", ns["BenchmarkDownlinkEncapSingleShot"]
    printf "upgw: downlink pass-through of a known UE (XDP, learning check) %6.1f ns/packet\n", ns["BenchmarkDownlinkPass"]
    printf "upgw: uplink breakout veth pipeline, 1 core: %.2f Mpps kernel-timed, %.2f Mpps wall clock (goal >= 10)\n", mpps["BenchmarkUplinkBreakoutVeth"], wall["BenchmarkUplinkBreakoutVeth"]
    printf "upgw: trace compiled in and off vs compiled out: uplink match+decap %.1f vs %.1f ns/packet (ratio %.3f), pass-through %.1f vs %.1f (ratio %.3f; goal: no measurable difference)\n", ns["BenchmarkTraceOffUplinkBreakout"], nt["BenchmarkTraceOffUplinkBreakout"], ns["BenchmarkTraceOffUplinkBreakout"] / nt["BenchmarkTraceOffUplinkBreakout"], ns["BenchmarkTraceOffPassThrough"], nt["BenchmarkTraceOffPassThrough"], ns["BenchmarkTraceOffPassThrough"] / nt["BenchmarkTraceOffPassThrough"]
    printf "upgw: trace on for every packet at the cap (1,000 events/s): uplink match+decap %.1f ns/packet, pass-through %.1f\n", ns["BenchmarkTraceCapUplinkBreakout"], ns["BenchmarkTraceCapPassThrough"]
  }'
# Restart figures: kill -9 of the agent under traffic (5,000 breakout, 1,000 pass-through and
# 500 downlink packets per second), restarted after the shipped unit's RestartSec=1s from its
# pin dir and state dir: packets sent, delivered, misrouted and lost per flow, replies, and
# the longest gap per flow (the sender's own stalls on a loaded host included).
if [ "$(id -u)" = 0 ]; then
  rout=$(go test -tags e2e -count=1 -run '^TestRestartKill9$' -v ./test/e2e/upgw/ 2>&1) || { echo "$rout" | tail -40; exit 1; }
  echo "$rout" | grep -E 'kill -9: ' | sed -e 's/^ *restart_test.go:[0-9]*: /upgw: /'
fi
