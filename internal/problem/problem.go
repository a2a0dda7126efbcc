// Package problem renders errors as RFC 7807 ProblemDetails (application/problem+json), the
// error format every ETSI MEC API uses. Each HTTP server installs one Handler; domain code
// returns typed errors and never writes error responses itself.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
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

// Handler returns an echo.HTTPErrorHandler that writes every error as ProblemDetails.
// 5xx errors are logged at error level with the request id; 4xx at debug.
func Handler(logger *slog.Logger, m Mapper) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, detail := Classify(err, m)
		req := c.Request()
		if status >= 500 {
			logger.ErrorContext(req.Context(), "request failed", "method", req.Method, "path", req.URL.Path,
				"status", status, "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "error", err)
		} else {
			logger.DebugContext(req.Context(), "request rejected", "method", req.Method, "path", req.URL.Path,
				"status", status, "detail", detail)
		}
		Write(c.Response(), status, detail, req.URL.Path)
	}
}

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
	var he *echo.HTTPError
	if errors.As(err, &he) {
		detail := http.StatusText(he.Code)
		if s, ok := he.Message.(string); ok && s != "" {
			detail = s
		}
		return he.Code, detail
	}
	return http.StatusInternalServerError, "internal error"
}

// Write sends a ProblemDetails response.
func Write(w http.ResponseWriter, status int, detail, instance string) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Details{Title: http.StatusText(status), Status: status, Detail: detail, Instance: instance})
}
