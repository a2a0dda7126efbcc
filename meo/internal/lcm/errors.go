package lcm

import (
	"errors"
	"fmt"
)

// Domain errors; the HTTP layer maps each to one status.
var (
	// ErrNotFound: no such app instance, op occurrence or subscription (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request is malformed or breaks a rule (400).
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the resource's state does not allow the operation (409).
	ErrConflict = errors.New("state conflict")
)

// Error is a domain error with a client-facing detail.
type Error struct {
	Kind   error
	Detail string
}

func (e *Error) Error() string { return e.Detail }

// Is makes errors.Is(err, ErrConflict) and the like work.
func (e *Error) Is(target error) bool { return target == e.Kind }

func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}
