package apispec_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/apispec"
	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/internal/problem/echoproblem"
)

// common.yaml holds a schema that main.yaml refers to, as mm5.yaml refers to mp1.yaml.
const common = `
openapi: 3.0.3
info: {title: common, version: "1"}
paths: {}
components:
  schemas:
    Thing:
      type: object
      required: [name, kind]
      properties:
        name: {type: string}
        kind: {type: string, enum: [A, B]}
        size: {type: integer, minimum: 0, maximum: 10}
        tags: {type: array, items: {type: string}}
`

const main = `
openapi: 3.0.3
info: {title: main, version: "1"}
paths:
  /things/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
    put:
      operationId: PutThing
      parameters:
        - {name: dry_run, in: query, schema: {type: boolean}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: 'common.yaml#/components/schemas/Thing'}
      responses:
        '200': {description: ok}
    get:
      operationId: GetThing
      parameters:
        - {name: level, in: query, schema: {type: string, enum: [low, high]}}
      responses:
        '200': {description: ok}
  /token:
    post:
      operationId: Token
      requestBody:
        required: true
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [grant_type]
              properties:
                grant_type: {type: string}
      responses:
        '200': {description: ok}
`

func newServer(t *testing.T) *echo.Echo {
	t.Helper()
	v, err := apispec.New(apispec.Config{
		Docs: []apispec.Doc{{Name: "common.yaml", Data: []byte(common)}, {Name: "main.yaml", Data: []byte(main), Prefix: "/api/v1"}},
		Normalize: func(op string, b []byte) ([]byte, error) {
			if op != "PutThing" {
				return b, nil
			}
			// Accept "tags" as a single string, as old clients send it.
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, problem.BadRequest("body is not a JSON object")
			}
			t, ok := m["tags"]
			if !ok || len(t) == 0 || t[0] != '"' {
				return b, nil
			}
			m["tags"] = append(append([]byte{'['}, t...), ']')
			return json.Marshal(m)
		},
	})
	require.NoError(t, err)
	e := echo.New()
	e.HTTPErrorHandler = echoproblem.Handler(slog.New(slog.DiscardHandler), nil)
	e.Use(middleware.BodyLimit("64B"), v.Middleware())
	echoBody := func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, "text/plain", b)
	}
	e.PUT("/api/v1/things/:id", echoBody)
	e.GET("/api/v1/things/:id", echoBody)
	e.POST("/api/v1/token", echoBody)
	e.GET("/healthz", echoBody)
	return e
}

