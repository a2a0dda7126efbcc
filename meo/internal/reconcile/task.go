package reconcile

import (
	"context"
	"errors"
	"time"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Kind is what a task does to an app instance.
type Kind string

// Task kinds (ETSI GS MEC 010-2 InstantiateAppRequest, TerminateAppRequest and
// OperateAppRequest changeStateTo STOPPED / STARTED).
const (
	KindInstantiate Kind = "INSTANTIATE"
	KindTerminate   Kind = "TERMINATE"
	KindStop        Kind = "OPERATE_STOP"
	KindStart       Kind = "OPERATE_START"
)

// StopType is how an instance is terminated or stopped (GS MEC 010-2 StopType).
type StopType string

// Stop types.
const (
	// StopGraceful lets the app finish: the MEP sends AppTerminationNotification and waits
	// for confirm_termination up to Task.GracefulTimeout.
	StopGraceful StopType = "GRACEFUL"
	// StopForceful skips the wait (graceful timeout 0).
	StopForceful StopType = "FORCEFUL"
)

// Task is one operation on one app instance on one site. Its ID keys the journal: the same
// ID always means the same operation, run at most once in effect.
type Task struct {
	// ID identifies the operation, usually the op occurrence's id.
	ID string
	// Kind is what to do.
	Kind Kind
	// AppInstanceID is the instance (ETSI appInstanceId), the same on the MEP and the VIM.
	AppInstanceID string
	// App is the Mm5 body of the instance: AppD rules and required/produced services.
	// Instantiate only.
	App mm5api.AppInstance
	// Deploy is the VIM request without the MEP access, which the reconciler fills in from
	// the MEP's answer. Instantiate only; its AppInstanceID is set to the task's.
	Deploy vim.DeployRequest
	// StopType and GracefulTimeout shape terminate and stop. GracefulTimeout is rounded
	// down to whole seconds for the MEP (at most 3600); zero with StopGraceful means the
	// MEP's default.
	StopType        StopType
	GracefulTimeout time.Duration
}

// Validate checks the fields the task's kind needs.
func (t Task) Validate() error {
	var errs []error
	if t.ID == "" {
		errs = append(errs, errors.New("task id is empty"))
	}
	if err := vim.ValidateID(t.AppInstanceID); err != nil {
		errs = append(errs, err)
	}
	if steps(t.Kind) == nil {
		errs = append(errs, errors.New("unknown task kind "+string(t.Kind)))
	}
	if t.StopType != "" && t.StopType != StopGraceful && t.StopType != StopForceful {
		errs = append(errs, errors.New("unknown stop type "+string(t.StopType)))
	}
	if t.GracefulTimeout < 0 || t.GracefulTimeout > time.Hour {
		errs = append(errs, errors.New("graceful timeout must be 0 to 1h"))
	}
	return errors.Join(errs...)
}

// Step names one step of a task. The journal records the last step done.
type Step string

// Steps, in the order each kind runs them (see doc.go).
const (
	StepNone Step = ""
	// Instantiate.
	StepMEPProvisioned Step = "MEP_PROVISIONED" // Mm5 PUT answered with the Mp1 credentials
	StepVIMDeployed    Step = "VIM_DEPLOYED"    // VIM Deploy with the MEP access accepted
	StepVIMRunning     Step = "VIM_RUNNING"     // the VIM reports Running
	StepMEPReady       Step = "MEP_READY"       // the app confirmed ready on the MEP
	// Terminate.
	StepMEPTerminating Step = "MEP_TERMINATING" // Mm5 DELETE accepted (or already gone)
	StepMEPGone        Step = "MEP_GONE"        // the MEP finished the flow (GET 404)
	StepVIMTerminating Step = "VIM_TERMINATING" // VIM Terminate accepted
	StepVIMGone        Step = "VIM_GONE"        // the VIM no longer knows the instance
	// Operate.
	StepMEPStopping Step = "MEP_STOPPING" // Mm5 stop accepted (or nothing on the MEP to stop)
	StepMEPStopped  Step = "MEP_STOPPED"  // the MEP finished the stop flow
	StepVIMStopping Step = "VIM_STOPPING" // VIM Stop accepted
	StepVIMStopped  Step = "VIM_STOPPED"  // the VIM reports Stopped
	StepVIMStarting Step = "VIM_STARTING" // VIM Start accepted
	StepVIMStarted  Step = "VIM_STARTED"  // the VIM reports Running
)

// steps returns the sequence of kind, or nil for an unknown kind.
func steps(k Kind) []Step {
	switch k {
	case KindInstantiate:
		return []Step{StepMEPProvisioned, StepVIMDeployed, StepVIMRunning, StepMEPReady}
	case KindTerminate:
		return []Step{StepMEPTerminating, StepMEPGone, StepVIMTerminating, StepVIMGone}
	case KindStop:
		return []Step{StepMEPStopping, StepMEPStopped, StepVIMStopping, StepVIMStopped}
	case KindStart:
		return []Step{StepVIMStarting, StepVIMStarted, StepMEPReady}
	}
	return nil
}

// Steps returns the steps a task of kind k runs, in order.
func Steps(k Kind) []Step { return append([]Step(nil), steps(k)...) }

// Outcome is how a task ended (GS MEC 010-2 OperationState, the final ones).
type Outcome string

// Outcomes.
const (
	// Completed: every step is done.
	Completed Outcome = "COMPLETED"
	// FailedTemp: a step failed for a reason that may pass (site or MEP unreachable, VIM
	// busy, a timeout); running the task again resumes at that step.
	FailedTemp Outcome = "FAILED_TEMP"
	// Failed: a step failed for a reason that needs a change (image missing, quota,
	// unschedulable, a request the MEP refused).
	Failed Outcome = "FAILED"
)

// Progress is what the journal holds for a task.
type Progress struct {
	// Kind and AppInstanceID repeat the task's, so a journal entry reads on its own.
	Kind          Kind   `json:"kind"`
	AppInstanceID string `json:"appInstanceId"`
	// Done is the last step done; StepNone before the first.
	Done Step `json:"done"`
	// Attempts counts the runs that ended FAILED_TEMP, over all submits and restarts.
	Attempts int `json:"attempts"`
	// Outcome is set when the task ended; Failure explains FAILED and FAILED_TEMP.
	Outcome Outcome  `json:"outcome,omitempty"`
	Failure *Failure `json:"failure,omitempty"`
	// Updated is when the entry was saved.
	Updated time.Time `json:"updated"`
}

// Finished reports whether the task ended for good: Completed or Failed. FAILED_TEMP is not
// finished, since running the task again resumes it.
func (p Progress) Finished() bool { return p.Outcome == Completed || p.Outcome == Failed }

// Journal stores the progress of tasks durably. The reconciler saves each step before it
// starts the next, so a restarted process resumes where the last one stopped.
type Journal interface {
	// Load returns the progress of a task, or the zero Progress and no error for a task
	// never saved.
	Load(ctx context.Context, taskID string) (Progress, error)
	// Save stores the progress of a task, replacing what was there.
	Save(ctx context.Context, taskID string, p Progress) error
}

// MEP is what the reconciler needs of a site's MEP: the Mm5 app instance calls of the
// generated client (*mm5api.ClientWithResponses), authenticated as the operator.
type MEP interface {
	PutAppInstanceWithResponse(ctx context.Context, appInstanceID string, body mm5api.PutAppInstanceJSONRequestBody, reqEditors ...mm5api.RequestEditorFn) (*mm5api.PutAppInstanceResponse, error)
	GetAppInstanceWithResponse(ctx context.Context, appInstanceID string, params *mm5api.GetAppInstanceParams, reqEditors ...mm5api.RequestEditorFn) (*mm5api.GetAppInstanceResponse, error)
	DeleteAppInstanceWithResponse(ctx context.Context, appInstanceID string, params *mm5api.DeleteAppInstanceParams, reqEditors ...mm5api.RequestEditorFn) (*mm5api.DeleteAppInstanceResponse, error)
	StopAppInstanceWithResponse(ctx context.Context, appInstanceID string, params *mm5api.StopAppInstanceParams, reqEditors ...mm5api.RequestEditorFn) (*mm5api.StopAppInstanceResponse, error)
}

var _ MEP = (*mm5api.ClientWithResponses)(nil)

// Site is one edge site as the reconciler reaches it.
type Site struct {
	// Name identifies the site in events, logs and failures.
	Name string
	// MEP is the site MEP's Mm5 client.
	MEP MEP
	// VIM is the site's VIM adapter.
	VIM vim.VIM
	// MEPEndpoint, if set, is the Mp1 base URL given to apps instead of the mp1Root the MEP
	// reports, for sites where apps reach the MEP at another address than the MEO does.
	MEPEndpoint string
}
