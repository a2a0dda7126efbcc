package lcm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// A relocation moves an INSTANTIATED instance to another site (the drain of its site, see
// meo/internal/orchestrate/drain.go). It is an INSTANTIATE op occurrence of the instance,
// with the task and placement request of the instantiate that put the instance where it is,
// and operationParams as that instantiate's request plus a "relocation" member:
//
//	{"relocation": {"fromSiteId": "site-a", "gracefulTerminationTimeout": 30, "stopped": false}, ...}
//
// The instance stays on its site, INSTANTIATED, until the op is COMPLETED; then it is on the
// new site (mecHostInformation) in the same transaction. A FAILED relocation leaves it where
// it was.

// relocationParams is the "relocation" member of a relocation's operationParams.
type relocationParams struct {
	From string `json:"fromSiteId"`
	// GracefulTimeout is in seconds (0: the MEP's default).
	GracefulTimeout int  `json:"gracefulTerminationTimeout,omitempty"`
	Stopped         bool `json:"stopped,omitempty"`
}

// relocationOf returns the relocation an op occurrence makes, nil for every other op.
func relocationOf(op *store.OpOcc) *relocationParams {
	if op.LcmOperation != store.OpInstantiate || len(op.OperationParams) == 0 {
		return nil
	}
	var p struct {
		Relocation *relocationParams `json:"relocation"`
	}
	if json.Unmarshal(op.OperationParams, &p) != nil || p.Relocation == nil || p.Relocation.From == "" {
		return nil
	}
	return p.Relocation
}

// Relocate implements orchestrate.Drains: it accepts the move of an instance INSTANTIATED
// on from with no op occurrence in progress.
func (s *Service) Relocate(ctx context.Context, id, from string) (string, error) {
	inst, err := s.Get(ctx, id)
	if err != nil {
		return "", err
	}
	last, err := s.st.LastInstantiate(ctx, id)
	if err != nil {
		return "", storeErr(err, "the instantiate of app instance "+id)
	}
	var timeout int
	if app, err := s.app(ctx, inst); err == nil {
		if t, err := buildTerminate("", id, app.AppD, TerminateInput{TerminationType: "GRACEFUL"}); err == nil {
			timeout = int(t.GracefulTimeout / time.Second)
		}
	}
	params := map[string]any{}
	if len(last.OperationParams) > 0 {
		_ = json.Unmarshal(last.OperationParams, &params)
	}
	rel := relocationParams{From: from, GracefulTimeout: timeout,
		Stopped: inst.InstantiatedAppState != nil && inst.InstantiatedAppState.OperationalState == store.Stopped}
	params["relocation"] = rel
	raw, err := json.Marshal(params)
	if err != nil {
		return "", err
	}
	now := time.Now()
	op := newOp(uuid.NewString(), store.OpInstantiate, inst, raw, now)
	var task reconcile.Task
	if err := json.Unmarshal(last.Task, &task); err != nil {
		return "", fmt.Errorf("op occurrence %s: decode task: %w", last.ID, err)
	}
	task.ID = op.ID
	if op.Task, err = json.Marshal(task); err != nil {
		return "", err
	}
	op.PlacementRequest = last.PlacementRequest
	out, err := s.start(ctx, id, op, func(in *store.AppInstance) error {
		if err := instantiated(in); err != nil {
			return err
		}
		if in.SiteID != from {
			return errorf(ErrConflict, "app instance %s is on site %q, not %s", id, in.SiteID, from)
		}
		stopped := in.InstantiatedAppState != nil && in.InstantiatedAppState.OperationalState == store.Stopped
		if stopped != rel.Stopped {
			return errorf(ErrConflict, "app instance %s changed meanwhile", id)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return out.ID, nil
}

// Residents implements orchestrate.Drains.
func (s *Service) Residents(ctx context.Context, siteID string) ([]orchestrate.Resident, error) {
	rs, err := s.st.SiteResidents(ctx, siteID)
	if err != nil {
		return nil, err
	}
	out := make([]orchestrate.Resident, 0, len(rs))
	for _, r := range rs {
		o := orchestrate.Resident{AppInstanceID: r.Instance.ID, AppDID: r.Instance.AppDID,
			Instantiated: r.Instance.InstantiationState == store.Instantiated, Active: residentOp(r.Active), LastFailed: residentOp(r.LastFailed)}
		if len(r.Placement) > 0 {
			var pr placementRecord
			if err := json.Unmarshal(r.Placement, &pr); err != nil {
				return nil, fmt.Errorf("app instance %s: decode placement request: %w", r.Instance.ID, err)
			}
			o.Placement = pr.Request
		}
		out = append(out, o)
	}
	return out, nil
}

func residentOp(op *store.OpOcc) *orchestrate.ResidentOp {
	if op == nil {
		return nil
	}
	r := &orchestrate.ResidentOp{ID: op.ID, Operation: orchestrate.Operation(op.LcmOperation), State: orchestrate.State(op.OperationState),
		Entered: op.StateEnteredTime.Time()}
	if rel := relocationOf(op); rel != nil {
		r.RelocateFrom = rel.From
	}
	if op.Error != nil {
		r.Error = &problem.Details{Type: op.Error.Type, Title: op.Error.Title, Status: op.Error.Status, Detail: op.Error.Detail}
	}
	return r
}

// relocated moves an instance whose relocation completed to the op's site.
func relocated(op *store.OpOcc, in *store.AppInstance, rel *relocationParams) error {
	if in.InstantiationState != store.Instantiated || in.SiteID != rel.From {
		return errors.New("the instance left " + rel.From + " meanwhile")
	}
	in.SiteID = op.SiteID
	in.MECHostInformation = &store.HostInfo{HostID: op.SiteID, HostName: hostName(op.SiteID, op, op.Placement)}
	in.Observed = nil
	in.AppConfirmedReady = true
	return nil
}
