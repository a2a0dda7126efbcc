// Package benchobj holds the benchmark build of the UPGW programs (upgw/bpf/bench.c): the
// same programs and maps plus packet-restoring wrappers, a counting sink and parser probes.
// Only the benchmarks and the parser tests import it.
package benchobj

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel bench ../../../bpf/bench.c -- -I../../../bpf
