package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/inventory"
	"github.com/edgemec/edgemec/meo/internal/inventory/record"
	"github.com/edgemec/edgemec/meo/internal/selector"
	"github.com/edgemec/edgemec/meo/meoapi"
)

// sitesBase is the root of the inventory API (api/openapi/meo.yaml).
const sitesBase = "/inventory/v1"

// sites serves the inventory API: handlers bind, call one inventory method and render.
type sites struct {
	h   *handler
	inv *inventory.Service
}

var _ meoapi.StrictServerInterface = (*sites)(nil)

// registerSites adds the inventory routes (validated with Mm1 by the one apispec middleware).
func registerSites(e *echo.Echo, h *handler, inv *inventory.Service) {
	meoapi.RegisterHandlers(e, meoapi.NewStrictHandler(&sites{h: h, inv: inv}, nil))
}

// rebind turns a generated request model into the inventory's type of the same JSON shape.
func rebind[T any](in any) (T, error) {
	var out T
	b, err := json.Marshal(in)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		return out, problem.BadRequest("request body: %v", err)
	}
	return out, nil
}

func (s *sites) self(id string) string { return s.h.cfg.APIRoot + sitesBase + "/sites/" + id }

func (s *sites) doc(v inventory.View) map[string]any {
	b, _ := json.Marshal(v)
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	doc["_links"] = map[string]any{"self": map[string]string{"href": s.self(v.ID)}}
	return doc
}

// RegisterSite implements POST /sites.
func (s *sites) RegisterSite(ctx context.Context, req meoapi.RegisterSiteRequestObject) (meoapi.RegisterSiteResponseObject, error) {
	spec, err := rebind[inventory.Spec](req.Body)
	if err != nil {
		return nil, err
	}
	v, err := s.inv.Register(ctx, spec)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusCreated, body: s.doc(v), location: s.self(v.ID)}, nil
}

// ListSites implements GET /sites.
func (s *sites) ListSites(ctx context.Context, req meoapi.ListSitesRequestObject) (meoapi.ListSitesResponseObject, error) {
	const list = "sites"
	var q inventory.ListQuery
	q.Limit = s.h.cfg.PageSize
	p := req.Params
	sel := url.Values{"fields": opt(p.Fields), "exclude_fields": opt(p.ExcludeFields), "all_fields": opt(p.AllFields), "exclude_default": opt(p.ExcludeDefault)}
	for k, v := range sel {
		if v == nil {
			delete(sel, k)
		}
	}
	if p.Filter != nil {
		f, err := compileFilterOf(*p.Filter, record.SiteFilterable)
		if err != nil {
			return nil, err
		}
		q.Filter = f
	}
	fields, err := selector.ParseFields(sel, siteFields)
	if err != nil {
		return nil, problem.BadRequest("%v", err)
	}
	if ls := req.Params.LabelSelector; ls != nil {
		var err error
		if q.Labels, err = parseLabelSelector(*ls); err != nil {
			return nil, err
		}
	}
	if m := req.Params.NextpageOpaqueMarker; m != nil {
		if q.After, err = s.h.decodeMarker(list, *m); err != nil {
			return nil, err
		}
	}
	page, err := s.inv.List(ctx, q)
	if err != nil {
		return nil, err
	}
	docs := make([]map[string]any, 0, len(page.Sites))
	for _, v := range page.Sites {
		d := s.doc(v)
		fields.Apply(d)
		docs = append(docs, d)
	}
	r := jsonResponse{status: http.StatusOK, body: docs}
	if page.Next != 0 {
		if ls := req.Params.LabelSelector; ls != nil {
			sel["labelSelector"] = []string{*ls}
		}
		r.link = s.h.nextLink(list, sitesBase+"/sites", p.Filter, sel, page.Next)
	}
	return r, nil
}

// siteFields is the attribute selector behaviour of sites: every attribute is shown unless
// excluded, and the complex ones may be selected.
var siteFields = selector.FieldSpec{
	Complex: []string{"labels", "location", "mep", "vim", "fiveG", "state"},
	Keep:    []string{"id", "_links"},
	Known:   siteField,
}

// siteField reports whether an attribute selector may name path.
func siteField(path string) bool {
	head, rest, nested := strings.Cut(path, "/")
	switch head {
	case "id", "name", "mp1Endpoint", "created", "updated":
		return !nested
	case "labels", "location", "mep", "vim", "fiveG", "state":
		return !nested || rest != ""
	}
	return false
}

