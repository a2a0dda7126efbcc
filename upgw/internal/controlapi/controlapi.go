// Package controlapi serves the UPGW control API (api/openapi/upgw.yaml) over the rule-set
// manager and the packet tracer. Handlers only bind, call one domain method and map the
// result; errors become RFC 7807 ProblemDetails through one mapper.
//
// Each request passes, in order: the HTTP metrics, authentication (the bearer token, when
// one is configured), the body limit, and validation against the spec (internal/apispec:
// unknown query parameters, types, ranges, required fields). Then the handler runs.
package controlapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/edgemec/edgemec/internal/apispec"
	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/internal/problem/echoproblem"
	"github.com/edgemec/edgemec/upgw/internal/feed"
	"github.com/edgemec/edgemec/upgw/internal/rules"
	"github.com/edgemec/edgemec/upgw/internal/ruleset"
	"github.com/edgemec/edgemec/upgw/internal/trace"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

// FeedStatus reports the MEP feed follower's state; nil when the feed is disabled.
type FeedStatus func() feed.Status

// Server implements upgwapi.StrictServerInterface.
type Server struct {
	m      *ruleset.Manager
	feed   FeedStatus
	tracer *trace.Tracer
	token  string
	opts   Options
}

// DataPlaneStatus is what the status reports about the data plane's lifetime.
type DataPlaneStatus struct {
	Pinned       bool
	AdoptedLinks int
	DetachOnStop bool
}

// Options are the parts of the control API beyond the rule-set manager.
type Options struct {
	// Token, when set, is the bearer token every request must carry. Without it the API is
	// open to whoever reaches its address, except the packet trace, which answers 403.
	Token string
	// Tracer runs packet traces; nil answers the trace with 503.
	Tracer *trace.Tracer
	// AllowManualRuleSets lets PUT /ruleset replace the rule set of an agent that follows a
	// MEP feed; without it such a PUT is answered 409 (the feed is the truth, and a manual
	// set would be replaced by the next feed change anyway).
	AllowManualRuleSets bool
	// Sessions reads the session watcher's last count; nil reports none.
	Sessions func() ruleset.SessionStats
	// DataPlane reads the data plane's lifetime; nil reports an unpinned data plane.
	DataPlane func() DataPlaneStatus
}

// ErrFollowingFeed is returned for a manual rule set on an agent that follows a MEP feed.
var ErrFollowingFeed = errors.New("this gateway follows the MEP's traffic-rule feed: manual rule sets are refused (start it with --allow-manual-rulesets to allow them)")

var _ upgwapi.StrictServerInterface = (*Server)(nil)

// MaxBodyBytes bounds a request body: 16 MiB is ample for a rule set (at most 1024 rules).
// A larger body is answered 413.
const MaxBodyBytes = 16 << 20

// ErrBadSnapshot marks a snapshot body that is not a valid rule snapshot.
var ErrBadSnapshot = errors.New("bad rule snapshot")

// NewHandler returns the echo instance serving the control API under /upgw/v1.
func NewHandler(m *ruleset.Manager, fs FeedStatus, opts Options, logger *slog.Logger, mw ...echo.MiddlewareFunc) (*echo.Echo, error) {
	v, err := specValidator()
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = echoproblem.Handler(logger, mapError)
	e.Use(mw...)
	e.Use(authenticate(opts.Token))
	e.Use(bodyLimit(MaxBodyBytes))
	e.Use(v.Middleware())
	upgwapi.RegisterHandlersWithBaseURL(e, upgwapi.NewStrictHandler(&Server{m: m, feed: fs, tracer: opts.Tracer, token: opts.Token, opts: opts}, nil), "/upgw/v1")
	return e, nil
}

// specValidator validates requests against api/openapi/upgw.yaml, as embedded in upgwapi.
func specValidator() (*apispec.Validator, error) {
	sw, err := upgwapi.GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("load the control API spec: %w", err)
	}
	b, err := sw.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode the control API spec: %w", err)
	}
	return apispec.New(apispec.Config{Docs: []apispec.Doc{{Name: "upgw.yaml", Data: b, Prefix: "/upgw/v1"}}})
}

