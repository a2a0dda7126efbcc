// Package httpapi serves the MEP's HTTP APIs — Mp1 (ETSI GS MEC 011) for apps and Mm5 for
// the orchestrator — on one echo server generated from api/openapi. Handlers only bind,
// authorise, call one site method and map errors to ProblemDetails.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/edgemec/edgemec/api/openapi"
	"github.com/edgemec/edgemec/internal/apispec"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/mep/internal/auth"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// Config wires the HTTP layer.
type Config struct {
	Site      *platform.MEP
	Authority *auth.Authority
	Logger    *slog.Logger
	Metrics   *obs.HTTPMetrics
	// MetricsHandler serves /metrics (unauthenticated, like /readyz).
	MetricsHandler http.Handler
	// Conflicts returns the site DNS conflicts (nil: none).
	Conflicts func() []mm5api.DnsConflict
	// Ready reports readiness for /readyz.
	Ready func() bool
	// APIRoot is the externally visible scheme://host:port.
	APIRoot string
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	// TimeSourceTraceable makes current_time report TRACEABLE.
	TimeSourceTraceable bool
	// NTPServers and PTPMasters are reported by timing_caps.
	NTPServers []mp1api.NtpServer
	PTPMasters []mp1api.PtpMaster
}

type handler struct {
	cfg  Config
	site *platform.MEP
	auth *auth.Authority
	log  *slog.Logger
}

var (
	_ mp1api.ServerInterface = (*handler)(nil)
	_ mm5api.ServerInterface = (*mm5Handler)(nil)
)

const principalKey = "principal"

// New returns the HTTP handler of the MEP.
func New(cfg Config) (http.Handler, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	h := &handler{cfg: cfg, site: cfg.Site, auth: cfg.Authority, log: cfg.Logger}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = problem.Handler(cfg.Logger, mapError)
	spec, err := specValidator()
	if err != nil {
		return nil, err
	}
	e.Pre(middleware.RequestIDWithConfig(middleware.RequestIDConfig{}))
	e.Use(middleware.Recover())
	if cfg.Metrics != nil {
		e.Use(cfg.Metrics.Middleware())
	}
	e.Use(middleware.BodyLimit(byteSize(cfg.MaxBodyBytes)))
	e.Use(h.authenticate, spec.Middleware())
	e.GET("/readyz", func(c echo.Context) error {
		if cfg.Ready != nil && !cfg.Ready() {
			return problem.New(http.StatusServiceUnavailable, "not ready")
		}
		return c.String(http.StatusOK, "ok\n")
	})
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	if cfg.MetricsHandler != nil {
		e.GET("/metrics", echo.WrapHandler(cfg.MetricsHandler))
	}
	mp1api.RegisterHandlers(e, h)
	mm5api.RegisterHandlersWithBaseURL(e, &mm5Handler{h}, "/mepm/v1")
	return e, nil
}

func byteSize(n int64) string { return strconv.FormatInt(n, 10) + "B" }

// public routes need no token.
var public = map[string]bool{"/oauth2/token": true, "/readyz": true, "/healthz": true, "/metrics": true}

// authenticate resolves the bearer token and enforces the access rules: /mepm (Mm5) is the
// operator's; an app may use only its own /applications/{appInstanceId} resources.
func (h *handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		path := c.Path()
		if public[path] || path == "" {
			return next(c)
		}
		p, err := h.auth.Authenticate(c.Request().Header.Get(echo.HeaderAuthorization))
		// An app token outlives its instance (JWTs are not revocable): once the instance is
		// gone from the site, its tokens must stop working.
		if err == nil && !p.Operator && !h.site.Exists(p.AppInstanceID) {
			err = auth.ErrUnauthenticated
		}
		if err != nil {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="mp1"`)
			return problem.New(http.StatusUnauthorized, "a valid bearer token is required")
		}
		if !p.Operator {
			if strings.HasPrefix(path, "/mepm/") {
				return problem.Forbidden("Mm5 is for the operator token only")
			}
			if id := c.Param("appInstanceId"); id != "" && id != p.AppInstanceID {
				return problem.Forbidden("this token may only access app instance %q", p.AppInstanceID)
			}
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

func principal(c echo.Context) auth.Principal {
	p, _ := c.Get(principalKey).(auth.Principal)
	return p
}

// viewer is the platform.Discover viewer of a request.
func viewer(c echo.Context) string {
	p := principal(c)
	if p.Operator {
		return platform.Operator
	}
	return p.AppInstanceID
}

// specValidator validates requests against the Mp1 and Mm5 specifications. Input the spec
// does not describe but MEC 011 V2.1.1 clients send (a single-object dstInterface) is
// rewritten into the spec's form first.
func specValidator() (*apispec.Validator, error) {
	return apispec.New(apispec.Config{
		Docs: []apispec.Doc{
			{Name: "mp1.yaml", Data: openapi.MP1},
			{Name: "mm5.yaml", Data: openapi.MM5, Prefix: "/mepm/v1"},
		},
		Normalize: func(op string, body []byte) ([]byte, error) {
			switch op {
			case "TrafficRulePUT":
				return platform.NormalizeTrafficRuleJSON(body)
			case "PutAppInstance":
				b, _, err := normalizeAppInstance(body)
				return b, err
			}
			return body, nil
		},
	})
}

// mapError is the one mapping from domain errors to HTTP statuses.
func mapError(err error) (int, string, bool) {
	var de *platform.Error
	detail := err.Error()
	if errors.As(err, &de) {
		detail = de.Detail
	}
	switch {
	case errors.Is(err, platform.ErrNotFound):
		return http.StatusNotFound, detail, true
	case errors.Is(err, platform.ErrInvalid):
		return http.StatusBadRequest, detail, true
	case errors.Is(err, platform.ErrConflict):
		return http.StatusConflict, detail, true
	case errors.Is(err, platform.ErrPreconditionFailed):
		return http.StatusPreconditionFailed, detail, true
	case errors.Is(err, platform.ErrForbidden):
		return http.StatusForbidden, detail, true
	case errors.Is(err, platform.ErrLimit):
		return http.StatusTooManyRequests, detail, true
	}
	return 0, "", false
}

// readJSON reads a JSON request body. It rejects other media types (415) and bodies that
// are not JSON (400).
func readJSON(c echo.Context) ([]byte, error) {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, problem.New(http.StatusUnsupportedMediaType, "Content-Type %q: want application/json", ct)
		}
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) { // the body limit
			return nil, problem.New(he.Code, "request body is too large")
		}
		return nil, problem.BadRequest("read body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, problem.BadRequest("request body is required")
	}
	if !json.Valid(body) {
		return nil, problem.BadRequest("request body is not valid JSON")
	}
	return body, nil
}

// decode reads and decodes a JSON body into v, checking required fields by presence.
func decode(c echo.Context, v any, what string, required ...string) ([]byte, error) {
	body, err := readJSON(c)
	if err != nil {
		return nil, err
	}
	if err := platform.RequireFields(body, what, required...); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, problem.BadRequest("%s: %v", what, jsonError(err))
	}
	return body, nil
}

func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + te.Field + " must be " + te.Type.String()
	}
	return err.Error()
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func writeJSON(c echo.Context, status int, etag string, v any) error {
	if etag != "" {
		c.Response().Header().Set("ETag", etag)
	}
	return c.JSON(status, v)
}

func writeRaw(c echo.Context, status int, etag string, b []byte) error {
	if etag != "" {
		c.Response().Header().Set("ETag", etag)
	}
	return c.Blob(status, echo.MIMEApplicationJSON, b)
}
