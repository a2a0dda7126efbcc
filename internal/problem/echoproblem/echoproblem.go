// Package echoproblem installs ProblemDetails error handling in an echo server: the one
// error handler of every HTTP server of the platform.
package echoproblem

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/edgemec/edgemec/internal/problem"
)

// Handler returns an echo.HTTPErrorHandler that writes every error as ProblemDetails.
// 5xx errors are logged at error level with the request id; 4xx at debug.
func Handler(logger *slog.Logger, m problem.Mapper) echo.HTTPErrorHandler {
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
		problem.Write(c.Response(), status, detail, req.URL.Path)
	}
}

// Classify is problem.Classify that also knows echo's own errors (404 route, 405 method,
// 413 body limit).
func Classify(err error, m problem.Mapper) (int, string) {
	return problem.Classify(err, func(err error) (int, string, bool) {
		if m != nil {
			if status, detail, ok := m(err); ok {
				return status, detail, ok
			}
		}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			detail := http.StatusText(he.Code)
			if s, ok := he.Message.(string); ok && s != "" {
				detail = s
			}
			return he.Code, detail, true
		}
		return 0, "", false
	})
}
