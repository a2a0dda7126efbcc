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
)

// Error is a domain error: a sentinel kind plus a detail safe to show to clients.
type Error struct {
	Kind   error
	Detail string
}

func (e *Error) Error() string { return e.Detail }
func (e *Error) Unwrap() error { return e.Kind }

func errf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error { return errf(ErrNotFound, format, args...) }
func invalid(format string, args ...any) error  { return errf(ErrInvalid, format, args...) }
func conflict(format string, args ...any) error { return errf(ErrConflict, format, args...) }
