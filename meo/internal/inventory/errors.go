package inventory

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels every error of the Service matches with errors.Is.
var (
	// ErrNotFound means no site with that id.
	ErrNotFound = errors.New("site not found")
	// ErrInvalid means the request was malformed; the error is an *InvalidError.
	ErrInvalid = errors.New("invalid site")
	// ErrExists means a site with that id is already registered.
	ErrExists = errors.New("site exists")
	// ErrInUse means app instances are still placed on the site.
	ErrInUse = errors.New("site in use")
	// ErrUnreachable means the MEP or the VIM did not answer the registration check; the
	// error is a *CheckError.
	ErrUnreachable = errors.New("site unreachable")
	// ErrNoKey means the MEO has no secret key, so it cannot store a site's secrets.
	ErrNoKey = errors.New("no secret key configured")
)

// Error is an error of the Service with a detail safe to show to a client.
type Error struct {
	Kind   error
	Detail string
}

// Error returns the detail.
func (e *Error) Error() string { return e.Detail }

// Is makes errors.Is(err, ErrNotFound) and the like work.
func (e *Error) Is(target error) bool { return target == e.Kind }

func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// InvalidError lists every problem with a site spec or patch.
type InvalidError struct {
	Problems []string
}

// Error lists the problems.
func (e *InvalidError) Error() string { return strings.Join(e.Problems, "; ") }

// Is makes errors.Is(err, ErrInvalid) work.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// CheckError says what failed when the MEO checked a site's MEP and VIM. Each error starts
// with the side it is about ("mep: ...", "vim: ...").
type CheckError struct {
	MEP error
	VIM error
}

// Error joins what failed, MEP first.
func (e *CheckError) Error() string {
	var parts []string
	for _, err := range []error{e.MEP, e.VIM} {
		if err != nil {
			parts = append(parts, err.Error())
		}
	}
	return strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrUnreachable) work.
func (e *CheckError) Is(target error) bool { return target == ErrUnreachable }
