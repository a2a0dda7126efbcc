package platform

import (
	"errors"
	"fmt"
)

// Sentinel errors of the domain. The HTTP layer maps each to one status code; the message of
// the wrapping error is the ProblemDetails detail.
var (
	ErrNotFound           = errors.New("not found")
	ErrInvalid            = errors.New("invalid")
	ErrConflict           = errors.New("conflict")
	ErrPreconditionFailed = errors.New("precondition failed")
	ErrForbidden          = errors.New("forbidden")
	ErrLimit              = errors.New("limit reached")
	ErrTooLarge           = errors.New("too large")
)

// Error is a domain error: a sentinel kind plus a detail safe to show to clients, and
// optionally the typed error it comes from (a *mecrule.FieldError, ...).
type Error struct {
	Kind   error
	Detail string
	Cause  error
}

func (e *Error) Error() string { return e.Detail }

// Unwrap returns the kind and, when set, the cause, so errors.Is and errors.As see both.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

func errf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error { return errf(ErrNotFound, format, args...) }
func invalid(format string, args ...any) error  { return errf(ErrInvalid, format, args...) }
func conflict(format string, args ...any) error { return errf(ErrConflict, format, args...) }
