package vimtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Factory returns the VIM under test for one case of the suite. It registers its own
// cleanup with t.Cleanup. It may hand every case the same VIM (one site) or a fresh one;
// the cases use instance ids of their own and run in parallel.
type Factory func(t *testing.T) vim.VIM

// Options describe a backend to Run: how to make a request that runs on it, and what it
// cannot show.
type Options struct {
	// Request returns a deploy request for instance id that reaches Running on the backend,
	// with one replica (one pod or one VM). Required.
	Request func(id string) vim.DeployRequest
	// Kind is the kind Capabilities must report; "" skips that check.
	Kind vim.Kind
	// NewID returns a fresh instance id starting with prefix. Default: prefix, a dash and
	// eight hex digits.
	NewID func(prefix string) string
	// Timeout bounds each wait for a phase or for an instance to be gone. Default 2 min.
	Timeout time.Duration
	// MissingImage changes a request so that its image cannot be found. Nil when the
	// backend cannot tell a missing image; that case is then skipped.
	MissingImage func(req *vim.DeployRequest)
	// Foreign makes, on the VIM, an object that instance id would use but that the adapter
	// did not make (an unlabelled namespace, a domain without the adapter's metadata), and
	// returns a function that reports an error if the object is gone or was changed. Nil
	// when the kind has nothing to take over; the ownership case is then skipped.
	Foreign func(t *testing.T, v vim.VIM, id string) (intact func() error)
}

// Run runs the contract every vim.VIM promises (see vim.VIM) against the VIMs newVIM
// returns:
//
//   - Capabilities reports the kind, some allocatable CPU and memory, the architectures and
//     node kinds of its nodes;
//   - Status of an unknown instance is vim.ErrNotFound, a malformed id vim.ErrInvalid;
//   - deploying twice gives one running workload;
//   - Deploy → Running, Stop → Stopped (twice), Start → Running (twice) with the replicas
//     it had, Terminate → Terminating or gone, then gone (vim.ErrNotFound); Terminate
//     twice, and of an unknown instance, succeeds;
//   - Watch starts with the current status of an instance and reports its changes through
//     to its removal;
//   - a missing image is vim.ErrImageMissing, from Deploy or from the wait for Running
//     (when Options.MissingImage is set);
//   - a foreign object is vim.ErrConflict for Deploy, Stop, Start and Terminate and is left
//     as it was (when Options.Foreign is set).
func Run(t *testing.T, newVIM Factory, opts Options) {
	if opts.Request == nil {
		t.Fatal("vimtest.Run: Options.Request is required")
	}
	if opts.NewID == nil {
		opts.NewID = randomID
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Minute
	}
	s := &suite{newVIM: newVIM, opts: opts}
	for _, c := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"capabilities", s.capabilities},
		{"unknown instance", s.unknown},
		{"idempotent deploy", s.idempotentDeploy},
		{"lifecycle", s.lifecycle},
		{"watch", s.watch},
		{"missing image", s.missingImage},
		{"ownership", s.ownership},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

type suite struct {
	newVIM Factory
	opts   Options
}

func randomID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// ctx returns a context for one wait.
func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.opts.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// deploy deploys a fresh instance and terminates it when the test ends.
func (s *suite) deploy(t *testing.T, v vim.VIM, prefix string, times int) (string, vim.DeployRequest) {
	t.Helper()
	id := s.opts.NewID(prefix)
	req := s.opts.Request(id)
	s.cleanup(t, v, id)
	for i := range times {
		if err := v.Deploy(s.ctx(t), req); err != nil {
			t.Fatalf("deploy %s (#%d): %v", id, i+1, err)
		}
	}
	return id, req
}

func (s *suite) cleanup(t *testing.T, v vim.VIM, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := v.Terminate(ctx, id); err != nil {
			t.Errorf("cleanup: terminate %s: %v", id, err)
		}
	})
}

func (s *suite) waitPhase(t *testing.T, v vim.VIM, id string, p vim.Phase) vim.Status {
	t.Helper()
	st, err := vim.WaitPhase(s.ctx(t), v, id, 100*time.Millisecond, p)
	if err != nil {
		t.Fatalf("wait for %s to be %s: %v (last status %s %+v)", id, p, err, st.Phase, st.Reasons)
	}
	if st.AppInstanceID != id {
		t.Errorf("got status of %q; want %q", st.AppInstanceID, id)
	}
	return st
}

