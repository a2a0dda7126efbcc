package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Sentinels a Failure unwraps to besides the VIM's own.
var (
	// ErrMEPUnreachable: the site's MEP did not answer (connection refused, timeout, 5xx).
	ErrMEPUnreachable = errors.New("mep unreachable")
	// ErrMEPRefused: the MEP answered the request with a 4xx problem other than 409.
	ErrMEPRefused = errors.New("mep refused the request")
	// ErrMEPConflict: the MEP answered 409 (the instance is still terminating there).
	ErrMEPConflict = errors.New("mep conflict")
	// ErrStepTimeout: a step did not finish within its configured time.
	ErrStepTimeout = errors.New("step timed out")
)

// Failure is why a task ended FAILED or FAILED_TEMP: the step, whether it may pass, and the
// VIM's or the MEP's own words. It is an error and turns into an RFC 7807 problem with
// Problem.
type Failure struct {
	// Step is the step that failed (the one after Progress.Done).
	Step Step `json:"step"`
	// Temporary is true for FAILED_TEMP.
	Temporary bool `json:"temporary"`
	// Title is a short, fixed summary ("image missing", "mep unreachable", ...).
	Title string `json:"title"`
	// Detail is the error in full, including what the VIM or the MEP said.
	Detail string `json:"detail"`
	// Status is the HTTP status that fits the failure in a ProblemDetails: 409 for a
	// conflict, 422 for what the site refuses, 503 for what is unreachable, 504 for
	// timeouts, else 500.
	Status int `json:"status"`

	err error
}

func (f *Failure) Error() string { return fmt.Sprintf("%s: %s", f.Step, f.Detail) }

// Unwrap returns the error the failure was made from (nil after a journal round trip).
func (f *Failure) Unwrap() error { return f.err }

// Problem returns the failure as an RFC 7807 problem, as the Mm1 op occurrence's error.
func (f *Failure) Problem() problem.Details {
	return problem.Details{Title: f.Title, Status: f.Status, Detail: f.Detail}
}

// Outcome returns FailedTemp or Failed.
func (f *Failure) Outcome() Outcome {
	if f.Temporary {
		return FailedTemp
	}
	return Failed
}

// classify turns the error of step into a Failure. The rule: what may pass by itself
// (unreachable, busy, conflicting, timed out) is temporary; what needs a change to the
// request or the site (image, quota, scheduling, permissions, an invalid request, a failed
// workload, a request the MEP refuses) is permanent.
func classify(step Step, err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	f = &Failure{Step: step, Detail: err.Error(), err: err, Status: http.StatusInternalServerError}
	switch {
	case errors.Is(err, vim.ErrImageMissing):
		f.Title, f.Status = "image missing", http.StatusUnprocessableEntity
	case errors.Is(err, vim.ErrQuota):
		f.Title, f.Status = "quota exceeded", http.StatusUnprocessableEntity
	case errors.Is(err, vim.ErrUnschedulable):
		f.Title, f.Status = "unschedulable", http.StatusUnprocessableEntity
	case errors.Is(err, vim.ErrInvalid):
		f.Title, f.Status = "invalid request", http.StatusUnprocessableEntity
	case errors.Is(err, vim.ErrForbidden):
		f.Title, f.Status = "forbidden on the site", http.StatusForbidden
	case errors.Is(err, vim.ErrFailed):
		f.Title = "workload failed"
	case errors.Is(err, ErrMEPRefused):
		f.Title, f.Status = "refused by the mep", http.StatusUnprocessableEntity
	case errors.Is(err, vim.ErrUnavailable):
		f.Title, f.Status, f.Temporary = "vim unavailable", http.StatusServiceUnavailable, true
	case errors.Is(err, vim.ErrConflict):
		f.Title, f.Status, f.Temporary = "conflict on the site", http.StatusConflict, true
	case errors.Is(err, vim.ErrNotFound):
		f.Title, f.Status, f.Temporary = "not found on the site", http.StatusServiceUnavailable, true
	case errors.Is(err, ErrMEPConflict):
		f.Title, f.Status, f.Temporary = "conflict on the mep", http.StatusConflict, true
	case errors.Is(err, ErrMEPUnreachable):
		f.Title, f.Status, f.Temporary = "mep unreachable", http.StatusServiceUnavailable, true
	case errors.Is(err, ErrStepTimeout), errors.Is(err, context.DeadlineExceeded):
		f.Title, f.Status, f.Temporary = "step timed out", http.StatusGatewayTimeout, true
	default:
		// An error nobody classified: retrying is the safer guess, within the bound.
		f.Title, f.Temporary = "step failed", true
	}
	return f
}

// mepError turns an Mm5 answer that is not what the step wanted into an error matching
// ErrMEPUnreachable, ErrMEPConflict or ErrMEPRefused, with the MEP's problem detail.
func mepError(op string, code int, body []byte, p *mm5api.Problem) error {
	detail := string(body)
	if p != nil && p.Detail != nil && *p.Detail != "" {
		detail = *p.Detail
	}
	if len(detail) > 512 {
		detail = detail[:512]
	}
	var sentinel error
	switch {
	case code == http.StatusConflict:
		sentinel = ErrMEPConflict
	case code >= 400 && code < 500:
		sentinel = ErrMEPRefused
	default:
		sentinel = ErrMEPUnreachable
	}
	return fmt.Errorf("mm5 %s: %w: HTTP %d: %s", op, sentinel, code, detail)
}

// transportError wraps an error from the Mm5 client's transport (no answer at all).
func transportError(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("mm5 %s: %w: %w", op, ErrMEPUnreachable, err)
}
