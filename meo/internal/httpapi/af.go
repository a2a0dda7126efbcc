package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/af"
	"github.com/edgemec/edgemec/meo/internal/inventory"
	"github.com/edgemec/edgemec/meo/meoapi"
)

// notifyRoute is where the sites' NEFs send their traffic influence notifications
// (api/openapi/af.yaml); each subscription's notificationDestination is one of its URLs.
const notifyRoute = "/af/v1/notifications/:appInstanceId/:token"

// registerAF adds the notification route. It is outside the Mm1 bearer tokens: the token in
// the path authenticates the NEF (and the optional notification bearer, authenticateNEF).
func registerAF(e *echo.Echo, n *af.NotifyHandler) {
	e.POST(notifyRoute, echo.WrapHandler(n))
}

// authenticateNEF authenticates a notification before its body is validated against the
// specification: the configured notification bearer token, if any, then the
// subscription's token in the path (404 for an instance without a subscription, 401 for a
// wrong token).
func (h *handler) authenticateNEF(c echo.Context) error {
	if h.cfg.Notifications == nil {
		return problem.New(http.StatusNotFound, "no traffic influence notifications are served here")
	}
	if h.cfg.NotifyToken != "" {
		tok, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		if !ok || !equal(tok, h.cfg.NotifyToken) {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="af"`)
			return problem.New(http.StatusUnauthorized, "notification not authenticated")
		}
	}
	id, err := url.PathUnescape(c.Param("appInstanceId"))
	if err != nil {
		return problem.New(http.StatusNotFound, "no subscription at this path")
	}
	switch err := h.cfg.Notifications.Check(c.Request().Context(), id, c.Param("token")); {
	case errors.Is(err, af.ErrUnknownSubscription):
		return problem.New(http.StatusNotFound, "no traffic influence subscription for app instance %s", id)
	case errors.Is(err, af.ErrUnauthenticated):
		return problem.New(http.StatusUnauthorized, "notification not authenticated")
	case err != nil:
		return err
	}
	return nil
}

// ReplaceSiteFiveG implements PUT /sites/{siteId}/fiveG.
func (s *sites) ReplaceSiteFiveG(ctx context.Context, req meoapi.ReplaceSiteFiveGRequestObject) (meoapi.ReplaceSiteFiveGResponseObject, error) {
	spec, err := rebind[inventory.FiveGSpec](req.Body)
	if err != nil {
		return nil, err
	}
	v, err := s.inv.ReplaceFiveG(ctx, req.SiteId, &spec, s.h.cfg.Steering)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: s.doc(v)}, nil
}

// RemoveSiteFiveG implements DELETE /sites/{siteId}/fiveG.
func (s *sites) RemoveSiteFiveG(ctx context.Context, req meoapi.RemoveSiteFiveGRequestObject) (meoapi.RemoveSiteFiveGResponseObject, error) {
	if _, err := s.inv.ReplaceFiveG(ctx, req.SiteId, nil, s.h.cfg.Steering); err != nil {
		return nil, err
	}
	return meoapi.RemoveSiteFiveG204Response{}, nil
}

func (r jsonResponse) VisitReplaceSiteFiveGResponse(w http.ResponseWriter) error { return r.visit(w) }
