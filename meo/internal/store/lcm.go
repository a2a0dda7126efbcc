package store

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// App lifecycle records (ETSI GS MEC 010-2 app_lcm): app instances, their op occurrences and
// LCM subscriptions. Like Package, the tagged fields of AppInstance and OpOcc are their
// AppInstanceInfo and AppInstanceLcmOpOcc attributes (without _links), the JSON document
// MEC 009 filters run on; the others are internal. The LCM (meo/internal/lcm) declares the
// store methods it needs over these types.

// ErrActiveOp means the instance already has an op occurrence that has not ended for good
// (the one-active-op rule; ETSI GS MEC 010-2 answers 409).
var ErrActiveOp = errors.New("another operation is in progress")

// SiteLoad is what a site holds as a placement on it commits: its allocatable resources
// (Known is false while no probe has reached its VIM) and the sum of the resources the
// other app instances placed there commit.
type SiteLoad struct {
	SiteID      string
	Known       bool
	Allocatable vim.Resources
	Committed   vim.Resources
	Instances   int
}

// Instantiation and operational states of an app instance.
const (
	NotInstantiated = "NOT_INSTANTIATED"
	Instantiated    = "INSTANTIATED"
	Started         = "STARTED"
	Stopped         = "STOPPED"
)

// TimeStamp is an ETSI TimeStamp.
type TimeStamp struct {
	Seconds     int64 `json:"seconds"`
	NanoSeconds int32 `json:"nanoSeconds"`
}

// Stamp converts t.
func Stamp(t time.Time) TimeStamp {
	return TimeStamp{Seconds: t.Unix(), NanoSeconds: int32(t.Nanosecond())}
}

// Time converts the stamp back.
func (s TimeStamp) Time() time.Time { return time.Unix(s.Seconds, int64(s.NanoSeconds)) }

// HostInfo is a MECHostInformation: the site an instance is placed on.
type HostInfo struct {
	HostID   string `json:"hostId"`
	HostName string `json:"hostName,omitempty"`
}

// AppState is an AppInstanceInfo instantiatedAppState.
type AppState struct {
	OperationalState string `json:"operationalState"`
}

// AppInstance is an app instance resource.
type AppInstance struct {
	ID                     string    `json:"id"`
	AppInstanceName        string    `json:"appInstanceName,omitempty"`
	AppInstanceDescription string    `json:"appInstanceDescription,omitempty"`
	AppDID                 string    `json:"appDId"`
	AppProvider            string    `json:"appProvider"`
	AppName                string    `json:"appName"`
	AppSoftVersion         string    `json:"appSoftVersion"`
	AppDVersion            string    `json:"appDVersion"`
	AppPkgID               string    `json:"appPkgId"`
	InstantiationState     string    `json:"instantiationState"`
	InstantiatedAppState   *AppState `json:"instantiatedAppState,omitempty"`
	MECHostInformation     *HostInfo `json:"mecHostInformation,omitempty"`

	// SiteID is where the instance is placed ("" when nowhere); Resources what it commits
	// there.
	SiteID    string        `json:"-"`
	Resources vim.Resources `json:"-"`
	// Observed is the last observation from the site (Observation as JSON), nil before any.
	Observed json.RawMessage `json:"-"`
	// AppConfirmedReady is set when an instantiate completed, which the reconciler ends only
	// once the app confirmed ready on its MEP; cleared by terminate.
	AppConfirmedReady bool `json:"-"`
	// Steering is what the instance's traffic steering record shows (Steering.View), nil
	// when its traffic is not steered through the 5G core.
	Steering json.RawMessage `json:"-"`
	Created  time.Time       `json:"-"`
	Updated  time.Time       `json:"-"`
}

// Op occurrence states (operationState; FAILED_TEMP is V3's) and operations.
const (
	OpStarting   = "STARTING"
	OpProcessing = "PROCESSING"
	OpCompleted  = "COMPLETED"
	OpFailedTemp = "FAILED_TEMP"
	OpFailed     = "FAILED"

	OpInstantiate = "INSTANTIATE"
	OpOperate     = "OPERATE"
	OpTerminate   = "TERMINATE"
)

