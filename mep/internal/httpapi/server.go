// Package httpapi serves the MEP's HTTP APIs — Mp1 (ETSI GS MEC 011) for apps and Mm5 for
// the orchestrator — on one echo server generated from api/openapi. Requests are checked
// against the specs (internal/apispec) and bound by the generated strict handlers; the
// handlers here authorise, call one domain method and return a typed response, and one
// mapper (mapError) turns domain errors into ProblemDetails.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

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
	_ mp1api.StrictServerInterface = (*handler)(nil)
	_ mm5api.StrictServerInterface = (*mm5Handler)(nil)
)

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
	obs.Probes(e, cfg.Ready, cfg.MetricsHandler)
	mp1api.RegisterHandlers(e, mp1api.NewStrictHandler(h, nil))
	mm5api.RegisterHandlersWithBaseURL(e, mm5api.NewStrictHandler(&mm5Handler{h}, nil), "/mepm/v1")
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
			if id, secret, ok := c.Request().BasicAuth(); ok {
				setRequestValue(c, basicKey{}, [2]string{id, secret})
			}
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
		setRequestValue(c, principalKey{}, p)
		return next(c)
	}
}

// The strict handlers see the request's context only: what authentication learnt travels in it.
type (
	principalKey struct{}
	basicKey     struct{}
)

func setRequestValue(c echo.Context, k, v any) {
	c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), k, v)))
}

func principal(ctx context.Context) auth.Principal {
	p, _ := ctx.Value(principalKey{}).(auth.Principal)
	return p
}

// basicAuth returns the HTTP Basic credentials of a request to a public route.
func basicAuth(ctx context.Context) (id, secret string, ok bool) {
	v, ok := ctx.Value(basicKey{}).([2]string)
	return v[0], v[1], ok
}

// viewer is the platform.Discover viewer of a request.
func viewer(ctx context.Context) string {
	p := principal(ctx)
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
				b, err := mp1api.NormalizeTrafficRuleJSON(body)
				if err != nil {
					return nil, problem.BadRequest("%v", err)
				}
				return b, nil
			case "PutAppInstance":
				return normalizeAppInstance(body)
			case "AppServicesPOST", "AppServicePUT":
				return normalizeServiceInfo(body)
			}
			return body, nil
		},
	})
}

// normalizeServiceInfo gives a transportInfo without security an empty SecurityInfo: MEC 011
// requires the member, but apps in the field leave it out when the transport needs no
// credentials, and the MEP accepted that before its requests were validated against the spec.
func normalizeServiceInfo(body []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return body, nil // not an object: validation says so
	}
	var ti map[string]json.RawMessage
	if err := json.Unmarshal(m["transportInfo"], &ti); err != nil || ti == nil {
		return body, nil
	}
	if _, ok := ti["security"]; ok {
		return body, nil
	}
	ti["security"] = json.RawMessage(`{}`)
	m["transportInfo"], _ = json.Marshal(ti)
	return json.Marshal(m)
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