func TestMiddleware(t *testing.T) {
	e := newServer(t)
	tests := []struct {
		name, method, target, ct, body string
		chunked                        bool // no Content-Length: the limit hits while reading
		status                         int
		detail, echoed                 string
	}{
		{"valid", "PUT", "/api/v1/things/x", "application/json", `{"name":"n","kind":"A"}`, false, 200, "", `{"name":"n","kind":"A"}`},
		{"no content type is JSON", "PUT", "/api/v1/things/x", "", `{"name":"n","kind":"B"}`, false, 200, "", ""},
		{"JSON flavour", "PUT", "/api/v1/things/x", "application/merge-patch+json", `{"name":"n","kind":"B"}`, false, 200, "", ""},
		{"known query", "PUT", "/api/v1/things/x?dry_run=true", "application/json", `{"name":"n","kind":"A"}`, false, 200, "", ""},
		{"normalised", "PUT", "/api/v1/things/x", "application/json", `{"name":"n","kind":"A","tags":"t"}`, false, 200, "", `{"kind":"A","name":"n","tags":["t"]}`},
		{"unknown query", "PUT", "/api/v1/things/x?dryrun=1", "application/json", `{"name":"n","kind":"A"}`, false, 400, `unknown query parameter "dryrun"`, ""},
		{"bad query type", "PUT", "/api/v1/things/x?dry_run=maybe", "application/json", `{"name":"n","kind":"A"}`, false, 400, `query parameter "dry_run"`, ""},
		{"bad query enum", "GET", "/api/v1/things/x?level=mid", "", "", false, 400, `query parameter "level"`, ""},
		{"missing field", "PUT", "/api/v1/things/x", "application/json", `{"name":"n"}`, false, 400, "request body: /kind is required", ""},
		{"bad enum", "PUT", "/api/v1/things/x", "application/json", `{"name":"n","kind":"C"}`, false, 400, "request body: /kind: value is not one of the allowed values", ""},
		{"out of range", "PUT", "/api/v1/things/x", "application/json", `{"name":"n","kind":"A","size":11}`, false, 400, "request body: /size:", ""},
		{"wrong type", "PUT", "/api/v1/things/x", "application/json", `{"name":1,"kind":"A"}`, false, 400, "request body: /name:", ""},
		{"not JSON", "PUT", "/api/v1/things/x", "application/json", `{"name":`, false, 400, "request body is not valid JSON", ""},
		{"empty body", "PUT", "/api/v1/things/x", "application/json", ``, false, 400, "request body is required", ""},
		{"other media type", "PUT", "/api/v1/things/x", "text/plain", `x`, false, 415, `Content-Type "text/plain"`, ""},
		{"too large", "PUT", "/api/v1/things/x", "application/json", `{"name":"` + string(bytes.Repeat([]byte("x"), 100)) + `","kind":"A"}`, false, 413, "Too Large", ""},
		{"too large, chunked", "PUT", "/api/v1/things/x", "application/json", `{"name":"` + string(bytes.Repeat([]byte("x"), 100)) + `","kind":"A"}`, true, 413, "request body is too large", ""},
		{"form left to the handler", "POST", "/api/v1/token", "application/x-www-form-urlencoded", `client_id=a`, false, 200, "", "client_id=a"},
		{"route outside the spec", "GET", "/healthz?anything=1", "", "", false, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, bytes.NewBufferString(tt.body))
			if tt.chunked {
				req.ContentLength = -1
			}
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, "body %s", rec.Body.String())
			if tt.status >= 400 {
				var p problem.Details
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), rec.Body.String())
				require.Contains(t, p.Detail, tt.detail)
				return
			}
			if tt.echoed != "" {
				require.Equal(t, tt.echoed, rec.Body.String(), "body the handler read")
			}
		})
	}
}

func TestQueryParams(t *testing.T) {
	v, err := apispec.New(apispec.Config{Docs: []apispec.Doc{{Name: "common.yaml", Data: []byte(common)}, {Name: "main.yaml", Data: []byte(main), Prefix: "/api/v1"}}})
	require.NoError(t, err)
	got, ok := v.QueryParams("PUT", "/api/v1/things/:id")
	require.True(t, ok)
	require.Equal(t, []string{"dry_run"}, got)
	_, ok = v.QueryParams("DELETE", "/api/v1/things/:id")
	require.False(t, ok)
}

func TestNewRejectsBrokenRefs(t *testing.T) {
	_, err := apispec.New(apispec.Config{Docs: []apispec.Doc{{Name: "main.yaml", Data: []byte(main)}}})
	require.Error(t, err, "common.yaml is missing")
}

