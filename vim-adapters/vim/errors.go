package vim

import (
	"errors"
	"fmt"
)

// Sentinel errors. Adapters wrap them (usually in an *Error) so callers test with errors.Is.
var (
	// ErrNotFound: the instance (or a resource it needs) does not exist on the site.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request or the package artefacts are malformed.
	ErrInvalid = errors.New("invalid request")
	// ErrImageMissing: a node reported that the image cannot be pulled or found.
	ErrImageMissing = errors.New("image missing")
	// ErrUnschedulable: no node can take the workload (resources, selectors, taints).
	ErrUnschedulable = errors.New("unschedulable")
	// ErrQuota: a quota on the site refused the workload.
	ErrQuota = errors.New("quota exceeded")
	// ErrForbidden: the adapter's credentials lack a permission it needs.
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable: the site's VIM cannot be reached or is not ready.
	ErrUnavailable = errors.New("vim unavailable")
	// ErrConflict: something else owns a resource the instance needs.
	ErrConflict = errors.New("conflict")
	// ErrFailed: the workload failed for a reason no other sentinel covers.
	ErrFailed = errors.New("workload failed")
)

// Error is the error adapters return: which operation on which instance failed, the sentinel
// that classifies it, and the VIM's detail.
type Error struct {
	Op            string // deploy, status, start, stop, terminate, capabilities, watch
	AppInstanceID string
	Err           error  // one of the sentinels above
	Detail        string // the VIM's message
	Cause         error  // the underlying client error, if any
}

func (e *Error) Error() string {
	s := e.Op
	if e.AppInstanceID != "" {
		s += " " + e.AppInstanceID
	}
	s += ": " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap lets errors.Is match both the sentinel and the underlying cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// Errorf returns an *Error for op on id classified by sentinel, with a formatted detail.
func Errorf(op, id string, sentinel error, format string, args ...any) *Error {
	return &Error{Op: op, AppInstanceID: id, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}
