package httpapi

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/selector"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/meo/mm1api"
)

const base = "/app_pkgm/v1"

// info renders a package as its AppPkgInfo document.
func (h *handler) info(p *store.Package) map[string]any { return toDoc(h.view(p)) }

// pkgView is the AppPkgInfo document of a package as the API shows it: the stored attributes
// and the links. Checksum shadows the package's own so that an attribute selector can leave
// it out.
type pkgView struct {
	*store.Package
	Checksum *store.Checksum `json:"checksum,omitempty"`
	Links    pkgLinks        `json:"_links"`
}

type pkgLinks struct {
	Self          hrefLink `json:"self"`
	AppD          hrefLink `json:"appD"`
	AppPkgContent hrefLink `json:"appPkgContent"`
}

type hrefLink struct {
	Href string `json:"href"`
}

func (h *handler) view(p *store.Package) pkgView {
	self := h.cfg.APIRoot + base + "/app_packages/" + p.ID
	return pkgView{Package: p, Checksum: &p.Checksum,
		Links: pkgLinks{Self: hrefLink{self}, AppD: hrefLink{self + "/appd"}, AppPkgContent: hrefLink{self + "/package_content"}}}
}

// selected is the document of p with the attribute selection f applied. Selections that only
// leave out whole optional attributes (the default of the lists) are served from the typed
// view, without a round trip through a map; the others prune the map of info.
func (h *handler) selected(p *store.Package, f selector.Fields) any {
	if names, ok := f.TopLevel(); ok {
		cp := *p
		v := h.view(&cp)
		typed := true
		for _, n := range names {
			switch n {
			case "softwareImages":
				cp.SoftwareImages = nil
			case "additionalArtifacts":
				cp.AdditionalArtifacts = nil
			case "userDefinedData":
				cp.UserDefinedData = nil
			case "checksum":
				v.Checksum = nil
			case "onboardingFailureDetails":
				cp.OnboardingFailure = nil
			default:
				typed = false
			}
		}
		if typed {
			return v
		}
	}
	d := h.info(p)
	f.Apply(d)
	return d
}

// CreateAppPkg implements POST /app_packages.
func (h *handler) CreateAppPkg(ctx context.Context, req mm1api.CreateAppPkgRequestObject) (mm1api.CreateAppPkgResponseObject, error) {
	b := req.Body
	in := pkgm.CreateInput{AppPkgName: b.AppPkgName, AppPkgVersion: b.AppPkgVersion,
		Checksum: store.Checksum{Algorithm: b.Checksum.Algorithm, Hash: b.Checksum.Hash}}
	if b.AppProvider != nil {
		in.AppProvider = *b.AppProvider
	}
	if b.AppPkgPath != nil {
		in.AppPkgPath = *b.AppPkgPath
	}
	if b.UserDefinedData != nil {
		in.UserDefinedData = *b.UserDefinedData
	}
	p, err := h.pk.Create(ctx, in)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusCreated, body: h.view(p),
		location: h.cfg.APIRoot + base + "/app_packages/" + p.ID}, nil
}

// ListAppPkgs implements GET /app_packages.
func (h *handler) ListAppPkgs(ctx context.Context, req mm1api.ListAppPkgsRequestObject) (mm1api.ListAppPkgsResponseObject, error) {
	p := req.Params
	return h.list(ctx, false, base+"/app_packages", p.Filter, p.NextpageOpaqueMarker, url.Values{
		"fields": opt(p.Fields), "exclude_fields": opt(p.ExcludeFields), "all_fields": opt(p.AllFields), "exclude_default": opt(p.ExcludeDefault)})
}

// ListOnboardedAppPkgs implements GET /onboarded_app_packages.
func (h *handler) ListOnboardedAppPkgs(ctx context.Context, req mm1api.ListOnboardedAppPkgsRequestObject) (mm1api.ListOnboardedAppPkgsResponseObject, error) {
	p := req.Params
	return h.list(ctx, true, base+"/onboarded_app_packages", p.Filter, p.NextpageOpaqueMarker, url.Values{
		"fields": opt(p.Fields), "exclude_fields": opt(p.ExcludeFields), "all_fields": opt(p.AllFields), "exclude_default": opt(p.ExcludeDefault)})
}