// waitGone polls Status until the instance is gone; meanwhile it may only be Terminating.
func (s *suite) waitGone(t *testing.T, v vim.VIM, id string) {
	t.Helper()
	ctx := s.ctx(t)
	for {
		st, err := v.Status(ctx, id)
		switch {
		case errors.Is(err, vim.ErrNotFound):
			return
		case err == nil && st.Phase != vim.PhaseTerminating:
			t.Fatalf("got phase %s after terminate; want Terminating or gone", st.Phase)
		case err != nil && !errors.Is(err, vim.ErrUnavailable):
			t.Fatalf("status after terminate: %v; want ErrNotFound in the end", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s still there %v after terminate (last phase %s)", id, s.opts.Timeout, st.Phase)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *suite) capabilities(t *testing.T) {
	v := s.newVIM(t)
	caps, err := v.Capabilities(s.ctx(t))
	if err != nil {
		t.Fatalf("capabilities: %v", err)
	}
	if s.opts.Kind != "" && caps.Kind != s.opts.Kind {
		t.Errorf("got kind %q; want %q", caps.Kind, s.opts.Kind)
	}
	if caps.Allocatable.MilliCPU <= 0 || caps.Allocatable.MemoryBytes <= 0 {
		t.Errorf("got allocatable %+v; want some CPU and memory", caps.Allocatable)
	}
	if len(caps.Nodes) == 0 || len(caps.Architectures) == 0 || len(caps.NodeKinds) == 0 {
		t.Fatalf("got %d nodes, architectures %v, node kinds %v; want at least one of each", len(caps.Nodes), caps.Architectures, caps.NodeKinds)
	}
	var sum vim.Resources
	for _, n := range caps.Nodes {
		if n.Name == "" || n.Kind == "" {
			t.Errorf("got node %+v; want a name and a kind", n)
		}
		if n.Ready && n.Schedulable {
			sum = add(sum, n.Allocatable)
			if !slices.Contains(caps.Architectures, n.Arch) || !slices.Contains(caps.NodeKinds, n.Kind) {
				t.Errorf("node %s (%s, %s) is not in architectures %v / node kinds %v", n.Name, n.Arch, n.Kind, caps.Architectures, caps.NodeKinds)
			}
		}
	}
	if sum.MilliCPU != caps.Allocatable.MilliCPU || sum.MemoryBytes != caps.Allocatable.MemoryBytes {
		t.Errorf("got allocatable %+v; want the sum of the ready schedulable nodes' %+v", caps.Allocatable, sum)
	}
}

func (s *suite) unknown(t *testing.T) {
	v := s.newVIM(t)
	ctx := s.ctx(t)
	id := s.opts.NewID("never")
	_, err := v.Status(ctx, id)
	var ve *vim.Error
	if !errors.Is(err, vim.ErrNotFound) || !errors.As(err, &ve) {
		t.Errorf("status of an unknown instance: %v; want a *vim.Error matching ErrNotFound", err)
	}
	if err := v.Terminate(ctx, id); err != nil {
		t.Errorf("terminate of an unknown instance: %v; want success", err)
	}
	if err := v.Deploy(ctx, s.opts.Request("Bad_ID")); !errors.Is(err, vim.ErrInvalid) {
		t.Errorf("deploy with a malformed id: %v; want ErrInvalid", err)
	}
	if _, err := v.Status(ctx, "Bad_ID"); !errors.Is(err, vim.ErrInvalid) && !errors.Is(err, vim.ErrNotFound) {
		t.Errorf("status of a malformed id: %v; want ErrInvalid or ErrNotFound", err)
	}
}

func (s *suite) idempotentDeploy(t *testing.T) {
	v := s.newVIM(t)
	id, _ := s.deploy(t, v, "idem", 2)
	st := s.waitPhase(t, v, id, vim.PhaseRunning)
	if st.Desired != 1 || st.Ready != 1 {
		t.Errorf("got %d/%d ready after two deploys; want one workload, 1/1", st.Ready, st.Desired)
	}
	// A third deploy of the running instance keeps it running.
	if err := v.Deploy(s.ctx(t), s.opts.Request(id)); err != nil {
		t.Fatalf("deploy a running instance again: %v", err)
	}
	st = s.waitPhase(t, v, id, vim.PhaseRunning)
	if st.Desired != 1 {
		t.Errorf("got desired %d after a third deploy; want 1", st.Desired)
	}
}

func (s *suite) lifecycle(t *testing.T) {
	v := s.newVIM(t)
	ctx := s.ctx(t)
	id, _ := s.deploy(t, v, "life", 1)
	st := s.waitPhase(t, v, id, vim.PhaseRunning)
	if st.Ready < 1 || len(st.Nodes) == 0 {
		t.Errorf("got ready %d on nodes %v; want a ready replica on a node", st.Ready, st.Nodes)
	}
	if st.Err() != nil {
		t.Errorf("a running status has an error: %v", st.Err())
	}
	for range 2 {
		if err := v.Stop(ctx, id); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	s.waitPhase(t, v, id, vim.PhaseStopped)
	for range 2 {
		if err := v.Start(ctx, id); err != nil {
			t.Fatalf("start: %v", err)
		}
	}
	if again := s.waitPhase(t, v, id, vim.PhaseRunning); again.Desired != st.Desired {
		t.Errorf("got desired %d after stop and start; want the %d it had", again.Desired, st.Desired)
	}
	if err := v.Terminate(ctx, id); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	st, err := v.Status(ctx, id)
	if err == nil && st.Phase != vim.PhaseTerminating || err != nil && !errors.Is(err, vim.ErrNotFound) {
		t.Fatalf("got %s, %v right after terminate; want Terminating or ErrNotFound", st.Phase, err)
	}
	if err := v.Terminate(ctx, id); err != nil {
		t.Fatalf("second terminate: %v", err)
	}
	s.waitGone(t, v, id)
	if err := v.Terminate(ctx, id); err != nil {
		t.Fatalf("terminate once gone: %v", err)
	}
}

func (s *suite) watch(t *testing.T) {
	v := s.newVIM(t)
	id, _ := s.deploy(t, v, "watch", 1)
	s.waitPhase(t, v, id, vim.PhaseRunning)
	wctx, cancel := context.WithCancel(s.ctx(t))
	defer cancel()
	events, err := v.Watch(wctx)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	var seen []string
	next := func(want func(vim.Event) bool, what string) {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("watch closed waiting for %s; saw %v", what, seen)
				}
				if ev.Status.AppInstanceID != id {
					continue
				}
				seen = append(seen, describe(ev))
				if want(ev) {
					return
				}
			case <-wctx.Done():
				t.Fatalf("no %s within %v; saw %v", what, s.opts.Timeout, seen)
			}
		}
	}
	// The first event for the instance is its current status.
	next(func(vim.Event) bool { return true }, "first event")
	if seen[0] != string(vim.PhaseRunning) {
		t.Fatalf("the watch started with %s; want the current status, Running", seen[0])
	}
	if err := v.Stop(wctx, id); err != nil {
		t.Fatalf("stop: %v", err)
	}
	next(func(ev vim.Event) bool { return ev.Status.Phase == vim.PhaseStopped }, "Stopped event")
	stopped := len(seen)
	if err := v.Terminate(wctx, id); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	next(func(ev vim.Event) bool { return ev.Deleted }, "deleted event")
	if slices.Contains(seen[stopped:], string(vim.PhaseRunning)) {
		t.Errorf("saw %v; want no Running after Stopped", seen)
	}
	cancel()
	closed := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-closed:
			t.Fatal("the watch channel did not close 10 s after its ctx ended")
		}
	}
}

