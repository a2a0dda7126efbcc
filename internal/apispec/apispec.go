// Package apispec validates HTTP requests against the platform's OpenAPI specifications
// (api/openapi), so that what a spec says (required fields, types, enums, ranges, the query
// parameters of each route) is checked in one place for every server instead of by hand in
// each handler. It is an echo middleware built on kin-openapi's openapi3filter.
//
// Per request, in order:
//  1. Routes the spec does not describe (health, metrics, 404, 405) pass through untouched.
//  2. An unknown query parameter is a 400 (ETSI GS MEC 009 §6.15.3).
//  3. The Content-Type must be one the operation declares (415 otherwise); a missing one is
//     taken as application/json, and any +json type is read as JSON. A JSON body is read
//     under Config.MaxBodyBytes (and the server's own limit; 413 past either) and must parse
//     (400). Bodies of other media types (the OAuth 2.0 token form, package uploads) are not
//     read here: they are the handler's, which bounds them itself, and whose protocol may
//     have its own error format (RFC 6749 §5.2).
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
	"strconv"
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
	// MaxBodyBytes, when positive, bounds JSON request bodies (413 past it).
	MaxBodyBytes int64
	// MaxListItems, when positive, bounds every array of a JSON request body, at any depth
	// (400 naming the array past it): a server's work per list item must stay bounded per
	// request whatever the schema leaves open.
	MaxListItems int
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
	maxBody   int64
	maxList   int
}

// New loads and checks the documents.
func New(cfg Config) (*Validator, error) {
	files := map[string][]byte{}
	for _, d := range cfg.Docs {
		files[d.Name] = d.Data
	}
	v := &Validator{ops: map[string]*operation{}, normalize: cfg.Normalize, maxBody: cfg.MaxBodyBytes, maxList: cfg.MaxListItems}
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
	ct := req.Header.Get(echo.HeaderContentType)
	mt := echo.MIMEApplicationJSON
	if ct != "" {
		var err error
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
	if v.maxBody > 0 && req.ContentLength > v.maxBody {
		return false, problem.New(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", v.maxBody)
	}
	r := req.Body
	if v.maxBody > 0 {
		r = http.MaxBytesReader(c.Response(), req.Body, v.maxBody)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		var he *echo.HTTPError
		var me *http.MaxBytesError
		switch {
		case errors.As(err, &he): // the server's body limit
			return false, problem.New(he.Code, "request body is too large")
		case errors.As(err, &me):
			return false, problem.New(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", v.maxBody)
		}
		return false, problem.BadRequest("read body: %v", err)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.ContentLength = int64(len(b))
	if len(bytes.TrimSpace(b)) == 0 {
		if rb.Required {
			return true, problem.BadRequest("request body is required")
		}
		return true, nil
	}
	if !json.Valid(b) {
		return true, problem.BadRequest("request body is not valid JSON")
	}
	if v.maxList > 0 {
		if p, ok := longList(b, v.maxList); !ok {
			return true, problem.BadRequest("request body: %s has more than %d items", p, v.maxList)
		}
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

// longList reports the JSON pointer of the first array of the valid JSON document b that
// has more than limit items, and false; or "", true when there is none.
func longList(b []byte, limit int) (string, bool) {
	type frame struct {
		array bool
		key   string // object: the member being read
		n     int    // array: items so far
	}
	var stack []frame
	pointer := func(frames []frame) string {
		if len(frames) == 0 {
			return "/"
		}
		var sb strings.Builder
		for _, f := range frames {
			sb.WriteByte('/')
			if f.array {
				sb.WriteString(strconv.Itoa(f.n - 1))
			} else {
				sb.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(f.key))
			}
		}
		return sb.String()
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	expectKey := false
	for {
		tok, err := d.Token()
		if err != nil {
			return "", true // io.EOF; b is valid JSON, so nothing else
		}
		if n := len(stack); n > 0 && stack[n-1].array {
			if dl, ok := tok.(json.Delim); !ok || dl != ']' {
				stack[n-1].n++
				if stack[n-1].n > limit {
					return pointer(stack[:n-1]), false
				}
			}
		} else if n > 0 && expectKey {
			if k, ok := tok.(string); ok {
				stack[n-1].key = k
				expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('['):
			stack = append(stack, frame{array: true})
		case json.Delim('{'):
			stack = append(stack, frame{})
			expectKey = true
			continue
		case json.Delim(']'), json.Delim('}'):
			stack = stack[:len(stack)-1]
		}
		expectKey = len(stack) > 0 && !stack[len(stack)-1].array
	}
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