func opt(s *string) []string {
	if s == nil {
		return nil
	}
	return []string{*s}
}

func (h *handler) list(ctx context.Context, onboarded bool, path string, filter, marker *string, sel url.Values) (jsonResponse, error) {
	for k, v := range sel {
		if v == nil {
			delete(sel, k)
		}
	}
	list := strings.TrimPrefix(path, base+"/")
	q := store.ListQuery{OnboardedOnly: onboarded, Limit: h.cfg.PageSize}
	if filter != nil {
		f, err := compileFilter(*filter)
		if err != nil {
			return jsonResponse{}, err
		}
		q.Filter = f
	}
	fields, err := selector.ParseFields(sel, fieldSpec)
	if err != nil {
		return jsonResponse{}, problem.BadRequest("%v", err)
	}
	if names, ok := fields.TopLevel(); ok {
		q.Omit = names // the store need not decode what the answer drops
	}
	if marker != nil {
		if q.After, err = h.decodeMarker(list, *marker); err != nil {
			return jsonResponse{}, err
		}
	}
	page, err := h.pk.List(ctx, q)
	if err != nil {
		return jsonResponse{}, err
	}
	docs := make([]any, 0, len(page.Packages))
	for _, p := range page.Packages {
		docs = append(docs, h.selected(p, fields))
	}
	r := jsonResponse{status: http.StatusOK, body: docs}
	if page.Next != 0 {
		r.link = h.nextLink(list, path, filter, sel, page.Next)
	}
	return r, nil
}

// GetAppPkg implements GET /app_packages/{appPkgId}.
func (h *handler) GetAppPkg(ctx context.Context, req mm1api.GetAppPkgRequestObject) (mm1api.GetAppPkgResponseObject, error) {
	p, err := h.pk.Get(ctx, req.AppPkgId)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: h.view(p)}, nil
}

// GetOnboardedAppPkg implements GET /onboarded_app_packages/{appDId}.
func (h *handler) GetOnboardedAppPkg(ctx context.Context, req mm1api.GetOnboardedAppPkgRequestObject) (mm1api.GetOnboardedAppPkgResponseObject, error) {
	p, err := h.pk.GetOnboarded(ctx, req.AppDId)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: h.view(p)}, nil
}

// PatchAppPkg implements PATCH /app_packages/{appPkgId}.
func (h *handler) PatchAppPkg(ctx context.Context, req mm1api.PatchAppPkgRequestObject) (mm1api.PatchAppPkgResponseObject, error) {
	var body *mm1api.AppPkgInfoModifications
	switch {
	case req.JSONBody != nil:
		body = req.JSONBody
	case req.ApplicationMergePatchPlusJSONBody != nil:
		m := mm1api.AppPkgInfoModifications(*req.ApplicationMergePatchPlusJSONBody)
		body = &m
	default:
		return nil, problem.BadRequest("request body is required")
	}
	state := body.OperationalState
	if body.OperationState != nil {
		if state != nil && *state != *body.OperationState {
			return nil, problem.BadRequest("operationalState and operationState disagree")
		}
		state = body.OperationState
	}
	if state == nil {
		return nil, problem.BadRequest("AppPkgInfoModifications: operationalState is required")
	}
	if _, err := h.pk.SetOperationalState(ctx, req.AppPkgId, string(*state)); err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: map[string]string{"operationalState": string(*state)}}, nil
}

// DeleteAppPkg implements DELETE /app_packages/{appPkgId}.
func (h *handler) DeleteAppPkg(ctx context.Context, req mm1api.DeleteAppPkgRequestObject) (mm1api.DeleteAppPkgResponseObject, error) {
	if err := h.pk.Delete(ctx, req.AppPkgId); err != nil {
		return nil, err
	}
	return mm1api.DeleteAppPkg204Response{}, nil
}

