package benchobj

import "github.com/cilium/ebpf"

// Spec returns the collection spec of the benchmark object.
func Spec() (*ebpf.CollectionSpec, error) { return loadBench() }
