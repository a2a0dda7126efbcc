package lcm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// Store is what the LCM keeps its records in (pgstore.Store implements it). Every method
// that changes records runs in one transaction and queues the change's events in it.
type Store interface {
	// GetPackage returns the package with the id.
	GetPackage(ctx context.Context, id string) (*store.Package, error)

	// CreateAppInstance locks the onboarded package of appDID (store.ErrNotFound if none),
	// runs fn on it, inserts the instance fn returns and marks the package IN_USE.
	CreateAppInstance(ctx context.Context, appDID string, fn func(p *store.Package) (*store.AppInstance, store.LCMChange, error)) (*store.AppInstance, error)
	// GetAppInstance returns the instance with the id.
	GetAppInstance(ctx context.Context, id string) (*store.AppInstance, error)
	// ListAppInstances returns instances in creation order.
	ListAppInstances(ctx context.Context, q store.LCMListQuery) (store.InstancePage, error)
	// DeleteAppInstance locks the instance, runs check with its active op occurrence (nil if
	// none) and deletes it, marking its package NOT_IN_USE when it was the last instance.
	DeleteAppInstance(ctx context.Context, id string, check func(in *store.AppInstance, active *store.OpOcc) (store.LCMChange, error)) error
	// ObserveAppInstance records the site's observation of the instance (unknown ids are
	// ignored).
	ObserveAppInstance(ctx context.Context, id string, observed json.RawMessage) error

	// StartOp locks the instance, runs fn with its active op occurrence (nil if none) and
	// inserts the op occurrence fn returns; a second active op occurrence of the instance
	// fails with store.ErrActiveOp.
	StartOp(ctx context.Context, instanceID string, fn func(in *store.AppInstance, active *store.OpOcc) (*store.OpOcc, store.LCMChange, error)) (*store.OpOcc, error)
	// UpdateOp locks the op occurrence's instance (nil if gone) and the op occurrence, runs
	// fn and writes them back.
	UpdateOp(ctx context.Context, id string, fn func(op *store.OpOcc, in *store.AppInstance) (store.LCMChange, error)) (*store.OpOcc, error)
	// PlaceOp is UpdateOp that also locks the site's row after the op occurrence and hands
	// fn the site's load as of that lock.
	PlaceOp(ctx context.Context, id, siteID string, fn func(op *store.OpOcc, in *store.AppInstance, load store.SiteLoad) (store.LCMChange, error)) (*store.OpOcc, error)
	// GetOp returns the op occurrence with the id.
	GetOp(ctx context.Context, id string) (*store.OpOcc, error)
	// ListOps returns op occurrences in creation order.
	ListOps(ctx context.Context, q store.LCMListQuery) (store.OpPage, error)
	// ClaimOps leases due op occurrences to holder (see orchestrate.Ops.Claim), running fn on
	// each newly leased one; the instance given to fn is read without a lock and not written.
	ClaimOps(ctx context.Context, holder string, lease time.Duration, n int, fn func(op *store.OpOcc, in *store.AppInstance) (store.LCMChange, error)) ([]*store.OpOcc, error)
	// RenewOps extends holder's leases and returns the ids it holds and those with a cancel
	// pending.
	RenewOps(ctx context.Context, holder string, lease time.Duration) (held, cancelled []string, err error)
	// ReleaseOps drops holder's leases.
	ReleaseOps(ctx context.Context, holder string) error
	// DeployedTasks returns the instantiate tasks of the instances INSTANTIATED on the site
	// with no terminate or relocation in progress.
	DeployedTasks(ctx context.Context, siteID string) ([]json.RawMessage, error)
	// LastInstantiate returns the instance's latest COMPLETED INSTANTIATE op occurrence
	// (store.ErrNotFound if none).
	LastInstantiate(ctx context.Context, instanceID string) (*store.OpOcc, error)
	// SiteResidents returns the instances placed on the site in creation order, each with
	// its op occurrence in progress, the placement request of its latest completed
	// instantiate and its latest relocation away from the site that ended FAILED.
	SiteResidents(ctx context.Context, siteID string) ([]store.Resident, error)

	// CreateLCMSubscription inserts sub; GetLCMSubscription, ListLCMSubscriptions and
	// DeleteLCMSubscription read and delete subscriptions.
	CreateLCMSubscription(ctx context.Context, sub *store.LCMSubscription) error
	GetLCMSubscription(ctx context.Context, id string) (*store.LCMSubscription, error)
	ListLCMSubscriptions(ctx context.Context) ([]*store.LCMSubscription, error)
	DeleteLCMSubscription(ctx context.Context, id string) error
}

