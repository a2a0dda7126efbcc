// Package controlapi serves the UPGW control API (api/openapi/upgw.yaml) over the rule-set manager.
// Handlers only bind, call one domain method and map the result; errors become RFC 7807
// ProblemDetails through one mapper.
package controlapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/upgw/internal/feed"
	"github.com/edgemec/edgemec/upgw/internal/rules"
	"github.com/edgemec/edgemec/upgw/internal/ruleset"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

// FeedStatus reports the MEP feed follower's state; nil when the feed is disabled.
type FeedStatus func() feed.Status

// Server implements upgwapi.StrictServerInterface.
type Server struct {
	m    *ruleset.Manager
	feed FeedStatus
}

var _ upgwapi.StrictServerInterface = (*Server)(nil)

// MaxBodyBytes bounds a request body: 16 MiB is ample for a rule set (at most 1024 rules).
// A larger body is answered 413.
const MaxBodyBytes = 16 << 20

// ErrBadSnapshot marks a snapshot body that is not a valid rule snapshot.
var ErrBadSnapshot = errors.New("bad rule snapshot")

// NewHandler returns the echo instance serving the control API under /upgw/v1.
func NewHandler(m *ruleset.Manager, fs FeedStatus, logger *slog.Logger, mw ...echo.MiddlewareFunc) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = problem.Handler(logger, mapError)
	e.Use(mw...)
	e.Use(bodyLimit(MaxBodyBytes))
	upgwapi.RegisterHandlersWithBaseURL(e, upgwapi.NewStrictHandler(&Server{m: m, feed: fs}, nil), "/upgw/v1")
	return e
}

var bodyTooLarge = fmt.Sprintf("request body exceeds %d MiB", MaxBodyBytes>>20)

// bodyLimit answers 413 to a body above n bytes: at once from Content-Length, otherwise when
// the handler reads past n. Unlike echo's BodyLimit, http.MaxBytesReader never hands out
// more than n bytes, so a chunked body cannot complete a JSON value past the limit.
func bodyLimit(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > n {
				return problem.New(http.StatusRequestEntityTooLarge, "%s", bodyTooLarge)
			}
			if req.Body != nil {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, n)
			}
			return next(c)
		}
	}
}

func mapError(err error) (int, string, bool) {
	switch {
	case errors.Is(err, ruleset.ErrStaleVersion):
		return http.StatusConflict, err.Error(), true
	case errors.Is(err, ErrBadSnapshot), errors.Is(err, ruleset.ErrVersionRange):
		return http.StatusBadRequest, err.Error(), true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, bodyTooLarge, true
	}
	return 0, "", false
}

// GetStatus implements upgwapi.StrictServerInterface.
func (s *Server) GetStatus(ctx context.Context, _ upgwapi.GetStatusRequestObject) (upgwapi.GetStatusResponseObject, error) {
	cur := s.m.Current()
	st := upgwapi.Status{
		RuleSetVersion: cur.Version, RuleSetSource: upgwapi.StatusRuleSetSource(cur.Source),
		ActiveRules: len(cur.Rules), RejectedRules: len(cur.Rejected), AppliedAt: timePtr(cur.AppliedAt),
	}
	if ss, err := s.m.Sessions(); err == nil {
		st.Sessions = len(ss)
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
	v := upgwapi.RuleSet{Version: rs.Version, Source: upgwapi.RuleSetSource(rs.Source), AppliedAt: timePtr(rs.AppliedAt),
		Inactive: rs.Inactive, Rules: []upgwapi.CompiledRule{}, Rejected: []upgwapi.RejectedRule{}}
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