// parseLabelSelector reads "k=v,k2=v2" (every pair must hold).
func parseLabelSelector(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(strings.TrimPrefix(v, "="))
		if !ok || k == "" {
			return nil, problem.BadRequest("labelSelector: %q is not key=value", part)
		}
		out[k] = v
	}
	return out, nil
}

// GetSite implements GET /sites/{siteId}.
func (s *sites) GetSite(ctx context.Context, req meoapi.GetSiteRequestObject) (meoapi.GetSiteResponseObject, error) {
	v, err := s.inv.Get(ctx, req.SiteId)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: s.doc(v)}, nil
}

// UpdateSite implements PATCH /sites/{siteId}.
func (s *sites) UpdateSite(ctx context.Context, req meoapi.UpdateSiteRequestObject) (meoapi.UpdateSiteResponseObject, error) {
	var body any
	switch {
	case req.JSONBody != nil:
		body = req.JSONBody
	case req.ApplicationMergePatchPlusJSONBody != nil:
		body = req.ApplicationMergePatchPlusJSONBody
	default:
		return nil, problem.BadRequest("request body is required")
	}
	p, err := rebind[inventory.Patch](body)
	if err != nil {
		return nil, err
	}
	v, err := s.inv.Update(ctx, req.SiteId, p)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: s.doc(v)}, nil
}

// DeleteSite implements DELETE /sites/{siteId}.
func (s *sites) DeleteSite(ctx context.Context, req meoapi.DeleteSiteRequestObject) (meoapi.DeleteSiteResponseObject, error) {
	if err := s.inv.Delete(ctx, req.SiteId); err != nil {
		return nil, err
	}
	return meoapi.DeleteSite204Response{}, nil
}

// CordonSite implements POST /sites/{siteId}/cordon.
func (s *sites) CordonSite(ctx context.Context, req meoapi.CordonSiteRequestObject) (meoapi.CordonSiteResponseObject, error) {
	v, err := s.inv.Cordon(ctx, req.SiteId)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: s.doc(v)}, nil
}

// UncordonSite implements POST /sites/{siteId}/uncordon.
func (s *sites) UncordonSite(ctx context.Context, req meoapi.UncordonSiteRequestObject) (meoapi.UncordonSiteResponseObject, error) {
	v, err := s.inv.Uncordon(ctx, req.SiteId)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: s.doc(v)}, nil
}

// DrainSite implements POST /sites/{siteId}/drain.
func (s *sites) DrainSite(ctx context.Context, req meoapi.DrainSiteRequestObject) (meoapi.DrainSiteResponseObject, error) {
	v, err := s.inv.Drain(ctx, req.SiteId)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: s.doc(v)}, nil
}

func (r jsonResponse) VisitRegisterSiteResponse(w http.ResponseWriter) error { return r.visit(w) }
func (r jsonResponse) VisitListSitesResponse(w http.ResponseWriter) error    { return r.visit(w) }
func (r jsonResponse) VisitGetSiteResponse(w http.ResponseWriter) error      { return r.visit(w) }
func (r jsonResponse) VisitUpdateSiteResponse(w http.ResponseWriter) error   { return r.visit(w) }
func (r jsonResponse) VisitCordonSiteResponse(w http.ResponseWriter) error   { return r.visit(w) }
func (r jsonResponse) VisitUncordonSiteResponse(w http.ResponseWriter) error { return r.visit(w) }
func (r jsonResponse) VisitDrainSiteResponse(w http.ResponseWriter) error    { return r.visit(w) }

// mapSiteError maps the inventory's errors onto statuses.
func mapSiteError(err error) (int, string, bool) {
	var (
		ie *inventory.InvalidError
		ce *inventory.CheckError
		de *inventory.Error
	)
	switch {
	case errors.As(err, &ie):
		return http.StatusBadRequest, "invalid site: " + ie.Error(), true
	case errors.As(err, &ce):
		return http.StatusUnprocessableEntity, "site check failed: " + ce.Error(), true
	case errors.As(err, &de):
		switch {
		case errors.Is(err, inventory.ErrNotFound):
			return http.StatusNotFound, de.Detail, true
		case errors.Is(err, inventory.ErrExists), errors.Is(err, inventory.ErrInUse):
			return http.StatusConflict, de.Detail, true
		case errors.Is(err, inventory.ErrNoKey):
			return http.StatusServiceUnavailable, de.Detail, true
		}
	}
	return 0, "", false
}