// DenyFunc reports whether a callback host (a literal address or a name) is refused.
type DenyFunc func(host string) bool

// Config configures a Service.
type Config struct {
	// Apps reads an onboarded package's AppD and artefacts (required for instantiate).
	Apps AppReader
	// Deny is checked against literal callback addresses of new subscriptions.
	Deny DenyFunc
	// Unsubscribed is told about deleted subscriptions (their queued notifications are
	// dropped unsent).
	Unsubscribed func(id string)
	// Runnable, if set, is called after an op occurrence was accepted or made due again
	// (retry), once committed: the executor then claims it at once instead of at its next
	// poll.
	Runnable func()
}

// Service is app lifecycle management over a store.
type Service struct {
	cfg Config
	st  Store
	log *slog.Logger
}

// New returns a Service.
func New(cfg Config, st Store, log *slog.Logger) *Service {
	return &Service{cfg: cfg, st: st, log: log}
}

// storeErr maps store sentinels to domain errors, keeping domain errors as they are.
func storeErr(err error, what string) error {
	var de *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de):
		return de
	case errors.Is(err, store.ErrNotFound):
		return errorf(ErrNotFound, "%s not found", what)
	case errors.Is(err, store.ErrActiveOp):
		return errorf(ErrConflict, "%s has another operation in progress: one operation at a time", what)
	}
	return err
}

// CreateInput is a CreateAppInstanceRequest.
type CreateInput struct {
	AppDID      string
	Name        string
	Description string
}

func instanceEvent(typ, notification string, in *store.AppInstance, t time.Time) store.LCMEvent {
	return store.LCMEvent{Type: typ, NotificationType: notification, Instance: *in, Time: t}
}

func stateEvent(in *store.AppInstance, t time.Time) store.LCMEvent {
	n := store.NotInstantiated
	if in.InstantiatedAppState != nil {
		n = in.InstantiatedAppState.OperationalState
	}
	return instanceEvent(InstanceStateChange, n, in, t)
}

func opEvent(op *store.OpOcc, in *store.AppInstance, t time.Time) store.LCMEvent {
	c := *op
	e := store.LCMEvent{Type: OpOccStateChange, NotificationType: op.OperationState, Op: &c, Time: t}
	if in != nil {
		e.Instance = *in
	} else {
		e.Instance.ID = op.AppInstanceID
	}
	return e
}

