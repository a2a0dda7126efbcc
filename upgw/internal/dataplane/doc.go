// Package dataplane loads the UPGW eBPF programs (upgw/bpf/upgw.c, compiled by bpf2go into
// the committed upgw_bpfel.{go,o}), attaches them to the N3 and app ports and exposes the
// maps through a typed API: output targets, atomic rule-set swaps, learned sessions and
// per-CPU counters summed over CPUs.
package dataplane