// GetAppPkgAppD implements GET /app_packages/{appPkgId}/appd.
func (h *handler) GetAppPkgAppD(ctx context.Context, req mm1api.GetAppPkgAppDRequestObject) (mm1api.GetAppPkgAppDResponseObject, error) {
	p, err := h.pk.Get(ctx, req.AppPkgId)
	if err != nil {
		return nil, err
	}
	return appD(ctx, p)
}

// GetOnboardedAppD implements GET /onboarded_app_packages/{appDId}/appd.
func (h *handler) GetOnboardedAppD(ctx context.Context, req mm1api.GetOnboardedAppDRequestObject) (mm1api.GetOnboardedAppDResponseObject, error) {
	p, err := h.pk.GetOnboarded(ctx, req.AppDId)
	if err != nil {
		return nil, err
	}
	return appD(ctx, p)
}

type acceptKey struct{}

// appD renders the AppD as JSON or YAML, whichever the Accept header prefers (JSON when
// both or neither are named).
func appD(ctx context.Context, p *store.Package) (rawResponse, error) {
	if p.OnboardingState != store.Onboarded || len(p.AppD) == 0 {
		return rawResponse{}, &pkgm.Error{Kind: pkgm.ErrConflict, Detail: "app package " + p.ID + " is " + p.OnboardingState + ": it has no AppD"}
	}
	accept, _ := ctx.Value(acceptKey{}).(string)
	wantYAML, ok := negotiateAppD(accept)
	if !ok {
		return rawResponse{}, problem.New(http.StatusNotAcceptable, "the AppD is served as application/json or application/yaml")
	}
	var body []byte
	var err error
	switch {
	case wantYAML && p.AppDFormat == "yaml":
		body = p.AppD
	case wantYAML:
		body, err = yaml.JSONToYAML(p.AppD)
	case p.AppDFormat == "json":
		body = p.AppD
	default:
		body, err = yaml.YAMLToJSON(p.AppD)
	}
	if err != nil {
		return rawResponse{}, err
	}
	ct := "application/json"
	if wantYAML {
		ct = "application/yaml"
	}
	return rawResponse{status: http.StatusOK, contentType: ct, body: body}, nil
}

