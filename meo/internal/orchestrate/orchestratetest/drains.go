package orchestratetest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/edgemec/edgemec/meo/internal/orchestrate"
)

// Relocations counts the relocations Relocate created per instance.
func (o *Ops) Relocations(id string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, r := range o.ops {
		if r.AppInstanceID == id && r.Relocation != nil {
			n++
		}
	}
	return n
}

// Relocate creates the relocation of an instance instantiated on from with no op in
// progress, as the LCM does.
func (o *Ops) Relocate(_ context.Context, id, from string) (string, error) {
	o.mu.Lock()
	in := o.instances[id]
	if in == nil || !in.Instantiated || in.SiteID != from {
		o.mu.Unlock()
		return "", fmt.Errorf("app instance %s is not instantiated on %s", id, from)
	}
	o.seq++
	opID := fmt.Sprintf("%s-move-%d", id, o.seq)
	task := in.Task
	task.ID = opID
	op := orchestrate.Op{ID: opID, Operation: orchestrate.OpInstantiate, AppInstanceID: id, AppDID: in.AppDID, Task: task,
		Placement: in.Placement, Relocation: &orchestrate.Relocation{From: from, Stopped: in.Operational == "STOPPED"}}
	o.mu.Unlock()
	return opID, o.Add(op)
}

// Residents returns the instances placed on the site, as the LCM does.
func (o *Ops) Residents(_ context.Context, siteID string) ([]orchestrate.Resident, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []orchestrate.Resident
	for _, in := range o.instances {
		if in.SiteID != siteID {
			continue
		}
		res := orchestrate.Resident{AppInstanceID: in.ID, AppDID: in.AppDID, Instantiated: in.Instantiated, Placement: in.Placement}
		var lastFailed *OpRecord
		for _, r := range o.ops {
			if r.AppInstanceID != in.ID {
				continue
			}
			ro := &orchestrate.ResidentOp{ID: r.ID, Operation: r.Operation, State: r.State, Error: r.Error, Entered: r.entered}
			if r.Relocation != nil {
				ro.RelocateFrom = r.Relocation.From
			}
			if active(r.State) {
				res.Active = ro
			}
			if r.Relocation != nil && r.Relocation.From == siteID && r.State == orchestrate.Failed && (lastFailed == nil || r.seq > lastFailed.seq) {
				lastFailed = r
				res.LastFailed = ro
			}
		}
		out = append(out, res)
	}
	slices.SortFunc(out, func(a, b orchestrate.Resident) int {
		switch {
		case a.AppInstanceID < b.AppInstanceID:
			return -1
		case a.AppInstanceID > b.AppInstanceID:
			return 1
		}
		return 0
	})
	return out, nil
}

// Drains is an orchestrate.Drains in memory: the draining sites and their progress, the
// instances and relocations of Ops.
type Drains struct {
	*Ops
	sites *Sites

	mu       sync.Mutex
	draining map[string]bool
	status   map[string]orchestrate.DrainStatus
}

var _ orchestrate.Drains = (*Drains)(nil)

// NewDrains returns a Drains over ops and sites.
func NewDrains(ops *Ops, sites *Sites) *Drains {
	return &Drains{Ops: ops, sites: sites, draining: map[string]bool{}, status: map[string]orchestrate.DrainStatus{}}
}

// Drain cordons the site and marks it draining, as the inventory does.
func (d *Drains) Drain(id string) {
	d.sites.setSchedulable(id, false)
	d.mu.Lock()
	d.draining[id] = true
	d.mu.Unlock()
}

// Uncordon ends the site's drain and makes it schedulable, as the inventory does.
func (d *Drains) Uncordon(id string) {
	d.sites.setSchedulable(id, true)
	d.mu.Lock()
	delete(d.draining, id)
	delete(d.status, id)
	d.mu.Unlock()
}

// Status returns the site's drain progress as last saved.
func (d *Drains) Status(id string) (orchestrate.DrainStatus, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.status[id]
	return st, ok
}

// DrainingSites implements orchestrate.Drains.
func (d *Drains) DrainingSites(context.Context) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for id := range d.draining {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}

// DrainStatus implements orchestrate.Drains.
func (d *Drains) DrainStatus(_ context.Context, id string) (*orchestrate.DrainStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.status[id]
	if !ok {
		return nil, nil
	}
	return &st, nil
}

// SaveDrainStatus implements orchestrate.Drains.
func (d *Drains) SaveDrainStatus(_ context.Context, id string, st orchestrate.DrainStatus) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining[id] {
		d.status[id] = st
	}
	return nil
}
