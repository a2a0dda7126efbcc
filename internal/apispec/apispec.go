// Package apispec validates HTTP requests against the platform's OpenAPI specifications
// (api/openapi), so that what a spec says (required fields, types, enums, ranges, the query
// parameters of each route) is checked in one place for every server instead of by hand in
// each handler. It is an echo middleware built on kin-openapi's openapi3filter.
//
// Per request, in order:
//  1. Routes the spec does not describe (health, metrics, 404, 405) pass through untouched.
//  2. An unknown query parameter is a 400 (ETSI GS MEC 009 §6.15.3).
//  3. The body is read under the server's body limit (413 past it). Its Content-Type must be
//     one the operation declares (415 otherwise); a missing one is taken as
//     application/json, and any +json type is read as JSON. A JSON body must parse (400).
//     Other media types (the OAuth 2.0 token form) are left to the handler, whose protocol
//     has its own error format (RFC 6749 §5.2).
//  4. Config.Normalize may rewrite the body before validation, for tolerated input forms the
//     spec does not describe (MEC 011 V2.1.1 single-object dstInterface).
//  5. Path and query parameters and the body are validated against the operation; a
//     failure is a 400 ProblemDetails naming the parameter, or the body field by JSON pointer.
//
// Authentication is the server's own middleware: the spec's security requirements are not
// checked here. Handlers still bind the body themselves (or through oapi-codegen's
// generated wrappers); domain rules stay in the domain.
package apispec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/edgemec/edgemec/internal/problem"
)

// Doc is one OpenAPI document served under Prefix (its server URL, e.g. "/mepm/v1").
type Doc struct {
	// Name is the document's file name, against which relative $refs resolve
	// ("mm5.yaml" referring to "mp1.yaml#/...").
	Name string
	// Data is the YAML or JSON document.
	Data []byte
	// Prefix is prepended to every path of the document.
	Prefix string
}

// Config configures the middleware.
type Config struct {
	// Docs are the documents to serve. Each is loaded with the others available as
	// external $ref targets, by Name.
	Docs []Doc
	// Normalize, when set, may rewrite the body of an operation (by operationId) before it
	// is validated and handed on. It returns the body unchanged when it has nothing to do.
	Normalize func(operationID string, body []byte) ([]byte, error)
}

type operation struct {
	route   *routers.Route
	queries map[string]bool
}

// Validator holds the loaded documents and the operation of each echo route.
type Validator struct {
	ops       map[string]*operation // "METHOD /echo/:path"
	docs      []*openapi3.T
	normalize func(string, []byte) ([]byte, error)
}

// New loads and checks the documents.
func New(cfg Config) (*Validator, error) {
	files := map[string][]byte{}
	for _, d := range cfg.Docs {
		files[d.Name] = d.Data
	}
	v := &Validator{ops: map[string]*operation{}, normalize: cfg.Normalize}
	for _, d := range cfg.Docs {
		l := openapi3.NewLoader()
		l.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
			if b, ok := files[path.Base(u.Path)]; ok {
				return b, nil
			}
			return nil, fmt.Errorf("spec %s: no document %q", d.Name, u)
		}
		doc, err := l.LoadFromDataWithPath(d.Data, &url.URL{Path: d.Name})
		if err != nil {
			return nil, fmt.Errorf("load spec %s: %w", d.Name, err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			return nil, fmt.Errorf("spec %s: %w", d.Name, err)
		}
		v.docs = append(v.docs, doc)
		for p, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				queries := map[string]bool{}
				for _, ps := range []openapi3.Parameters{item.Parameters, op.Parameters} {
					for _, pr := range ps {
						if pr.Value != nil && pr.Value.In == openapi3.ParameterInQuery {
							queries[pr.Value.Name] = true
						}
					}
				}
				// The server authenticates; without security requirements here, openapi3filter
				// neither re-checks them nor reads the body to do so.
				noAuth := *op
				noAuth.Security = &openapi3.SecurityRequirements{}
				v.ops[method+" "+d.Prefix+echoPath(p)] = &operation{
					route:   &routers.Route{Spec: doc, Path: p, PathItem: item, Method: method, Operation: &noAuth},
					queries: queries,
				}
			}
		}
	}
	return v, nil
}

// echoPath turns /a/{b} into echo's /a/:b.
func echoPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = ":" + s[1:len(s)-1]
		}
	}
	return strings.Join(segs, "/")
}

var options = &openapi3filter.Options{
	AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc, // the server's middleware authenticates
	SkipSettingDefaults: true,                                  // handlers see the body as sent
}

// formOptions leave a non-JSON body to the handler.
var formOptions = &openapi3filter.Options{
	AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
	SkipSettingDefaults: true,
	ExcludeRequestBody:  true,
}

