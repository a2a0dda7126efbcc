// Package httpapi serves the MEO's Mm1 API (ETSI GS MEC 010-2) on one echo server: the
// strict server generated from api/openapi/mm1.yaml, with requests validated against that
// same specification before they reach a handler. Handlers only bind, call one pkgm or lcm
// method and render; one mapper turns domain errors into ProblemDetails.
package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/edgemec/edgemec/api/openapi"
	"github.com/edgemec/edgemec/internal/apispec"
	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/internal/problem/echoproblem"
	"github.com/edgemec/edgemec/meo/internal/af"
	"github.com/edgemec/edgemec/meo/internal/inventory"
	"github.com/edgemec/edgemec/meo/internal/lcm"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/selector"
	"github.com/edgemec/edgemec/meo/mm1api"
)

// Config wires the HTTP layer.
type Config struct {
	Packages *pkgm.Service
	// Lifecycle serves /app_lcm/v1 (nil: those routes answer 404).
	Lifecycle *lcm.Service
	Logger    *slog.Logger
	Metrics   *obs.HTTPMetrics
	// MetricsHandler serves /metrics (unauthenticated, like /readyz and /healthz).
	MetricsHandler http.Handler
	// Ready reports readiness for /readyz.
	Ready func() bool
	// APIRoot is the externally visible scheme://host:port.
	APIRoot string
	// OperatorToken opens every route; ViewerTokens open the reads (GET, HEAD).
	OperatorToken string
	ViewerTokens  []string
	// MaxBodyBytes bounds JSON request bodies (default 1 MiB). Package uploads are bounded by
	// the package size limit instead.
	MaxBodyBytes int64
	// PageSize is the number of packages per list page (default 200).
	PageSize int
	// Markers makes and checks paging markers; every replica needs the same key (default:
	// a random key of this process).
	Markers *selector.MarkerCodec
	// Sites, if set, serves the inventory API (/inventory/v1, api/openapi/meo.yaml).
	Sites *inventory.Service
	// Steering, if set, follows the sites' 5G data as it is replaced or removed.
	Steering inventory.FiveGFollower
	// Notifications, if set, receives the NEFs' traffic influence notifications
	// (/af/v1/notifications, api/openapi/af.yaml), authenticated by the token in their
	// path and, when NotifyToken is set, by that bearer token too.
	Notifications *af.NotifyHandler
	NotifyToken   string
}

type handler struct {
	cfg Config
	pk  *pkgm.Service
	lc  *lcm.Service
	log *slog.Logger
}

var _ mm1api.StrictServerInterface = (*handler)(nil)

// New returns the HTTP handler of the MEO.
func New(ctx context.Context, cfg Config) (http.Handler, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 200
	}
	if cfg.Markers == nil {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		cfg.Markers, _ = selector.NewMarkerCodec(key)
	}
	v, err := apispec.New(apispec.Config{MaxBodyBytes: cfg.MaxBodyBytes, Docs: []apispec.Doc{ //nolint:contextcheck // loading the specs is start-up work, not part of ctx
		{Name: "mm1.yaml", Data: openapi.MM1},
		{Name: "meo.yaml", Data: openapi.MEO},
		{Name: "af.yaml", Data: openapi.AF},
	}})
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, pk: cfg.Packages, lc: cfg.Lifecycle, log: cfg.Logger}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = echoproblem.Handler(cfg.Logger, mapError)
	e.Pre(middleware.RequestIDWithConfig(middleware.RequestIDConfig{}), normalizeQuery)
	e.Use(middleware.Recover())
	if cfg.Metrics != nil {
		e.Use(cfg.Metrics.Middleware())
	}
	e.Use(h.authenticate, v.Middleware()) //nolint:contextcheck // validation runs on each request's own context
	obs.Probes(e, cfg.Ready, cfg.MetricsHandler)
	mm1api.RegisterHandlers(e, mm1api.NewStrictHandler(h, []mm1api.StrictMiddlewareFunc{withAccept}))
	if cfg.Sites != nil {
		registerSites(e, h, cfg.Sites)
	}
	if cfg.Notifications != nil {
		registerAF(e, cfg.Notifications)
	}
	return e, nil
}

// withAccept hands the Accept header to the operations that negotiate their media type
// (strict handlers see only the request context).
func withAccept(f mm1api.StrictHandlerFunc, op string) mm1api.StrictHandlerFunc {
	if op != "GetAppPkgAppD" && op != "GetOnboardedAppD" {
		return f
	}
	return func(c echo.Context, req any) (any, error) {
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), acceptKey{}, r.Header.Get(echo.HeaderAccept))))
		return f(c, req)
	}
}

// public routes need no token.
var public = map[string]bool{"/readyz": true, "/healthz": true, "/metrics": true}

// authenticate checks the bearer token: the operator's opens everything, a viewer's only
// reads.
func (h *handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		path := c.Path()
		if public[path] || path == "" {
			return next(c)
		}
		if path == notifyRoute {
			if err := h.authenticateNEF(c); err != nil {
				return err
			}
			return next(c)
		}
		tok, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		switch {
		case ok && tok != "" && equal(tok, h.cfg.OperatorToken):
			return next(c)
		case ok && tok != "" && h.viewer(tok):
			if m := c.Request().Method; m != http.MethodGet && m != http.MethodHead {
				return problem.Forbidden("a viewer token may only read")
			}
			return next(c)
		}
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="mm1"`)
		return problem.New(http.StatusUnauthorized, "a valid bearer token is required")
	}
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (h *handler) viewer(tok string) bool {
	found := false
	for _, v := range h.cfg.ViewerTokens {
		if equal(tok, v) {
			found = true
		}
	}
	return found
}

// mapError is the one mapping from domain errors to HTTP statuses.
func mapError(err error) (int, string, bool) {
	if status, detail, ok := mapSiteError(err); ok {
		return status, detail, true
	}
	var le *lcm.Error
	if errors.As(err, &le) {
		switch {
		case errors.Is(err, lcm.ErrNotFound):
			return http.StatusNotFound, le.Detail, true
		case errors.Is(err, lcm.ErrInvalid):
			return http.StatusBadRequest, le.Detail, true
		case errors.Is(err, lcm.ErrConflict):
			return http.StatusConflict, le.Detail, true
		}
	}
	var de *pkgm.Error
	if !errors.As(err, &de) {
		return 0, "", false
	}
	switch {
	case errors.Is(err, pkgm.ErrNotFound):
		return http.StatusNotFound, de.Detail, true
	case errors.Is(err, pkgm.ErrInvalid):
		return http.StatusBadRequest, de.Detail, true
	case errors.Is(err, pkgm.ErrConflict):
		return http.StatusConflict, de.Detail, true
	case errors.Is(err, pkgm.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, de.Detail, true
	}
	return 0, "", false
}
