package obs

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/edgemec/edgemec/internal/problem"
)

// Probes registers the unauthenticated routes every server of the platform serves:
// /readyz (200, or a 503 ProblemDetails while ready reports false; nil means always ready),
// /healthz (200 while the process serves) and, when metrics is set, /metrics.
func Probes(e *echo.Echo, ready func() bool, metrics http.Handler) {
	e.GET("/readyz", func(c echo.Context) error {
		if ready != nil && !ready() {
			return problem.New(http.StatusServiceUnavailable, "not ready")
		}
		return c.String(http.StatusOK, "ok\n")
	})
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	if metrics != nil {
		e.GET("/metrics", echo.WrapHandler(metrics))
	}
}