func describe(ev vim.Event) string {
	if ev.Deleted {
		return "deleted"
	}
	return string(ev.Status.Phase)
}

func (s *suite) missingImage(t *testing.T) {
	if s.opts.MissingImage == nil {
		t.Skip("the backend cannot tell a missing image")
	}
	v := s.newVIM(t)
	id := s.opts.NewID("noimg")
	req := s.opts.Request(id)
	s.opts.MissingImage(&req)
	s.cleanup(t, v, id)
	err := v.Deploy(s.ctx(t), req)
	if err == nil {
		var st vim.Status
		st, err = vim.WaitRunning(s.ctx(t), v, id)
		if err == nil {
			t.Fatalf("an instance with a missing image is %s; want ErrImageMissing", st.Phase)
		}
	}
	var ve *vim.Error
	if !errors.Is(err, vim.ErrImageMissing) || !errors.As(err, &ve) || ve.Detail == "" {
		t.Fatalf("got %v; want a *vim.Error matching ErrImageMissing with the VIM's detail", err)
	}
}

func (s *suite) ownership(t *testing.T) {
	if s.opts.Foreign == nil {
		t.Skip("the backend has no foreign objects to take over")
	}
	v := s.newVIM(t)
	ctx := s.ctx(t)
	id := s.opts.NewID("foreign")
	intact := s.opts.Foreign(t, v, id)
	if err := v.Deploy(ctx, s.opts.Request(id)); !errors.Is(err, vim.ErrConflict) {
		t.Errorf("deploy over a foreign object: %v; want ErrConflict", err)
	}
	for op, f := range map[string]func(context.Context, string) error{"stop": v.Stop, "start": v.Start, "terminate": v.Terminate} {
		if err := f(ctx, id); !errors.Is(err, vim.ErrConflict) {
			t.Errorf("%s of a foreign object: %v; want ErrConflict", op, err)
		}
	}
	if err := intact(); err != nil {
		t.Errorf("the foreign object was changed: %v", err)
	}
}
