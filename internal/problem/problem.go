// Package problem renders errors as RFC 7807 ProblemDetails (application/problem+json), the
// error format every ETSI MEC API uses. Each HTTP server installs one handler (echoproblem);
// domain code returns typed errors and never writes error responses itself. The package has
// no HTTP-framework dependency, so stores and domain packages may use its Error.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ContentType is the media type of a ProblemDetails body.
const ContentType = "application/problem+json"

// Details is an RFC 7807 problem. Status and Detail are always filled.
type Details struct {
	Type     string `json:"type,omitempty"`
	Title    string `json:"title,omitempty"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
}

// Error is an error that carries its HTTP status. Domain packages wrap their sentinels into
// it through a Mapper, or return it directly from handlers for protocol-level problems.
type Error struct {
	Status int
	Detail string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Detail, e.Err)
	}
	return e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with the status and a formatted detail.
func New(status int, format string, args ...any) *Error {
	return &Error{Status: status, Detail: fmt.Sprintf(format, args...)}
}

// BadRequest is New with 400.
func BadRequest(format string, args ...any) *Error {
	return New(http.StatusBadRequest, format, args...)
}

// Forbidden is New with 403.
func Forbidden(format string, args ...any) *Error { return New(http.StatusForbidden, format, args...) }

// Mapper turns a domain error into a status and a detail safe to show to clients. It returns
// ok=false for errors it does not know, which become 500 with a generic detail.
type Mapper func(err error) (status int, detail string, ok bool)

// Classify resolves an error to a status and client-facing detail.
func Classify(err error, m Mapper) (int, string) {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Status, pe.Detail
	}
	if m != nil {
		if status, detail, ok := m(err); ok {
			return status, detail
		}
	}
	return http.StatusInternalServerError, "internal error"
}

// Write sends a ProblemDetails response.
func Write(w http.ResponseWriter, status int, detail, instance string) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Details{Title: http.StatusText(status), Status: status, Detail: detail, Instance: instance})
}
