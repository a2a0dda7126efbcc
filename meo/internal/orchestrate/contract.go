// Package orchestrate runs the MEO's lifecycle operations: it claims op occurrences from the
// database (several MEO replicas share them, none runs one twice), places instantiations with
// placement.Decide over the inventory's sites, runs each task on its site through
// reconcile.Runner, records the outcome on the op occurrence, and follows every site with a
// reconcile.Watcher under a per-site lease so that observed state flows back.
//
// It declares what it needs of the LCM (Ops) and of the inventory (Sites); meo.go wires the
// implementations in.
package orchestrate

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// ErrLeaseLost is returned by Ops.Finished for an op occurrence no longer leased to the
// caller: another replica took it over, and its outcome is that replica's to record.
var ErrLeaseLost = errors.New("op occurrence lease lost")

// ErrNoCapacity is returned by Ops.Placed when the chosen site no longer has the free
// capacity the placement counted on: another placement (of this MEO process or another)
// committed there since the sites were read. The executor places the op again.
var ErrNoCapacity = errors.New("site capacity taken since placement")

// Operation is an op occurrence's lcmOperation (ETSI GS MEC 010-2).
type Operation string

// Operations.
const (
	OpInstantiate Operation = "INSTANTIATE"
	OpOperate     Operation = "OPERATE"
	OpTerminate   Operation = "TERMINATE"
)

// State is an op occurrence's operationState (ETSI GS MEC 010-2, V3 FAILED_TEMP).
type State string

// States.
const (
	Starting   State = "STARTING"
	Processing State = "PROCESSING"
	Completed  State = "COMPLETED"
	FailedTemp State = "FAILED_TEMP"
	Failed     State = "FAILED"
)

// Op is a claimed op occurrence with everything needed to run it.
type Op struct {
	// ID is the op occurrence's id; it is also the reconcile task id (the journal key).
	ID            string
	Operation     Operation
	State         State
	AppInstanceID string
	AppDID        string
	// SiteID is where the op runs: set for OPERATE and TERMINATE (the instance's site), and
	// for INSTANTIATE once placed (a claim after a crash between placing and running).
	SiteID string
	// Task is the reconcile task with its ID, Kind, AppInstanceID, App, Deploy, StopType and
	// GracefulTimeout filled in by the LCM when it accepted the request (from the AppD, the
	// package's artifacts and the request's overrides).
	Task reconcile.Task
	// Placement is the placement request of an INSTANTIATE (from the AppD and the request's
	// selectedMECHostInfo and locationConstraints); unused otherwise.
	Placement placement.Request
	// CancelMode is set when a cancel was asked (GRACEFUL or FORCEFUL).
	CancelMode string
	// Attempts counts the runs that ended FAILED_TEMP.
	Attempts int
	// Params is the request as accepted (the op occurrence's operationParams); the traffic
	// steering reads an instantiate's additionalParams from it.
	Params json.RawMessage
	// Relocation is set on an INSTANTIATE that moves an INSTANTIATED instance to another
	// site (a drain, see drain.go); nil on every other op.
	Relocation *Relocation
}

// Relocation is what an INSTANTIATE that moves an instance needs besides its task: where
// the instance is, and how the copy there ends.
type Relocation struct {
	// From is the site the instance moves away from; placement never chooses it.
	From string `json:"fromSiteId"`
	// GracefulTimeout bounds the termination flow of the copy on From (the AppD's minimum
	// graceful termination timeout; zero: the MEP's default).
	GracefulTimeout time.Duration `json:"-"`
	// Stopped is set when the instance was STOPPED: the new copy is stopped before the old
	// one goes, and the instance stays STOPPED.
	Stopped bool `json:"stopped,omitempty"`
}

// Ops is what the executor needs of the LCM's op occurrences. Every method that changes an
// op occurrence or an instance also queues the LCM notifications it causes, in the same
// transaction.
type Ops interface {
	// Claim leases to holder, until now+lease, up to n op occurrences in STARTING or
	// PROCESSING whose next attempt is due and which no live holder leases (unleased, leased
	// by holder, or with a lapsed lease), oldest first, using FOR UPDATE SKIP LOCKED; it
	// renews the lease of those holder already holds. It returns the ones newly leased to
	// holder (not the renewed ones).
	Claim(ctx context.Context, holder string, lease time.Duration, n int) ([]Op, error)
	// Renew extends holder's leases on the op occurrences it holds and returns their ids
	// (held: a run of holder's whose op is not among them lost its claim to another
	// process and is stopped at once) and the ids of those on which a cancel was asked
	// since (V3 cancel of a PROCESSING op: the executor stops the run and ends it
	// FAILED_TEMP with a "cancelled" failure).
	Renew(ctx context.Context, holder string, lease time.Duration) (held, cancelled []string, err error)
	// Release drops holder's leases (on a clean stop).
	Release(ctx context.Context, holder string) error

	// Placed records the placement of an INSTANTIATE: op → PROCESSING with siteID and the
	// decision (placement.Decision as JSON); the instance's site_id and resources are set so
	// that the site's committed resources count it. OPERATE and TERMINATE move to PROCESSING
	// through Placed too, with their instance's site and a nil decision. With a decision,
	// the site's free capacity (allocatable minus what the other instances there commit) is
	// checked against committed in the same transaction, under a lock on the site that every
	// placement on it takes, so that MEO processes placing at once never overcommit a site:
	// ErrNoCapacity when it no longer fits.
	Placed(ctx context.Context, opID, siteID string, decision json.RawMessage, committed vim.Resources) error
	// Finished records the end of a run: COMPLETED, FAILED (failure required) or FAILED_TEMP
	// (failure required; the op is kept, no longer leased, next attempt at retryAt). On
	// COMPLETED the instance changes as the operation says (INSTANTIATE: INSTANTIATED and
	// STARTED on the op's site; OPERATE: the requested operational state; TERMINATE:
	// NOT_INSTANTIATED, site and resources cleared). On FAILED of an INSTANTIATE the
	// instance's site and resources are cleared again. A call for an op that is no longer
	// leased to holder changes nothing and returns ErrLeaseLost.
	Finished(ctx context.Context, holder, opID string, state State, failure *problem.Details, retryAt time.Time) error
	// Observed records what a site reports of an instance (phase, reasons, endpoints,
	// drift), shown in AppInstanceInfo; instance ids not known are ignored.
	Observed(ctx context.Context, o reconcile.Observation) error
	// Deployed lists, for a site, the reconcile tasks of the instances that are INSTANTIATED
	// there and have no TERMINATE op occurrence in progress (the reconcile.Inventory).
	Deployed(ctx context.Context, siteID string) ([]reconcile.Task, error)
}

// Sites is what the executor needs of the inventory.
type Sites interface {
	// Placement returns every site as placement sees it: schedulability, health, VIM kind,
	// capabilities, location, and the resources and instances per appDId the MEO has
	// committed there (from the app instances' site_id and resources). ids, if any, narrow
	// the answer to those sites (the ones unknown left out): a placement pinned by
	// selectedMECHostInfo reads only the pinned sites.
	Placement(ctx context.Context, ids ...string) ([]placement.Site, error)
	// Connect returns the site's MEP client and VIM adapter (cached while the site's
	// connection settings do not change).
	Connect(ctx context.Context, siteID string) (reconcile.Site, error)
	// IDs lists every registered site.
	IDs(ctx context.Context) ([]string, error)
}