// negotiateAppD picks YAML or JSON from an Accept header; ok is false when it allows neither.
func negotiateAppD(accept string) (yamlWanted, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return false, true
	}
	bestJSON, bestYAML := -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "application/json", "application/*", "*/*":
			bestJSON = max(bestJSON, q)
			if mt != "application/json" {
				bestYAML = max(bestYAML, q-0.001) // a wildcard prefers JSON
			}
		case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain", "text/*":
			bestYAML = max(bestYAML, q)
		}
	}
	switch {
	case bestJSON <= 0 && bestYAML <= 0:
		return false, false
	case bestYAML > bestJSON:
		return true, true
	}
	return false, true
}

// GetAppPkgContent implements GET /app_packages/{appPkgId}/package_content.
func (h *handler) GetAppPkgContent(ctx context.Context, req mm1api.GetAppPkgContentRequestObject) (mm1api.GetAppPkgContentResponseObject, error) {
	p, err := h.pk.Get(ctx, req.AppPkgId)
	if err != nil {
		return nil, err
	}
	return h.content(ctx, p, req.Params.Range)
}

// GetOnboardedAppPkgContent implements GET /onboarded_app_packages/{appDId}/package_content.
func (h *handler) GetOnboardedAppPkgContent(ctx context.Context, req mm1api.GetOnboardedAppPkgContentRequestObject) (mm1api.GetOnboardedAppPkgContentResponseObject, error) {
	p, err := h.pk.GetOnboarded(ctx, req.AppDId)
	if err != nil {
		return nil, err
	}
	return h.content(ctx, p, req.Params.Range)
}

func (h *handler) content(ctx context.Context, p *store.Package, rng *string) (contentResponse, error) {
	if p.OnboardingState != store.Onboarded {
		return contentResponse{}, &pkgm.Error{Kind: pkgm.ErrConflict, Detail: "app package " + p.ID + " is " + p.OnboardingState + ": its content is served once onboarded"}
	}
	c, err := h.pk.Content(ctx, p.ID)
	if err != nil {
		return contentResponse{}, err
	}
	r := contentResponse{c: c, off: 0, n: c.Size(), total: c.Size()}
	if rng != nil {
		off, n, ok, err := parseRange(*rng, c.Size())
		if err != nil {
			c.Close()
			return contentResponse{total: c.Size(), unsatisfied: true}, nil
		}
		if ok {
			r.off, r.n, r.partial = off, n, true
		}
	}
	return r, nil
}

// parseRange parses a single byte range (RFC 9110 §14.1.2). ok is false for a header to
// ignore (not bytes, or several ranges: the whole content is sent); an unsatisfiable range
// is a 416 error.
func parseRange(h string, size int64) (off, n int64, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, nil
	}
	unsat := &rangeError{size: size}
	switch {
	case first == "": // suffix: the last N bytes
		k, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || k < 0 {
			return 0, 0, false, nil
		}
		if k == 0 || size == 0 {
			return 0, 0, false, unsat
		}
		k = min(k, size)
		return size - k, k, true, nil
	default:
		a, perr := strconv.ParseInt(first, 10, 64)
		if perr != nil || a < 0 {
			return 0, 0, false, nil
		}
		if a >= size {
			return 0, 0, false, unsat
		}
		b := size - 1
		if last != "" {
			if b, perr = strconv.ParseInt(last, 10, 64); perr != nil || b < a {
				return 0, 0, false, nil
			}
			b = min(b, size-1)
		}
		return a, b - a + 1, true, nil
	}
}

// rangeError is a 416 answer.
type rangeError struct{ size int64 }

func (e *rangeError) Error() string { return "range not satisfiable" }

// UploadAppPkgContent implements PUT /app_packages/{appPkgId}/package_content.
func (h *handler) UploadAppPkgContent(ctx context.Context, req mm1api.UploadAppPkgContentRequestObject) (mm1api.UploadAppPkgContentResponseObject, error) {
	body, err := uploadBody(req.Body, req.MultipartBody)
	if err != nil {
		return nil, err
	}
	if err := h.pk.Upload(ctx, req.AppPkgId, body); err != nil {
		return nil, err
	}
	return mm1api.UploadAppPkgContent202Response{}, nil
}

// UploadOnboardedAppPkgContent implements PUT /onboarded_app_packages/{appDId}/package_content:
// the same upload as UploadAppPkgContent, for the package with that appDId.
func (h *handler) UploadOnboardedAppPkgContent(ctx context.Context, req mm1api.UploadOnboardedAppPkgContentRequestObject) (mm1api.UploadOnboardedAppPkgContentResponseObject, error) {
	body, err := uploadBody(req.Body, req.MultipartBody)
	if err != nil {
		return nil, err
	}
	if err := h.pk.UploadByAppDID(ctx, req.AppDId, body); err != nil {
		return nil, err
	}
	return mm1api.UploadOnboardedAppPkgContent202Response{}, nil
}

// uploadBody returns the package zip of an upload: the raw application/zip body, or the
// part named "file" of a multipart/form-data body.
func uploadBody(raw io.Reader, mp *multipart.Reader) (io.Reader, error) {
	switch {
	case raw != nil:
		return raw, nil
	case mp != nil:
		for {
			part, err := mp.NextPart()
			if errors.Is(err, io.EOF) {
				return nil, problem.BadRequest("multipart body has no part named \"file\"")
			}
			if err != nil {
				return nil, problem.BadRequest("multipart body: %v", err)
			}
			if part.FormName() == "file" {
				return part, nil
			}
		}
	}
	return nil, problem.New(http.StatusUnsupportedMediaType, "send the package as application/zip or multipart/form-data")
}
