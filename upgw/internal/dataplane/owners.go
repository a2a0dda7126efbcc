package dataplane

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// OwnerID identifies the rule a per-rule counter slot belongs to (a hash of its app instance
// id and traffic rule id); the zero value means the slot is free.
type OwnerID [16]byte

// ownersSpec is rule_owners: one OwnerID per counter slot. The programs never read it; it is
// pinned beside rule_stats so that the counters' owners are known for exactly as long as the
// counters are, and a restarted agent gives every rule its old slot back.
var ownersSpec = ebpf.MapSpec{Name: "rule_owners", Type: ebpf.Array, KeySize: 4, ValueSize: 16, MaxEntries: MaxRules}

func (d *Datapath) openOwners() error {
	spec := ownersSpec.Copy()
	var opts ebpf.MapOptions
	if d.pinDir != "" {
		spec.Pinning = ebpf.PinByName
		opts.PinPath = d.pinDir
	}
	m, err := ebpf.NewMapWithOptions(spec, opts)
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		// Another layout: forget the owners (every counter then restarts from zero).
		if err := removePin(filepath.Join(d.pinDir, spec.Name)); err != nil {
			return err
		}
		d.logf("pinned map %s has the layout of another build; starting it empty", spec.Name)
		m, err = ebpf.NewMapWithOptions(spec, opts)
	}
	if err != nil {
		return fmt.Errorf("rule owners map: %w", err)
	}
	d.owners = m
	return nil
}

// RuleOwners returns the owner of every counter slot (zero: free).
func (d *Datapath) RuleOwners() ([]OwnerID, error) {
	out := make([]OwnerID, MaxRules)
	for i := range out {
		if err := d.owners.Lookup(uint32(i), &out[i]); err != nil {
			return nil, fmt.Errorf("read rule owners: %w", err)
		}
	}
	return out, nil
}

// SetRuleOwner records the owner of a counter slot.
func (d *Datapath) SetRuleOwner(slot uint32, id OwnerID) error {
	if err := d.owners.Put(slot, id); err != nil {
		return fmt.Errorf("write rule owner %d: %w", slot, err)
	}
	return nil
}
