package lcm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

var _ orchestrate.Ops = (*Service)(nil)

// Claim implements orchestrate.Ops. Besides STARTING and PROCESSING op occurrences, it takes
// FAILED_TEMP ones whose retry time (Finished's retryAt) has come: they move back to
// STARTING or PROCESSING, with their notification, as a retry asked by a client does. A
// FAILED_TEMP op occurrence finished with a zero retryAt, or cancelled, waits for a client's
// retry or fail.
func (s *Service) Claim(ctx context.Context, holder string, lease time.Duration, n int) ([]orchestrate.Op, error) {
	appD := map[string]string{}
	ops, err := s.st.ClaimOps(ctx, holder, lease, n, func(op *store.OpOcc, in *store.AppInstance) (store.LCMChange, error) {
		if in != nil {
			appD[op.ID] = in.AppDID
		}
		if op.OperationState != store.OpFailedTemp {
			return store.LCMChange{}, nil
		}
		now := time.Now()
		resume(op, now)
		return store.LCMChange{Events: []store.LCMEvent{opEvent(op, in, now)}}, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]orchestrate.Op, 0, len(ops))
	for _, op := range ops {
		o, err := claimed(op, appD[op.ID])
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// claimed converts a leased op occurrence for the executor.
func claimed(op *store.OpOcc, appDID string) (orchestrate.Op, error) {
	o := orchestrate.Op{ID: op.ID, Operation: orchestrate.Operation(op.LcmOperation), State: orchestrate.State(op.OperationState),
		AppInstanceID: op.AppInstanceID, AppDID: appDID, SiteID: op.SiteID, CancelMode: op.CancelMode, Attempts: op.Attempts,
		Params: op.OperationParams}
	if len(op.Task) > 0 {
		if err := json.Unmarshal(op.Task, &o.Task); err != nil {
			return o, fmt.Errorf("op occurrence %s: decode task: %w", op.ID, err)
		}
	}
	if len(op.PlacementRequest) > 0 {
		var pr placementRecord
		if err := json.Unmarshal(op.PlacementRequest, &pr); err != nil {
			return o, fmt.Errorf("op occurrence %s: decode placement request: %w", op.ID, err)
		}
		o.Placement = pr.Request
	}
	if o.AppDID == "" {
		o.AppDID = o.Task.Deploy.AppDID
	}
	if rel := relocationOf(op); rel != nil {
		o.Relocation = &orchestrate.Relocation{From: rel.From, GracefulTimeout: time.Duration(rel.GracefulTimeout) * time.Second,
			Stopped: rel.Stopped}
	}
	return o, nil
}

// Renew implements orchestrate.Ops: it returns every held op occurrence, and those with a
// cancel pending, each time until its run ends.
func (s *Service) Renew(ctx context.Context, holder string, lease time.Duration) (held, cancelled []string, err error) {
	return s.st.RenewOps(ctx, holder, lease)
}

// Release implements orchestrate.Ops.
func (s *Service) Release(ctx context.Context, holder string) error {
	return s.st.ReleaseOps(ctx, holder)
}

// hostName is the name to show for the chosen site: the one selectedMECHostInfo gave, else
// the site's name in the decision.
func hostName(siteID string, op *store.OpOcc, decision json.RawMessage) string {
	var pr placementRecord
	if len(op.PlacementRequest) > 0 && json.Unmarshal(op.PlacementRequest, &pr) == nil {
		for _, h := range pr.Hosts {
			if h.ID == siteID && h.Name != "" {
				return h.Name
			}
		}
	}
	var d struct {
		Chosen *struct {
			SiteID   string `json:"siteId"`
			SiteName string `json:"siteName"`
		} `json:"chosen"`
	}
	if len(decision) > 0 && json.Unmarshal(decision, &d) == nil && d.Chosen != nil && d.Chosen.SiteID == siteID {
		return d.Chosen.SiteName
	}
	return ""
}

// Placed implements orchestrate.Ops. Placing an op occurrence already PROCESSING on the same
// site again (a run resumed after a crash) updates the decision and resources without a
// notification.
func (s *Service) Placed(ctx context.Context, opID, siteID string, decision json.RawMessage, committed vim.Resources) error {
	if siteID == "" {
		return errors.New("placed without a site")
	}
	// A placement decided here commits capacity: it is checked under the site's lock. A
	// pinned site (selectedMECHostInfo) and OPERATE and TERMINATE are taken as they come.
	check := len(decision) > 0 && string(decision) != "null"
	update := func(fn func(op *store.OpOcc, in *store.AppInstance, load store.SiteLoad) (store.LCMChange, error)) error {
		if check {
			_, err := s.st.PlaceOp(ctx, opID, siteID, fn)
			return err
		}
		_, err := s.st.UpdateOp(ctx, opID, func(op *store.OpOcc, in *store.AppInstance) (store.LCMChange, error) {
			return fn(op, in, store.SiteLoad{})
		})
		return err
	}
	return update(func(op *store.OpOcc, in *store.AppInstance, load store.SiteLoad) (store.LCMChange, error) {
		var ch store.LCMChange
		switch op.OperationState {
		case store.OpStarting:
		case store.OpProcessing:
			if op.SiteID != siteID {
				return ch, fmt.Errorf("op occurrence %s runs on site %s, not %s", opID, op.SiteID, siteID)
			}
		default:
			return ch, fmt.Errorf("op occurrence %s is %s: it cannot be placed", opID, op.OperationState)
		}
		if check && op.LcmOperation == store.OpInstantiate {
			if err := fits(load, committed); err != nil {
				return ch, fmt.Errorf("place op occurrence %s on site %s: %w", opID, siteID, err)
			}
		}
		now := time.Now()
		moved := op.OperationState == store.OpStarting
		op.SiteID = siteID
		if len(decision) > 0 && string(decision) != "null" {
			op.Placement = decision
		}
		// A relocation leaves the instance on its site until it completed; the new site
		// counts it from here on (store: the relocations in progress count where they go).
		if op.LcmOperation == store.OpInstantiate && in != nil && relocationOf(op) == nil {
			in.SiteID, in.Resources = siteID, committed
			in.MECHostInformation = &store.HostInfo{HostID: siteID, HostName: hostName(siteID, op, decision)}
			ch.WriteInstance = true
		}
		if moved {
			op.SetState(store.OpProcessing, now)
			ch.Events = []store.LCMEvent{opEvent(op, in, now)}
		}
		return ch, nil
	})
}

// fits checks that need fits in what load leaves free of the site's allocatable resources
// (placement's rule: CPU and memory always, pods when the site counts them). A site whose
// capacity is not known yet takes the placement as it comes.
func fits(load store.SiteLoad, need vim.Resources) error {
	if !load.Known {
		return nil
	}
	a, c := load.Allocatable, load.Committed
	switch {
	case c.MilliCPU+need.MilliCPU > a.MilliCPU:
		return fmt.Errorf("%w: cpu: needs %dm, %dm free", orchestrate.ErrNoCapacity, need.MilliCPU, max(a.MilliCPU-c.MilliCPU, 0))
	case c.MemoryBytes+need.MemoryBytes > a.MemoryBytes:
		return fmt.Errorf("%w: memory: needs %d bytes, %d free", orchestrate.ErrNoCapacity, need.MemoryBytes, max(a.MemoryBytes-c.MemoryBytes, 0))
	case need.Pods > 0 && a.Pods > 0 && c.Pods+need.Pods > a.Pods:
		return fmt.Errorf("%w: pods: needs %d, %d free", orchestrate.ErrNoCapacity, need.Pods, max(a.Pods-c.Pods, 0))
	}
	return nil
}

func toProblem(d *problem.Details) *store.Problem {
	if d == nil {
		return nil
	}
	return &store.Problem{Type: d.Type, Title: d.Title, Status: d.Status, Detail: d.Detail, Instance: d.Instance}
}

// Finished implements orchestrate.Ops. An op occurrence counts as leased to holder while
// holder's claim is on it, even past the lease's end, as long as no other process took it
// over.
func (s *Service) Finished(ctx context.Context, holder, opID string, state orchestrate.State, failure *problem.Details, retryAt time.Time) error {
	switch state {
	case orchestrate.Completed:
	case orchestrate.Failed, orchestrate.FailedTemp:
		if failure == nil {
			return fmt.Errorf("finish op occurrence %s %s: a failure is required", opID, state)
		}
	default:
		return fmt.Errorf("finish op occurrence %s: %s is not an end of a run", opID, state)
	}
	_, err := s.st.UpdateOp(ctx, opID, func(op *store.OpOcc, in *store.AppInstance) (store.LCMChange, error) {
		var ch store.LCMChange
		if op.ClaimedBy != holder || (op.OperationState != store.OpStarting && op.OperationState != store.OpProcessing) {
			return ch, fmt.Errorf("op occurrence %s (%s): %w", opID, op.OperationState, orchestrate.ErrLeaseLost)
		}
		now := time.Now()
		cancelled := op.IsCancelPending
		op.SetState(string(state), now)
		op.ClaimedBy, op.IsCancelPending, op.NextAttempt = "", false, time.Time{}
		switch state {
		case orchestrate.Completed:
			op.Error = nil
			if in != nil {
				var err error
				if ch.WriteInstance, err = completed(op, in); err != nil {
					return ch, err
				}
				if ch.WriteInstance {
					ch.Events = append(ch.Events, stateEvent(in, now))
				}
			}
		case orchestrate.Failed:
			op.Error = toProblem(failure)
			if op.LcmOperation == store.OpInstantiate && in != nil && in.InstantiationState == store.NotInstantiated {
				releaseSite(in)
				ch.WriteInstance = true
			}
		case orchestrate.FailedTemp:
			op.Error = toProblem(failure)
			op.Attempts++
			if !cancelled {
				op.NextAttempt = retryAt
			}
		}
		ch.Events = append([]store.LCMEvent{opEvent(op, in, now)}, ch.Events...)
		return ch, nil
	})
	return err
}

// completed changes the instance as a completed operation says; it reports whether the
// instance changed.
func completed(op *store.OpOcc, in *store.AppInstance) (bool, error) {
	switch op.LcmOperation {
	case store.OpInstantiate:
		if rel := relocationOf(op); rel != nil {
			return true, relocated(op, in, rel)
		}
		in.InstantiationState = store.Instantiated
		in.InstantiatedAppState = &store.AppState{OperationalState: store.Started}
		in.AppConfirmedReady = true
		if in.SiteID == "" {
			in.SiteID = op.SiteID
		}
		if in.MECHostInformation == nil && in.SiteID != "" {
			in.MECHostInformation = &store.HostInfo{HostID: in.SiteID}
		}
	case store.OpOperate:
		var t reconcile.Task
		if err := json.Unmarshal(op.Task, &t); err != nil {
			return false, fmt.Errorf("op occurrence %s: decode task: %w", op.ID, err)
		}
		state := store.Started
		if t.Kind == reconcile.KindStop {
			state = store.Stopped
		}
		in.InstantiatedAppState = &store.AppState{OperationalState: state}
	case store.OpTerminate:
		in.InstantiationState = store.NotInstantiated
		in.InstantiatedAppState = nil
		in.AppConfirmedReady = false
		in.Observed = nil
		releaseSite(in)
	default:
		return false, nil
	}
	return true, nil
}

// observation is what AppInstanceInfo.observedState shows of a reconcile.Observation.
type observation struct {
	SiteID     string          `json:"siteId,omitempty"`
	Phase      vim.Phase       `json:"phase,omitempty"`
	Reasons    []vim.Reason    `json:"reasons,omitempty"`
	Endpoints  []vim.Endpoint  `json:"endpoints,omitempty"`
	Deleted    bool            `json:"deleted,omitempty"`
	Drift      bool            `json:"drift,omitempty"`
	Recreating bool            `json:"recreating,omitempty"`
	ObservedAt store.TimeStamp `json:"observedAt"`
}

// Observed implements orchestrate.Ops.
func (s *Service) Observed(ctx context.Context, o reconcile.Observation) error {
	b, err := json.Marshal(observation{SiteID: o.Site, Phase: o.Phase, Reasons: o.Reasons, Endpoints: o.Endpoints,
		Deleted: o.Deleted, Drift: o.Drift, Recreating: o.Recreating, ObservedAt: store.Stamp(time.Now())})
	if err != nil {
		return err
	}
	return s.st.ObserveAppInstance(ctx, o.AppInstanceID, b)
}

// Deployed implements orchestrate.Ops.
func (s *Service) Deployed(ctx context.Context, siteID string) ([]reconcile.Task, error) {
	raws, err := s.st.DeployedTasks(ctx, siteID)
	if err != nil {
		return nil, err
	}
	out := make([]reconcile.Task, 0, len(raws))
	for _, r := range raws {
		var t reconcile.Task
		if err := json.Unmarshal(r, &t); err != nil {
			return nil, fmt.Errorf("deployed task on site %s: %w", siteID, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// ObservedState is an instance's observedState: the site's last observation and whether
// the app confirmed ready on its MEP; nil when there is neither.
func ObservedState(in *store.AppInstance) map[string]any {
	if len(in.Observed) == 0 && !in.AppConfirmedReady {
		return nil
	}
	m := map[string]any{}
	if len(in.Observed) > 0 {
		_ = json.Unmarshal(in.Observed, &m)
	}
	m["appConfirmedReady"] = in.AppConfirmedReady
	return m
}
