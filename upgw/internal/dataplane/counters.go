package dataplane

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// PathStats returns the per-path counters summed over CPUs.
func (d *Datapath) PathStats() ([]Counter, error) {
	out := make([]Counter, NumStats)
	for i := range out {
		c, err := sumPerCPU(d.objs.PathStats, uint32(i))
		if err != nil {
			return nil, fmt.Errorf("read path stats: %w", err)
		}
		out[i] = c
	}
	return out, nil
}

// RuleCounter returns the counter of one rule slot summed over CPUs.
func (d *Datapath) RuleCounter(slot uint32) (Counter, error) {
	return sumPerCPU(d.objs.RuleStats, slot)
}

// ResetRuleCounter zeroes a rule slot, for reuse by another rule.
func (d *Datapath) ResetRuleCounter(slot uint32) error {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	return d.objs.RuleStats.Put(slot, make([]Counter, n))
}

func sumPerCPU(m *ebpf.Map, key uint32) (Counter, error) {
	var vals []Counter
	if err := m.Lookup(key, &vals); err != nil {
		return Counter{}, err
	}
	var c Counter
	for _, v := range vals {
		c.Packets += v.Packets
		c.Bytes += v.Bytes
	}
	return c, nil
}