// Problem is an RFC 7807 ProblemDetails kept on an op occurrence.
type Problem struct {
	Type     string `json:"type,omitempty"`
	Title    string `json:"title,omitempty"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
}

// OpOcc is an app LCM operation occurrence.
type OpOcc struct {
	ID               string          `json:"id"`
	OperationState   string          `json:"operationState"`
	StateEnteredTime TimeStamp       `json:"stateEnteredTime"`
	StartTime        TimeStamp       `json:"startTime"`
	LcmOperation     string          `json:"lcmOperation"`
	OperationParams  json.RawMessage `json:"operationParams,omitempty"`
	AppInstanceID    string          `json:"appInstanceId"`
	IsCancelPending  bool            `json:"isCancelPending"`
	CancelMode       string          `json:"cancelMode,omitempty"`
	Error            *Problem        `json:"error,omitempty"`
	// Additions: the site it runs on, the placement decision, the runs that ended
	// FAILED_TEMP.
	SiteID    string          `json:"siteId,omitempty"`
	Placement json.RawMessage `json:"placement,omitempty"`
	Attempts  int             `json:"attempts"`
	// Warnings are problems that did not fail the operation (a NEF that did not take the
	// app's traffic steering), newest last.
	Warnings []Problem `json:"warnings,omitempty"`

	// Task is the reconcile task (JSON) fixed at creation; PlacementRequest the placement
	// request (JSON) of an INSTANTIATE.
	Task             json.RawMessage `json:"-"`
	PlacementRequest json.RawMessage `json:"-"`
	// ClaimedBy and LeaseUntil are the executor's lease; NextAttempt is when it may be
	// claimed (the zero time: not before a retry is asked).
	ClaimedBy   string    `json:"-"`
	LeaseUntil  time.Time `json:"-"`
	NextAttempt time.Time `json:"-"`
}

// Active reports whether the op occurrence holds its instance (has not ended for good).
func (o *OpOcc) Active() bool {
	switch o.OperationState {
	case OpStarting, OpProcessing, OpFailedTemp:
		return true
	}
	return false
}

// SetState moves the op occurrence to state at t.
func (o *OpOcc) SetState(state string, t time.Time) {
	o.OperationState = state
	o.StateEnteredTime = Stamp(t)
}

// LCMSubscription is an app LCM subscription (AppInstanceStateChange, AppLcmOpOccStateChange,
// AppInstanceIdentifierCreation or AppInstanceIdentifierDeletion). Filter is its filter
// members as the LCM keeps them (JSON).
type LCMSubscription struct {
	ID               string
	SubscriptionType string
	CallbackURI      string
	Filter           json.RawMessage
	Created          time.Time
}

// LCMEvent is an app lifecycle change subscribers may be told about.
type LCMEvent struct {
	// Type is the subscription type that covers it.
	Type string
	// NotificationType is the notification's notificationType (an instance state, an op
	// occurrence state, or the identifier notification's type).
	NotificationType string
	// Instance is the instance as it is after the change; Op the op occurrence, if any.
	Instance AppInstance
	Op       *OpOcc
	Time     time.Time
}

// LCMRouter chooses, inside the transaction that records the events, which LCM subscription
// gets which notification body.
type LCMRouter func(subs []*LCMSubscription, events []LCMEvent) []Delivery

// LCMChange is what an LCM update does besides writing the records it was given.
type LCMChange struct {
	// Events are queued for delivery in the same transaction.
	Events []LCMEvent
	// WriteInstance writes the instance back (it was changed).
	WriteInstance bool
}

// LCMListQuery selects app instances or op occurrences.
type LCMListQuery struct {
	// Filter restricts the result (nil: all).
	Filter Filter
	// After is the position of the last item of the previous page (0: from the start).
	After int64
	// Limit caps the result (0: no limit).
	Limit int
	// Omit names top-level attributes of the AppInstanceInfo or AppInstanceLcmOpOcc document
	// (JSON names, including the rendered observedState and trafficSteering of an instance)
	// that the caller will not show: the store may leave them out of what it returns, so that
	// a list does not read or decode what its answer drops.
	Omit []string
}

// InstancePage is a page of app instances.
type InstancePage struct {
	Instances []*AppInstance
	// Next is the position to pass as After for the next page (0: the last page).
	Next int64
}

// OpPage is a page of op occurrences.
type OpPage struct {
	Ops  []*OpOcc
	Next int64
}

// Resident is an app instance placed on a site, as a drain of the site sees it.
type Resident struct {
	Instance *AppInstance
	// Active is its op occurrence that has not ended for good, nil if none.
	Active *OpOcc
	// Placement is the placement request (JSON) of its latest completed INSTANTIATE.
	Placement json.RawMessage
	// LastFailed is its latest INSTANTIATE moving it away from the site (operationParams
	// relocation.fromSiteId) that ended FAILED, nil if none.
	LastFailed *OpOcc
}