// authenticate requires "Authorization: Bearer <token>" on every request when a token is
// configured; the comparison takes the same time whatever the token's first difference.
func authenticate(token string) echo.MiddlewareFunc {
	want := []byte("Bearer " + token)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if token == "" {
				return next(c)
			}
			got := []byte(c.Request().Header.Get(echo.HeaderAuthorization))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="upgw"`)
				return problem.New(http.StatusUnauthorized, "a valid bearer token is required")
			}
			return next(c)
		}
	}
}

var bodyTooLarge = fmt.Sprintf("request body exceeds %d MiB", MaxBodyBytes>>20)

// bodyLimit answers 413 to a body above n bytes: at once from Content-Length, otherwise when
// reading it passes n. It reads the body before the spec validation and the handler do:
// unlike echo's BodyLimit, http.MaxBytesReader never hands out more than n bytes, so a
// chunked body cannot complete a JSON value past the limit.
func bodyLimit(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > n {
				return problem.New(http.StatusRequestEntityTooLarge, "%s", bodyTooLarge)
			}
			if req.Body != nil && req.Body != http.NoBody {
				b, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, n))
				if err != nil {
					return fmt.Errorf("read body: %w", err)
				}
				req.Body = io.NopCloser(bytes.NewReader(b))
			}
			return next(c)
		}
	}
}

func mapError(err error) (int, string, bool) {
	switch {
	case errors.Is(err, ruleset.ErrStaleVersion), errors.Is(err, ErrFollowingFeed):
		return http.StatusConflict, err.Error(), true
	case errors.Is(err, ruleset.ErrNotSaved):
		return http.StatusInternalServerError, err.Error(), true
	case errors.Is(err, ErrBadSnapshot), errors.Is(err, ruleset.ErrVersionRange):
		return http.StatusBadRequest, err.Error(), true
	case errors.Is(err, trace.ErrInvalid):
		return http.StatusBadRequest, err.Error(), true
	case errors.Is(err, trace.ErrBusy):
		return http.StatusConflict, err.Error(), true
	case errors.Is(err, trace.ErrClosed):
		return http.StatusServiceUnavailable, err.Error(), true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, bodyTooLarge, true
	}
	return 0, "", false
}

// GetStatus implements upgwapi.StrictServerInterface. It reads kept figures only (the
// session count comes from the background watcher): its cost does not grow with the
// number of sessions.
func (s *Server) GetStatus(ctx context.Context, _ upgwapi.GetStatusRequestObject) (upgwapi.GetStatusResponseObject, error) {
	cur := s.m.Current()
	st := upgwapi.Status{
		RuleSetVersion: cur.Version, RuleSetSource: upgwapi.StatusRuleSetSource(cur.Source), RuleSetDigest: cur.Digest,
		RuleSetSaved: cur.Saved, RuleSetSaveFailures: int64(s.m.SaveFailures()),
		ActiveRules: len(cur.Rules), RejectedRules: len(cur.Rejected), AppliedAt: timePtr(cur.AppliedAt),
	}
	if cur.SaveError != "" {
		st.RuleSetSaveError = &cur.SaveError
	}
	if s.opts.Sessions != nil {
		ss := s.opts.Sessions()
		st.Sessions, st.SessionCapacity, st.SessionsEvicted = ss.Count, ss.Capacity, int64(ss.Evicted)
		st.SessionsCountedAt = timePtr(ss.CountedAt)
	}
	if s.opts.DataPlane != nil {
		dp := s.opts.DataPlane()
		st.DataPlane = upgwapi.DataPlaneStatus{Pinned: dp.Pinned, AdoptedLinks: dp.AdoptedLinks, DetachOnStop: dp.DetachOnStop}
	}
	if s.feed != nil {
		f := s.feed()
		st.Feed = upgwapi.FeedStatus{Enabled: true, Connected: f.Connected, LastSuccess: timePtr(f.LastSuccess)}
		if f.LastError != "" {
			st.Feed.LastError = &f.LastError
		}
	}
	return upgwapi.GetStatus200JSONResponse(st), nil
}

// GetRuleSet implements upgwapi.StrictServerInterface.
func (s *Server) GetRuleSet(ctx context.Context, _ upgwapi.GetRuleSetRequestObject) (upgwapi.GetRuleSetResponseObject, error) {
	return upgwapi.GetRuleSet200JSONResponse(ruleSetView(s.m.Current())), nil
}

// PutRuleSet implements upgwapi.StrictServerInterface.
func (s *Server) PutRuleSet(ctx context.Context, req upgwapi.PutRuleSetRequestObject) (upgwapi.PutRuleSetResponseObject, error) {
	if s.feed != nil && !s.opts.AllowManualRuleSets {
		return nil, ErrFollowingFeed
	}
	if req.Body == nil {
		return nil, fmt.Errorf("%w: missing body", ErrBadSnapshot)
	}
	snap := rules.Snapshot{Version: req.Body.Version}
	if snap.Version <= 0 {
		return nil, fmt.Errorf("%w: version must be positive", ErrBadSnapshot)
	}
	for i, r := range req.Body.Rules {
		b, err := json.Marshal(r.TrafficRule)
		if err != nil {
			return nil, fmt.Errorf("%w: rules[%d]: %w", ErrBadSnapshot, i, err)
		}
		// The spec leaves trafficRule open so that dstInterface may be a V2.1.1 object.
		tr, err := rules.DecodeTrafficRule(b)
		if err != nil {
			return nil, fmt.Errorf("%w: rules[%d].trafficRule: %w", ErrBadSnapshot, i, err)
		}
		snap.Rules = append(snap.Rules, rules.AppRule{AppInstanceID: r.AppInstanceId, TrafficRule: tr})
	}
	rs, err := s.m.Apply(ctx, snap, ruleset.SourceAPI, true)
	if err != nil {
		// ErrNotSaved included: the caller must not take the rule set for durable.
		return nil, err
	}
	return upgwapi.PutRuleSet200JSONResponse(ruleSetView(rs)), nil
}

// GetRuleCounters implements upgwapi.StrictServerInterface.
func (s *Server) GetRuleCounters(ctx context.Context, _ upgwapi.GetRuleCountersRequestObject) (upgwapi.GetRuleCountersResponseObject, error) {
	rcs, err := s.m.RuleCounters()
	if err != nil {
		return nil, err
	}
	out := make(upgwapi.GetRuleCounters200JSONResponse, 0, len(rcs))
	for _, r := range rcs {
		out = append(out, upgwapi.RuleCounter{AppInstanceId: r.AppInstanceID, TrafficRuleId: r.TrafficRuleID,
			Packets: int64(r.Packets), Bytes: int64(r.Bytes)})
	}
	return out, nil
}

// GetPathCounters implements upgwapi.StrictServerInterface.
func (s *Server) GetPathCounters(ctx context.Context, _ upgwapi.GetPathCountersRequestObject) (upgwapi.GetPathCountersResponseObject, error) {
	names, cs, err := s.m.PathCounters()
	if err != nil {
		return nil, err
	}
	out := make(upgwapi.GetPathCounters200JSONResponse, 0, len(cs))
	for i, n := range names {
		out = append(out, upgwapi.PathCounter{Path: n, Packets: int64(cs[i].Packets), Bytes: int64(cs[i].Bytes)})
	}
	return out, nil
}

// ListSessions implements upgwapi.StrictServerInterface.
func (s *Server) ListSessions(ctx context.Context, _ upgwapi.ListSessionsRequestObject) (upgwapi.ListSessionsResponseObject, error) {
	ss, err := s.m.Sessions()
	if err != nil {
		return nil, err
	}
	out := make(upgwapi.ListSessions200JSONResponse, 0, len(ss))
	for _, e := range ss {
		out = append(out, sessionView(e))
	}
	return out, nil
}

func ruleSetView(rs ruleset.RuleSet) upgwapi.RuleSet {
	v := upgwapi.RuleSet{Version: rs.Version, Digest: rs.Digest, Source: upgwapi.RuleSetSource(rs.Source), AppliedAt: timePtr(rs.AppliedAt),
		Inactive: rs.Inactive, Saved: rs.Saved, Rules: []upgwapi.CompiledRule{}, Rejected: []upgwapi.RejectedRule{}}
	if rs.SaveError != "" {
		v.SaveError = &rs.SaveError
	}
	for _, r := range rs.Rules {
		v.Rules = append(v.Rules, upgwapi.CompiledRule{AppInstanceId: r.AppInstanceID, TrafficRuleId: r.TrafficRuleID,
			Priority: r.Priority, Action: r.Action, Matches: r.Matches})
	}
	for _, r := range rs.Rejected {
		v.Rejected = append(v.Rejected, upgwapi.RejectedRule{AppInstanceId: r.AppInstanceID, TrafficRuleId: r.TrafficRuleID, Reason: r.Reason})
	}
	return v
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