// Create creates an app instance NOT_INSTANTIATED of the onboarded, ENABLED package with the
// appDId, and queues its identifier creation notification.
func (s *Service) Create(ctx context.Context, in CreateInput) (*store.AppInstance, error) {
	if in.AppDID == "" {
		return nil, errorf(ErrInvalid, "appDId is required")
	}
	id := uuid.NewString()
	inst, err := s.st.CreateAppInstance(ctx, in.AppDID, func(p *store.Package) (*store.AppInstance, store.LCMChange, error) {
		if p.OperationalState != store.Enabled {
			return nil, store.LCMChange{}, errorf(ErrConflict, "app package %s with appDId %s is %s: enable it first", p.ID, p.AppDID, p.OperationalState)
		}
		inst := &store.AppInstance{ID: id, AppInstanceName: in.Name, AppInstanceDescription: in.Description,
			AppDID: p.AppDID, AppProvider: p.AppProvider, AppName: p.AppName, AppSoftVersion: p.AppSoftwareVersion,
			AppDVersion: p.AppDVersion, AppPkgID: p.ID, InstantiationState: store.NotInstantiated}
		return inst, store.LCMChange{Events: []store.LCMEvent{
			instanceEvent(IdentifierCreation, IdentifierCreationNotification, inst, time.Now())}}, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(ErrInvalid, "appDId %s: no onboarded app package has it", in.AppDID)
	}
	return inst, storeErr(err, "app instance "+id)
}

// Get returns the app instance.
func (s *Service) Get(ctx context.Context, id string) (*store.AppInstance, error) {
	in, err := s.st.GetAppInstance(ctx, id)
	return in, storeErr(err, "app instance "+id)
}

// List returns a page of app instances.
func (s *Service) List(ctx context.Context, q store.LCMListQuery) (store.InstancePage, error) {
	return s.st.ListAppInstances(ctx, q)
}

func busy(id string, active *store.OpOcc) error {
	if active == nil {
		return nil
	}
	hint := ""
	if active.OperationState == store.OpFailedTemp {
		hint = ": retry, fail or cancel it first"
	}
	return errorf(ErrConflict, "app instance %s has op occurrence %s (%s, %s) in progress%s; one operation at a time",
		id, active.ID, active.LcmOperation, active.OperationState, hint)
}

// Delete deletes an app instance that is NOT_INSTANTIATED with no operation in progress and
// queues its identifier deletion notification.
func (s *Service) Delete(ctx context.Context, id string) error {
	err := s.st.DeleteAppInstance(ctx, id, func(in *store.AppInstance, active *store.OpOcc) (store.LCMChange, error) {
		if err := busy(id, active); err != nil {
			return store.LCMChange{}, err
		}
		if in.InstantiationState != store.NotInstantiated {
			return store.LCMChange{}, errorf(ErrConflict, "app instance %s is %s: terminate it first", id, in.InstantiationState)
		}
		return store.LCMChange{Events: []store.LCMEvent{
			instanceEvent(IdentifierDeletion, IdentifierDeletionNotification, in, time.Now())}}, nil
	})
	return storeErr(err, "app instance "+id)
}

// app reads the AppD and artefacts of the instance's package.
func (s *Service) app(ctx context.Context, inst *store.AppInstance) (*App, error) {
	p, err := s.st.GetPackage(ctx, inst.AppPkgID)
	if err != nil {
		return nil, storeErr(err, "app package "+inst.AppPkgID)
	}
	if s.cfg.Apps == nil || len(p.Parsed) == 0 {
		return nil, errorf(ErrConflict, "app package %s holds no parsed AppD", p.ID)
	}
	app, err := s.cfg.Apps(p.Parsed)
	if err != nil {
		return nil, fmt.Errorf("read app package %s: %w", p.ID, err)
	}
	return app, nil
}

func newOp(id, operation string, inst *store.AppInstance, params json.RawMessage, t time.Time) *store.OpOcc {
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	op := &store.OpOcc{ID: id, LcmOperation: operation, AppInstanceID: inst.ID, OperationParams: params,
		StartTime: store.Stamp(t), NextAttempt: t}
	op.SetState(store.OpStarting, t)
	return op
}

// start records an accepted task: fn checks the locked instance's state, then the op
// occurrence goes in STARTING with its notification.
func (s *Service) start(ctx context.Context, id string, op *store.OpOcc, check func(in *store.AppInstance) error) (*store.OpOcc, error) {
	out, err := s.st.StartOp(ctx, id, func(in *store.AppInstance, active *store.OpOcc) (*store.OpOcc, store.LCMChange, error) {
		if err := busy(id, active); err != nil {
			return nil, store.LCMChange{}, err
		}
		if err := check(in); err != nil {
			return nil, store.LCMChange{}, err
		}
		if op.LcmOperation != store.OpInstantiate {
			op.SiteID = in.SiteID
		}
		return op, store.LCMChange{Events: []store.LCMEvent{opEvent(op, in, time.Now())}}, nil
	})
	if err == nil {
		s.runnable()
	}
	return out, storeErr(err, "app instance "+id)
}

func (s *Service) runnable() {
	if s.cfg.Runnable != nil {
		s.cfg.Runnable()
	}
}

// Instantiate accepts an instantiate of the instance: the op occurrence, STARTING, carries the
// reconcile task and the placement request the executor runs.
func (s *Service) Instantiate(ctx context.Context, id string, in InstantiateInput) (*store.OpOcc, error) {
	inst, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := notInstantiated(inst); err != nil {
		return nil, err
	}
	for i, h := range in.Hosts {
		if h.ID == "" {
			return nil, errorf(ErrInvalid, "selectedMECHostInfo/%d/hostId: want a site id", i)
		}
	}
	app, err := s.app(ctx, inst)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	op := newOp(uuid.NewString(), store.OpInstantiate, inst, in.Params, now)
	task, req, err := buildInstantiate(op.ID, appInstanceView{id: inst.ID, name: inst.AppInstanceName}, app, in)
	if err != nil {
		return nil, err
	}
	if op.Task, err = json.Marshal(task); err != nil {
		return nil, err
	}
	if op.PlacementRequest, err = json.Marshal(placementRecord{Request: req, Hosts: in.Hosts}); err != nil {
		return nil, err
	}
	return s.start(ctx, id, op, notInstantiated)
}

func notInstantiated(in *store.AppInstance) error {
	if in.InstantiationState == store.Instantiated {
		return errorf(ErrConflict, "app instance %s is INSTANTIATED already", in.ID)
	}
	return nil
}

func instantiated(in *store.AppInstance) error {
	if in.InstantiationState != store.Instantiated {
		return errorf(ErrConflict, "app instance %s is NOT_INSTANTIATED: instantiate it first", in.ID)
	}
	return nil
}

// Operate accepts a change of the instance's operational state.
func (s *Service) Operate(ctx context.Context, id string, in OperateInput) (*store.OpOcc, error) {
	inst, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	app, err := s.app(ctx, inst)
	if err != nil {
		return nil, err
	}
	op := newOp(uuid.NewString(), store.OpOperate, inst, in.Params, time.Now())
	task, err := buildOperate(op.ID, inst.ID, app.AppD, in)
	if err != nil {
		return nil, err
	}
	check := func(cur *store.AppInstance) error {
		if err := instantiated(cur); err != nil {
			return err
		}
		if cur.InstantiatedAppState != nil && cur.InstantiatedAppState.OperationalState == in.ChangeStateTo {
			return errorf(ErrConflict, "app instance %s is %s already", cur.ID, in.ChangeStateTo)
		}
		return nil
	}
	if err := check(inst); err != nil {
		return nil, err
	}
	if op.Task, err = json.Marshal(task); err != nil {
		return nil, err
	}
	return s.start(ctx, id, op, check)
}

// Terminate accepts a termination of the instance.
func (s *Service) Terminate(ctx context.Context, id string, in TerminateInput) (*store.OpOcc, error) {
	inst, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := instantiated(inst); err != nil {
		return nil, err
	}
	app, err := s.app(ctx, inst)
	if err != nil {
		return nil, err
	}
	op := newOp(uuid.NewString(), store.OpTerminate, inst, in.Params, time.Now())
	task, err := buildTerminate(op.ID, inst.ID, app.AppD, in)
	if err != nil {
		return nil, err
	}
	if op.Task, err = json.Marshal(task); err != nil {
		return nil, err
	}
	return s.start(ctx, id, op, instantiated)
}

// GetOp returns the op occurrence.
func (s *Service) GetOp(ctx context.Context, id string) (*store.OpOcc, error) {
	op, err := s.st.GetOp(ctx, id)
	return op, storeErr(err, "op occurrence "+id)
}

// ListOps returns a page of op occurrences.
func (s *Service) ListOps(ctx context.Context, q store.LCMListQuery) (store.OpPage, error) {
	return s.st.ListOps(ctx, q)
}

// Retry runs an op occurrence in FAILED_TEMP again at once: it goes back to PROCESSING when
// it was placed (or runs on its instance's site), else to STARTING.
func (s *Service) Retry(ctx context.Context, id string) (*store.OpOcc, error) {
	op, err := s.st.UpdateOp(ctx, id, func(op *store.OpOcc, in *store.AppInstance) (store.LCMChange, error) {
		if op.OperationState != store.OpFailedTemp {
			return store.LCMChange{}, errorf(ErrConflict, "op occurrence %s is %s: only FAILED_TEMP can be retried", id, op.OperationState)
		}
		now := time.Now()
		resume(op, now)
		op.NextAttempt = now
		return store.LCMChange{Events: []store.LCMEvent{opEvent(op, in, now)}}, nil
	})
	if err == nil {
		s.runnable()
	}
	return op, storeErr(err, "op occurrence "+id)
}

// resume moves a FAILED_TEMP op occurrence back to where it runs again.
func resume(op *store.OpOcc, now time.Time) {
	state := store.OpStarting
	if op.SiteID != "" {
		state = store.OpProcessing
	}
	op.SetState(state, now)
	op.Error, op.CancelMode, op.IsCancelPending = nil, "", false
	op.ClaimedBy, op.LeaseUntil = "", time.Time{}
}

// releaseSite gives an instance's site back (an instantiate failed for good, or a terminate
// completed).
func releaseSite(in *store.AppInstance) {
	in.SiteID, in.Resources, in.MECHostInformation = "", store.AppInstance{}.Resources, nil
}

// Fail ends an op occurrence in FAILED_TEMP as FAILED; an instantiate's site is given back.
func (s *Service) Fail(ctx context.Context, id string) (*store.OpOcc, error) {
	op, err := s.st.UpdateOp(ctx, id, func(op *store.OpOcc, in *store.AppInstance) (store.LCMChange, error) {
		if op.OperationState != store.OpFailedTemp {
			return store.LCMChange{}, errorf(ErrConflict, "op occurrence %s is %s: only FAILED_TEMP can be failed", id, op.OperationState)
		}
		now := time.Now()
		op.SetState(store.OpFailed, now)
		op.IsCancelPending, op.ClaimedBy, op.NextAttempt = false, "", time.Time{}
		ch := store.LCMChange{}
		if op.LcmOperation == store.OpInstantiate && in != nil && in.InstantiationState == store.NotInstantiated {
			releaseSite(in)
			ch.WriteInstance = true
		}
		ch.Events = []store.LCMEvent{opEvent(op, in, now)}
		return ch, nil
	})
	return op, storeErr(err, "op occurrence "+id)
}

// Cancel cancels an op occurrence in STARTING or PROCESSING. One no MEO process holds a
// live lease on moves to FAILED_TEMP at once; a running one is marked isCancelPending and
// its executor, which sees that through Renew, ends the run FAILED_TEMP.
func (s *Service) Cancel(ctx context.Context, id, mode string) (*store.OpOcc, error) {
	if mode != "GRACEFUL" && mode != "FORCEFUL" {
		return nil, errorf(ErrInvalid, "cancelMode %q: want GRACEFUL or FORCEFUL", mode)
	}
	op, err := s.st.UpdateOp(ctx, id, func(op *store.OpOcc, in *store.AppInstance) (store.LCMChange, error) {
		if op.OperationState != store.OpStarting && op.OperationState != store.OpProcessing {
			return store.LCMChange{}, errorf(ErrConflict, "op occurrence %s is %s: only STARTING or PROCESSING can be cancelled", id, op.OperationState)
		}
		if op.IsCancelPending {
			return store.LCMChange{}, errorf(ErrConflict, "op occurrence %s has a cancel pending already", id)
		}
		now := time.Now()
		op.CancelMode = mode
		if op.ClaimedBy != "" && op.LeaseUntil.After(now) {
			op.IsCancelPending = true
			return store.LCMChange{}, nil
		}
		op.SetState(store.OpFailedTemp, now)
		op.Error = &store.Problem{Status: 409, Title: "Operation cancelled", Detail: "cancelled (" + mode + ") before it ran to its end; retry or fail it"}
		op.ClaimedBy, op.NextAttempt = "", time.Time{}
		return store.LCMChange{Events: []store.LCMEvent{opEvent(op, in, now)}}, nil
	})
	return op, storeErr(err, "op occurrence "+id)
}

// placementRecord is what an instantiate keeps for the executor: the placement request, and
// the selectedMECHostInfo names (hostName) to show once placed.
type placementRecord struct {
	Request placement.Request `json:"request"`
	Hosts   []Host            `json:"hosts,omitempty"`
}
