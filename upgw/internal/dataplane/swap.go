package dataplane

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Entry is one destination prefix of a rule set and its candidates.
type Entry struct {
	Key   LPMKey
	Cands Cands
}

// SwapRuleSet makes entries the active rule set: it builds a new generation aside (a fresh
// LPM trie and a fresh host table), fills it, then puts the trie into slot 0 of ruleset
// and the host table into slot 0 of hostset. The old generation is freed once no program
// uses it.
//
// Each packet gets the answer of one whole generation, old or new, even between the two
// updates: a host-table hit gives exactly what that generation's trie gives, and a miss
// falls back to a trie that is complete on its own.
func (d *Datapath) SwapRuleSet(entries []Entry) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(entries) > MaxPrefixes {
		return fmt.Errorf("rule set has %d prefixes; limit is %d", len(entries), MaxPrefixes)
	}
	m, err := ebpf.NewMap(d.innerSpec.Copy())
	if err != nil {
		return fmt.Errorf("create rule-set generation: %w", err)
	}
	for i := range entries {
		if err := m.Put(&entries[i].Key, &entries[i].Cands); err != nil {
			m.Close()
			return fmt.Errorf("fill rule-set generation: %w", err)
		}
	}
	h, err := d.newHostTable(entries)
	if err != nil {
		m.Close()
		return err
	}
	// The destination pre-filter must cover both sets while the swap happens: first add the
	// new set's bits, swap, then drop the bits only the old set needed.
	want := filterOf(entries)
	union := make([]uint64, filterWords)
	for i := range union {
		union[i] = want[i]
		if d.filter != nil {
			union[i] |= d.filter[i]
		}
	}
	if err := d.writeFilter(union); err != nil {
		m.Close()
		h.Close()
		return err
	}
	if err := d.objs.Ruleset.Put(uint32(0), m); err != nil {
		m.Close()
		h.Close()
		return fmt.Errorf("swap rule-set generation: %w", err)
	}
	if d.gen != nil {
		d.gen.Close()
	}
	d.gen = m
	if err := d.objs.Hostset.Put(uint32(0), h); err != nil {
		// The old host table stays with the new trie: still one generation per packet,
		// but the old set's hosts shadow the new trie. Clear it so the trie decides.
		h.Close()
		return errors.Join(fmt.Errorf("swap host table: %w", err), d.objs.Hostset.Delete(uint32(0)))
	}
	if d.hosts != nil {
		d.hosts.Close()
	}
	d.hosts = h
	return d.writeFilter(want)
}

// newHostTable builds the host table of a generation: every whole-address key (/32, /128)
// with its candidates, at its hash slot. A host whose slot is already taken is left to the
// trie, which holds every entry anyway.
func (d *Datapath) newHostTable(entries []Entry) (*ebpf.Map, error) {
	h, err := ebpf.NewMap(d.hostSpec.Copy())
	if err != nil {
		return nil, fmt.Errorf("create host table: %w", err)
	}
	used := make(map[uint32]bool)
	for i := range entries {
		e := &entries[i]
		if e.Key.Prefixlen != 128 {
			continue
		}
		slot := HostSlot(e.Key.Addr)
		if used[slot] {
			continue
		}
		used[slot] = true
		if err := h.Put(slot, &Host{Addr: e.Key.Addr, Used: 1, C: e.Cands}); err != nil {
			h.Close()
			return nil, fmt.Errorf("fill host table: %w", err)
		}
	}
	return h, nil
}