func TestCheckSchema(t *testing.T) {
	v, err := apispec.New(apispec.Config{Docs: []apispec.Doc{{Name: "common.yaml", Data: []byte(common)}, {Name: "main.yaml", Data: []byte(main), Prefix: "/api/v1"}}})
	require.NoError(t, err)
	tests := []struct {
		name, schema, body, err string
	}{
		{"valid", "Thing", `{"name":"n","kind":"A"}`, ""},
		{"missing", "Thing", `{"name":"n"}`, "Thing: /kind is required"},
		{"enum", "Thing", `{"name":"n","kind":"Z"}`, "Thing: /kind: value is not one of the allowed values"},
		{"not JSON", "Thing", `{`, "not JSON"},
		{"unknown schema", "Nothing", `{}`, `no schema "Nothing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.CheckSchema(tt.schema, []byte(tt.body))
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
}

// MaxBodyBytes bounds JSON bodies without a server-wide limit; a body of another declared
// media type is not read here at all (a package upload may be far larger than any JSON).
func TestMaxBodyBytesAndUnreadBodies(t *testing.T) {
	v, err := apispec.New(apispec.Config{MaxBodyBytes: 64,
		Docs: []apispec.Doc{{Name: "common.yaml", Data: []byte(common)}, {Name: "main.yaml", Data: []byte(main), Prefix: "/api/v1"}}})
	require.NoError(t, err)
	e := echo.New()
	e.HTTPErrorHandler = echoproblem.Handler(slog.New(slog.DiscardHandler), nil)
	e.Use(v.Middleware())
	var handlerRead int64
	h := func(c echo.Context) error {
		n, err := io.Copy(io.Discard, c.Request().Body)
		handlerRead = n
		if err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	}
	e.PUT("/api/v1/things/:id", h)
	e.POST("/api/v1/token", h)
	for _, tc := range []struct {
		name, target, ct string
		body             []byte
		chunked          bool
		status           int
		read             int64
	}{
		{"JSON within the bound", "/api/v1/things/x", "application/json", []byte(`{"name":"n","kind":"A"}`), false, 200, 23},
		{"JSON past the bound", "/api/v1/things/x", "application/json", []byte(`{"name":"` + string(bytes.Repeat([]byte("x"), 100)) + `","kind":"A"}`), false, 413, 0},
		{"JSON past the bound, chunked", "/api/v1/things/x", "application/json", []byte(`{"name":"` + string(bytes.Repeat([]byte("x"), 100)) + `","kind":"A"}`), true, 413, 0},
		{"a large form is the handler's", "/api/v1/token", "application/x-www-form-urlencoded", bytes.Repeat([]byte("a"), 1<<20), true, 200, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			handlerRead = 0
			req := httptest.NewRequest(http.MethodPut, tc.target, bytes.NewReader(tc.body))
			if tc.target == "/api/v1/token" {
				req.Method = http.MethodPost
			}
			if tc.chunked {
				req.ContentLength = -1
			}
			req.Header.Set("Content-Type", tc.ct)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			require.Equal(t, tc.read, handlerRead, "bytes the handler read")
		})
	}
}

// MaxListItems bounds every array of a JSON body, at any depth, and the 400 names it.
func TestMaxListItems(t *testing.T) {
	const nested = `
openapi: 3.0.3
info: {title: nested, version: "1"}
paths:
  /docs:
    post:
      operationId: PostDoc
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, additionalProperties: true}
      responses:
        '200': {description: ok}
`
	v, err := apispec.New(apispec.Config{MaxListItems: 3, Docs: []apispec.Doc{{Name: "nested.yaml", Data: []byte(nested)}}})
	require.NoError(t, err)
	e := echo.New()
	e.HTTPErrorHandler = echoproblem.Handler(slog.New(slog.DiscardHandler), nil)
	e.Use(v.Middleware())
	e.POST("/docs", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	for _, tc := range []struct {
		name, body string
		status     int
		pointer    string
	}{
		{"lists at the bound", `{"a":[1,2,3],"b":{"c":[[1,2,3],[4]]}}`, 200, ""},
		{"top-level member past the bound", `{"a":[1,2,3,4]}`, 400, "/a"},
		{"nested list past the bound", `{"a":[1],"b":{"c":[[1],[1,2,{"x":"]"},"[",5]]}}`, 400, "/b/c/1"},
		{"list of objects past the bound", `{"appServiceRequired":[{},{},{},{}]}`, 400, "/appServiceRequired"},
		{"keys named like pointers are escaped", `{"a/b":[1,2,3,4]}`, 400, "/a~1b"},
		{"brackets inside strings are not lists", `{"s":"[1,2,3,4,5]"}`, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/docs", bytes.NewReader([]byte(tc.body)))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.pointer != "" {
				var p problem.Details
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
				require.Equal(t, "request body: "+tc.pointer+" has more than 3 items", p.Detail)
			}
		})
	}
}
