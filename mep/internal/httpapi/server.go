// Package httpapi serves the MEP's HTTP APIs — Mp1 (ETSI GS MEC 011) for apps and Mm5 for
// the orchestrator — on one echo server generated from api/openapi. Requests are checked
// against the specs (internal/apispec) and bound by the generated strict handlers; the
// handlers here authorise, call one domain method and return a typed response, and one
// mapper (mapError) turns domain errors into ProblemDetails.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/edgemec/edgemec/api/openapi"
	"github.com/edgemec/edgemec/internal/apispec"
	"github.com/edgemec/edgemec/internal/problem/echoproblem"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/mep/internal/auth"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/internal/uepath"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mm5api/mm5server"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/mep/mp1api/mp1server"
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
	// TokenLimiter limits failed token requests per client id and source address (default:
	// auth.Limiter's defaults).
	TokenLimiter *auth.Limiter
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MaxFormBytes bounds the token endpoint's form body (default 16 KiB; 413 past it,
	// whether the body declares its length or is chunked).
	MaxFormBytes int64
	// MaxURIBytes bounds the request target, path and query (default 8 KiB; 431 past it).
	MaxURIBytes int
	// BodyReadTimeout bounds the time a client may take to send a request body (default
	// 10 s): a slow body cannot hold a connection and its buffers for long. The headers
	// are bounded by the HTTP server's ReadHeaderTimeout.
	BodyReadTimeout time.Duration
	// MEC011Version is the MEC 011 version the MEP answers in to callers that declare none:
	// the operator, and apps whose instance has no mecVersion (default "2.2.1").
	MEC011Version string
	// TimeSourceTraceable makes current_time report TRACEABLE.
	TimeSourceTraceable bool
	// NTPServers and PTPMasters are reported by timing_caps.
	NTPServers []mp1api.NtpServer
	PTPMasters []mp1api.PtpMaster
	// UEPaths holds what the orchestrator reports over Mm5 /ue_paths (nil: a table of
	// uepath.DefaultMax entries).
	UEPaths *uepath.Table
}

type handler struct {
	cfg            Config
	defaultVersion MECVersion
	site           *platform.MEP
	auth           *auth.Authority
	log            *slog.Logger
}

var (
	_ mp1server.StrictServerInterface = (*handler)(nil)
	_ mm5server.StrictServerInterface = (*mm5Handler)(nil)
)

// New returns the HTTP handler of the MEP.
func New(cfg Config) (http.Handler, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.TokenLimiter == nil {
		cfg.TokenLimiter = &auth.Limiter{}
	}
	if cfg.MaxFormBytes == 0 {
		cfg.MaxFormBytes = 16 << 10
	}
	if cfg.MaxURIBytes == 0 {
		cfg.MaxURIBytes = 8 << 10
	}
	if cfg.BodyReadTimeout == 0 {
		cfg.BodyReadTimeout = 10 * time.Second
	}
	if cfg.UEPaths == nil {
		cfg.UEPaths = &uepath.Table{}
	}
	if cfg.MEC011Version == "" {
		cfg.MEC011Version = "2.2.1"
	}
	dv, err := ParseMECVersion(cfg.MEC011Version)
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, site: cfg.Site, auth: cfg.Authority, log: cfg.Logger, defaultVersion: dv}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = echoproblem.Handler(cfg.Logger, mapError)
	spec, err := specValidator()
	if err != nil {
		return nil, err
	}
	e.Pre(middleware.RequestIDWithConfig(middleware.RequestIDConfig{}), h.bound)
	e.Use(h.logRefusals, middleware.Recover())
	if cfg.Metrics != nil {
		e.Use(cfg.Metrics.Middleware())
	}
	e.Use(middleware.BodyLimit(byteSize(cfg.MaxBodyBytes)))
	e.Use(h.authenticate, spec.Middleware())
	obs.Probes(e, cfg.Ready, cfg.MetricsHandler)
	mp1server.RegisterHandlers(e, mp1server.NewStrictHandler(h, nil))
	mm5server.RegisterHandlersWithBaseURL(e, mm5server.NewStrictHandler(&mm5Handler{h}, nil), "/mepm/v1")
	return e, nil
}

// bound applies the per-request limits that come before routing: the request target's
// length (431) and the time the body may take to arrive.
func (h *handler) bound(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if n := len(req.RequestURI); n > h.cfg.MaxURIBytes {
			h.log.WarnContext(req.Context(), "request refused: request target too long", logkeys.RequestID, requestID(c),
				logkeys.Method, req.Method, logkeys.Addr, req.RemoteAddr, "bytes", n)
			return problem.New(http.StatusRequestHeaderFieldsTooLarge, "the request target has %d bytes, more than %d", n, h.cfg.MaxURIBytes)
		}
		if req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0 {
			// The deadline ends when the body has been read: a long poll that follows must
			// not be cut by it (net/http cancels a request whose connection read fails).
			rc := http.NewResponseController(c.Response().Writer)
			if rc.SetReadDeadline(time.Now().Add(h.cfg.BodyReadTimeout)) == nil {
				req.Body = &deadlineBody{ReadCloser: req.Body, clear: func() { _ = rc.SetReadDeadline(time.Time{}) }}
			}
		}
		return next(c)
	}
}

// deadlineBody clears the connection's read deadline once the body has been read.
type deadlineBody struct {
	io.ReadCloser
	clear func()
	done  bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.clear()
	}
	return n, err
}

func requestID(c echo.Context) string { return c.Response().Header().Get(echo.HeaderXRequestID) }

