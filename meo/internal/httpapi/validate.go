package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/labstack/echo/v4"

	"github.com/edgemec/edgemec/internal/problem"
)

// validator checks requests against the API specification: path and query parameters
// (types, enums, lengths; unknown query parameters get 400 as ETSI GS MEC 009 requires),
// and JSON bodies against their schemas. Binary bodies (package uploads) are not read here:
// they stream to the store.
type validator struct {
	router  routers.Router
	maxBody int64
}

func newValidator(ctx context.Context, spec []byte, maxBody int64) (*validator, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load api spec: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("api spec: %w", err)
	}
	doc.Servers = nil // paths in the spec are absolute
	// Authentication is the authenticate middleware's. Left in, kin-openapi's security check
	// would read every request body into memory (package uploads included) to hand it to an
	// authentication function.
	doc.Security = nil
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			op.Security = nil
		}
	}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("api spec router: %w", err)
	}
	return &validator{router: r, maxBody: maxBody}, nil
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func (v *validator) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if c.Path() == "" || public[c.Path()] {
			return next(c)
		}
		route, params, err := v.router.FindRoute(req)
		if err != nil {
			return next(c) // echo answers 404/405
		}
		allowed := map[string]bool{}
		for _, ps := range []openapi3.Parameters{route.PathItem.Parameters, route.Operation.Parameters} {
			for _, p := range ps {
				if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
					allowed[p.Value.Name] = true
				}
			}
		}
		for k := range req.URL.Query() {
			if !allowed[k] {
				return problem.BadRequest("unknown query parameter %q", k)
			}
		}
		ct := req.Header.Get(echo.HeaderContentType)
		hasBody := route.Operation.RequestBody != nil
		checkBody := hasBody && (ct == "" || isJSON(ct))
		if checkBody {
			if req.ContentLength > v.maxBody {
				return problem.New(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", v.maxBody)
			}
			body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, v.maxBody))
			if err != nil {
				var me *http.MaxBytesError
				if errors.As(err, &me) {
					return problem.New(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", v.maxBody)
				}
				return problem.BadRequest("read body: %v", err)
			}
			if len(bytes.TrimSpace(body)) == 0 {
				return problem.BadRequest("request body is required")
			}
			if ct == "" {
				req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
		} else if hasBody {
			if !knownMediaType(route.Operation.RequestBody.Value, ct) {
				return problem.New(http.StatusUnsupportedMediaType, "Content-Type %q is not accepted here", ct)
			}
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
				ExcludeRequestBody: !checkBody, SkipSettingDefaults: true}}
		if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
			return problem.BadRequest("%s", describe(err))
		}
		return next(c)
	}
}

func knownMediaType(rb *openapi3.RequestBody, ct string) bool {
	if rb == nil {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return rb.Content.Get(mt) != nil
}

// describe turns a validation error into a short detail naming the parameter or the body
// member (as a JSON pointer) and the reason, without echoing schemas or values.
func describe(err error) string {
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return "invalid request"
	}
	var se *openapi3.SchemaError
	reason := re.Reason
	ptr := ""
	if errors.As(re.Err, &se) {
		reason = se.Reason
		if p := se.JSONPointer(); len(p) > 0 {
			ptr = "/" + strings.Join(p, "/")
		}
	} else if re.Err != nil && reason == "" {
		reason = re.Err.Error()
	}
	switch {
	case re.Parameter != nil:
		return fmt.Sprintf("%s parameter %q: %s", re.Parameter.In, re.Parameter.Name, reason)
	case ptr != "":
		return fmt.Sprintf("request body %s: %s", ptr, reason)
	case reason != "":
		return "request body: " + reason
	}
	return "invalid request"
}
