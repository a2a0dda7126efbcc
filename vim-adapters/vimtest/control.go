package vimtest

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Fault makes matching calls of a Fake wait, fail, or both.
type Fault struct {
	// Op is the operation to affect (OpDeploy, ...); "" affects every operation.
	Op string
	// AppInstanceID is the instance to affect; "" affects every instance.
	AppInstanceID string
	// Delay is how long a matching call waits before it proceeds (or fails with Err). A
	// call whose ctx ends first returns the ctx's error.
	Delay time.Duration
	// Err is what a matching call returns, doing nothing else. A *vim.Error is returned as
	// it is; any other error (a vim sentinel, usually) is wrapped in one, so errors.Is
	// matches it. Nil: the call proceeds after Delay.
	Err error
	// Times is how many calls the fault affects; 0 means every call until it is removed.
	Times int
}

// Inject adds a fault and returns a function that removes it. Faults are tried in the order
// they were added; the delays of every matching fault add up and the first matching Err
// wins.
func (f *Fake) Inject(ft Fault) (remove func()) {
	p := &ft
	f.mu.Lock()
	f.faults = append(f.faults, p)
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.faults = slices.DeleteFunc(f.faults, func(q *Fault) bool { return q == p })
	}
}

// enter applies the unavailability switch and the faults to a call of op on id.
func (f *Fake) enter(ctx context.Context, op, id string) error {
	f.mu.Lock()
	if f.unavailable {
		f.mu.Unlock()
		return vim.Errorf(op, id, vim.ErrUnavailable, "site %s cannot be reached", f.cfg.Site)
	}
	var delay time.Duration
	var ferr error
	for _, ft := range slices.Clone(f.faults) {
		if ft.Op != "" && ft.Op != op || ft.AppInstanceID != "" && ft.AppInstanceID != id {
			continue
		}
		delay += ft.Delay
		if ferr == nil {
			ferr = ft.Err
		}
		if ft.Times > 0 {
			if ft.Times--; ft.Times == 0 {
				f.faults = slices.DeleteFunc(f.faults, func(q *Fault) bool { return q == ft })
			}
		}
	}
	f.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if ferr != nil {
		var ve *vim.Error
		if errors.As(ferr, &ve) {
			return ferr
		}
		return &vim.Error{Op: op, AppInstanceID: id, Err: ferr, Detail: "injected"}
	}
	return nil
}

// Call is one call a Fake received.
type Call struct {
	Op            string
	AppInstanceID string
	// Request is a copy of the request of a Deploy.
	Request *vim.DeployRequest
	// Err is what the call returned.
	Err error
	// At is when the call returned.
	At time.Time
}

func (f *Fake) record(op, id string, req *vim.DeployRequest, err *error) {
	c := Call{Op: op, AppInstanceID: id, Err: *err, At: time.Now()}
	if req != nil {
		r := cloneRequest(*req)
		c.Request = &r
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

// Calls returns the calls received so far, in the order they returned.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Count returns how many calls of op ("" for any) on id ("" for any) were received.
func (f *Fake) Count(op, id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if (op == "" || c.Op == op) && (id == "" || c.AppInstanceID == id) {
			n++
		}
	}
	return n
}

// ResetCalls forgets the calls received so far.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

// Instance is what a Fake holds for one app instance.
type Instance struct {
	// Request is the last request deployed.
	Request vim.DeployRequest
	// Generation counts the deploys that changed the instance (1 after the first).
	Generation int64
	// Status is its current status.
	Status vim.Status
}

// Instance returns what the Fake holds for id, without counting as a call.
func (f *Fake) Instance(id string) (Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[id]
	if !ok {
		return Instance{}, false
	}
	return Instance{Request: cloneRequest(in.req), Generation: in.gen, Status: cloneStatus(in.st)}, true
}

// IDs returns the ids of the instances the Fake holds, sorted.
func (f *Fake) IDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.instances))
	for id := range f.instances {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Vanish deletes an instance behind the adapter's back, as an operator deleting its
// namespace or domain would: it is gone at once, without Terminating, and watchers get a
// Deleted event. It reports whether the instance existed.
func (f *Fake) Vanish(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[id]
	if ok {
		in.epoch++
		f.remove(id)
	}
	return ok
}

// Crash makes a placed instance Failed with a reason matching vim.ErrFailed and message
// msg, as a workload that keeps crashing. Start, Stop or a changed Deploy clears it. It
// reports whether the instance existed.
func (f *Fake) Crash(id, msg string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[id]
	if !ok || in.terminating {
		return false
	}
	in.crashed = msg
	f.settleAll()
	return true
}

// AddForeign makes an object named for instance id that the adapter did not make (a
// namespace or domain someone else created). Deploy, Start, Stop and Terminate of id are
// vim.ErrConflict and leave it alone; Status is vim.ErrNotFound.
func (f *Fake) AddForeign(id string) {
	f.mu.Lock()
	f.foreign[id] = true
	f.mu.Unlock()
}

// IsForeign reports whether the foreign object for id is still there.
func (f *Fake) IsForeign(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.foreign[id]
}

// SetNodeReady marks a node ready or not, as an edge node losing and regaining its uplink.
// Instances on a node that is not ready are Unreachable (presumed running); new instances
// are not placed there. It reports whether the node exists.
func (f *Fake) SetNodeReady(name string, ready bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.nodes {
		if f.nodes[i].Name == name {
			f.nodes[i].Ready = ready
			f.settleAll()
			return true
		}
	}
	return false
}

// AddNode adds a node (or replaces the one of the same name); instances waiting for room
// may be placed on it.
func (f *Fake) AddNode(n vim.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n.Labels = cloneMap(n.Labels)
	if i := slices.IndexFunc(f.nodes, func(m vim.Node) bool { return m.Name == n.Name }); i >= 0 {
		f.nodes[i] = n
	} else {
		f.nodes = append(f.nodes, n)
	}
	f.settleAll()
}

// SetUnavailable makes every call fail with vim.ErrUnavailable (true) or work again
// (false), as when the site's VIM cannot be reached. Instances and open watches stay.
func (f *Fake) SetUnavailable(down bool) {
	f.mu.Lock()
	f.unavailable = down
	f.mu.Unlock()
}

// Kind returns the kind the Fake reports.
func (f *Fake) Kind() vim.Kind { return f.cfg.Kind }
