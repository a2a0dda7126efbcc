package benchobj

import "github.com/cilium/ebpf"

// Spec returns the collection spec of the benchmark object.
func Spec() (*ebpf.CollectionSpec, error) { return loadBench() }

// SpecNoTrace returns the collection spec of the benchmark object built with every trace
// point compiled out (UPGW_NO_TRACE): the benchmarks compare it with Spec, whose trace
// points are compiled in and off.
func SpecNoTrace() (*ebpf.CollectionSpec, error) { return loadBenchNoTrace() }