// Middleware returns the validating middleware. Install it after authentication, so that
// an unauthenticated request learns nothing about the spec.
func (v *Validator) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			op, ok := v.ops[req.Method+" "+c.Path()]
			if !ok {
				return next(c)
			}
			if req.URL.RawQuery != "" {
				for k := range c.QueryParams() {
					if !op.queries[k] {
						return problem.BadRequest("unknown query parameter %q", k)
					}
				}
			}
			opts := options
			if op.route.Operation.RequestBody != nil {
				isJSON, err := v.body(c, op.route.Operation)
				if err != nil {
					return err
				}
				if !isJSON {
					opts = formOptions
				}
			}
			params := map[string]string{}
			for i, n := range c.ParamNames() {
				params[n] = c.ParamValues()[i]
			}
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: op.route, Options: opts}
			if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
				return problem.BadRequest("%s", detail(err))
			}
			return next(c)
		}
	}
}

// body reads, checks and normalises the request body and puts it back for the next reader.
// It reports whether the body is JSON: other media types (the OAuth 2.0 token form) are
// left to the handler, whose protocol has its own error format (RFC 6749 §5.2).
func (v *Validator) body(c echo.Context, op *openapi3.Operation) (bool, error) {
	req := c.Request()
	b, err := io.ReadAll(req.Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) { // the body limit
			return false, problem.New(he.Code, "request body is too large")
		}
		return false, problem.BadRequest("read body: %v", err)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.ContentLength = int64(len(b))
	ct := req.Header.Get(echo.HeaderContentType)
	mt := echo.MIMEApplicationJSON
	if ct != "" {
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return false, problem.New(http.StatusUnsupportedMediaType, "Content-Type %q: want application/json", ct)
		}
	}
	rb := op.RequestBody.Value
	isJSON := mt == echo.MIMEApplicationJSON || strings.HasSuffix(mt, "+json")
	switch {
	case rb.Content[mt] != nil:
		if ct == "" {
			req.Header.Set(echo.HeaderContentType, mt)
		}
	case isJSON && rb.Content[echo.MIMEApplicationJSON] != nil:
		// Any JSON flavour the operation does not name is read as plain JSON.
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	default:
		return false, problem.New(http.StatusUnsupportedMediaType, "Content-Type %q: want %s", ct, strings.Join(slices.Sorted(maps.Keys(rb.Content)), " or "))
	}
	if !isJSON {
		return false, nil
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if rb.Required {
			return true, problem.BadRequest("request body is required")
		}
		return true, nil
	}
	if !json.Valid(b) {
		return true, problem.BadRequest("request body is not valid JSON")
	}
	if v.normalize != nil {
		if b, err = v.normalize(op.OperationID, b); err != nil {
			return true, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.ContentLength = int64(len(b))
	}
	return true, nil
}

// detail renders a validation failure for a client: the parameter or the body field (by
// JSON pointer) and the reason, without the schema dump kin-openapi appends.
func detail(err error) string {
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return err.Error()
	}
	var se *openapi3.SchemaError
	reason := re.Reason
	if errors.As(re.Err, &se) {
		reason = se.Reason
		p := "/" + strings.Join(se.JSONPointer(), "/")
		switch {
		case se.SchemaField == "required":
			reason = p + " is required"
		case p != "/":
			reason = p + ": " + reason
		}
	} else if re.Err != nil {
		if reason != "" {
			reason += ": "
		}
		reason += re.Err.Error()
	}
	switch {
	case re.Parameter != nil:
		return fmt.Sprintf("%s parameter %q: %s", re.Parameter.In, re.Parameter.Name, reason)
	case re.RequestBody != nil:
		return "request body: " + reason
	}
	return reason
}

// QueryParams returns the query parameters the operation of an echo route (method and echo
// path, e.g. "GET", "/mepm/v1/feeds/dns_rules") accepts, sorted, and whether the documents
// describe the route at all.
func (v *Validator) QueryParams(method, echoPath string) ([]string, bool) {
	op, ok := v.ops[method+" "+echoPath]
	if !ok {
		return nil, false
	}
	return slices.Sorted(maps.Keys(op.queries)), true
}

// CheckSchema validates a JSON document against the component schema of that name (of the
// first document that has one), as the middleware validates a request body. It serves
// checks of documents that do not arrive as a request body (a rule inside an app package,
// fuzz tests of the domain). The error names the field by JSON pointer.
func (v *Validator) CheckSchema(schema string, body []byte) error {
	for _, doc := range v.docs {
		if doc.Components == nil {
			continue
		}
		ref := doc.Components.Schemas[schema]
		if ref == nil || ref.Value == nil {
			continue
		}
		var x any
		if err := json.Unmarshal(body, &x); err != nil {
			return fmt.Errorf("%s: not JSON: %w", schema, err)
		}
		if err := ref.Value.VisitJSON(x); err != nil {
			return fmt.Errorf("%s: %s", schema, detail(&openapi3filter.RequestError{Err: err}))
		}
		return nil
	}
	return fmt.Errorf("no schema %q", schema)
}