// logRefusals logs every refused request (401, 403, 413, 429, 431) at warn with its request
// id, so that an operator running at the default level sees authentication failures and
// clients that hit limits; other client errors stay at debug (echoproblem).
func (h *handler) logRefusals(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		switch st := c.Response().Status; st {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge,
			http.StatusTooManyRequests, http.StatusRequestHeaderFieldsTooLarge:
			req := c.Request()
			p := principal(req.Context())
			args := []any{logkeys.RequestID, requestID(c), logkeys.Method, req.Method, logkeys.Route, c.Path(),
				logkeys.Status, st, logkeys.Addr, req.RemoteAddr}
			if p.AppInstanceID != "" {
				args = append(args, logkeys.AppInstanceID, p.AppInstanceID)
			}
			if err != nil {
				_, detail := echoproblem.Classify(err, mapError)
				args = append(args, logkeys.Reason, detail)
			}
			h.log.WarnContext(req.Context(), "request refused", args...)
		}
		return nil
	}
}

func byteSize(n int64) string { return strconv.FormatInt(n, 10) + "B" }

// feeds are the routes a feed token may read.
var feeds = map[string]bool{"/mepm/v1/feeds/traffic_rules": true, "/mepm/v1/feeds/dns_rules": true}

// public routes need no token.
var public = map[string]bool{"/oauth2/token": true, "/readyz": true, "/healthz": true, "/metrics": true}

// authenticate resolves the bearer token and enforces the access rules: /mepm (Mm5) is the
// operator's; an app may use only its own /applications/{appInstanceId} resources, and to
// an app, another instance's resources do not exist (404, as for an unknown id).
func (h *handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		path := c.Path()
		if public[path] || path == "" {
			if path == "/oauth2/token" {
				if err := h.boundForm(c); err != nil {
					return err
				}
			}
			if id, secret, ok := c.Request().BasicAuth(); ok {
				setRequestValue(c, basicKey{}, [2]string{id, secret})
			}
			if host, _, err := net.SplitHostPort(c.Request().RemoteAddr); err == nil {
				setRequestValue(c, remoteKey{}, host)
			}
			return next(c)
		}
		p, err := h.auth.Authenticate(c.Request().Header.Get(echo.HeaderAuthorization))
		// An app token outlives its instance (JWTs are not revocable): it works only while
		// the instance is on the site in the credential epoch the token was issued in, so
		// neither a re-created instance of the same id nor a rotated secret revives it.
		if err == nil && !p.Operator && !p.Feed {
			if epoch, ok := h.site.CredentialEpoch(p.AppInstanceID); !ok || epoch != p.Epoch {
				err = auth.ErrUnauthenticated
			}
		}
		if err != nil {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="mp1"`)
			return problem.New(http.StatusUnauthorized, "a valid bearer token is required")
		}
		if p.Feed {
			// A feed token reads the rule feeds, and nothing else.
			if c.Request().Method != http.MethodGet || !feeds[path] {
				return problem.Forbidden("the feed token may only read the rule feeds (GET /mepm/v1/feeds/...)")
			}
		} else if !p.Operator {
			if strings.HasPrefix(path, "/mepm/") {
				return problem.Forbidden("Mm5 is for the operator token only")
			}
			// Another app's resources are, to an app, resources that do not exist: the answer
			// is the one an unknown instance gets, so it does not tell which instances exist.
			if id := c.Param("appInstanceId"); id != "" && id != p.AppInstanceID {
				return unknownApp(id)
			}
		}
		setRequestValue(c, principalKey{}, p)
		return next(c)
	}
}

// boundForm reads the token endpoint's form body under MaxFormBytes (413 past it, chunked
// or not) and puts it back for the form parser, which would otherwise read up to 10 MB.
func (h *handler) boundForm(c echo.Context) error {
	req := c.Request()
	if req.ContentLength > h.cfg.MaxFormBytes {
		return problem.New(http.StatusRequestEntityTooLarge, "the token request body is larger than %d bytes", h.cfg.MaxFormBytes)
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, h.cfg.MaxFormBytes+1))
	if err != nil {
		return problem.BadRequest("read body: %v", err)
	}
	if int64(len(b)) > h.cfg.MaxFormBytes {
		return problem.New(http.StatusRequestEntityTooLarge, "the token request body is larger than %d bytes", h.cfg.MaxFormBytes)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.ContentLength = int64(len(b))
	return nil
}

// unknownApp is the answer to a request that names an app instance the caller cannot see.
func unknownApp(id string) error {
	return problem.New(http.StatusNotFound, "app instance %q is not known on this site", id)
}

// The strict handlers see the request's context only: what authentication learnt travels in it.
type (
	principalKey struct{}
	basicKey     struct{}
	remoteKey    struct{}
)

// remoteHost returns the address of the peer of a request to a public route (not a
// forwarded-for header: a limit keyed by a header is a limit the client chooses).
func remoteHost(ctx context.Context) string {
	h, _ := ctx.Value(remoteKey{}).(string)
	return h
}

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

// maxListItems bounds every list of a request body (400 past it).
const maxListItems = 256

// specValidator validates requests against the Mp1 and Mm5 specifications. Input the spec
// does not describe but MEC 011 V2.1.1 clients send (a single-object dstInterface) is
// rewritten into the spec's form first.
func specValidator() (*apispec.Validator, error) {
	return apispec.New(apispec.Config{
		MaxListItems: maxListItems,
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
	case errors.Is(err, platform.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, detail, true
	}
	return 0, "", false
}
