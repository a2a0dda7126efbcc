package echoproblem

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/problem"
)

var errGone = errors.New("gone")

func mapper(err error) (int, string, bool) {
	if errors.Is(err, errGone) {
		return http.StatusNotFound, "no such thing", true
	}
	return 0, "", false
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus int
		wantDetail string
	}{
		{name: "problem error first", err: problem.BadRequest("field %s", "x"), wantStatus: 400, wantDetail: "field x"},
		{name: "mapped sentinel", err: fmt.Errorf("get: %w", errGone), wantStatus: 404, wantDetail: "no such thing"},
		{name: "echo error with message", err: echo.NewHTTPError(405, "use GET"), wantStatus: 405, wantDetail: "use GET"},
		{name: "echo error without message", err: &echo.HTTPError{Code: 404}, wantStatus: 404, wantDetail: "Not Found"},
		{name: "unknown error hides its text", err: errors.New("db password wrong"), wantStatus: 500, wantDetail: "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, detail := Classify(tc.err, mapper)
			assert.Equal(t, tc.wantStatus, status)
			assert.Equal(t, tc.wantDetail, detail)
		})
	}
}

func TestHandlerWritesProblemDetails(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = Handler(slog.New(slog.DiscardHandler), mapper)
	e.GET("/things/:id", func(c echo.Context) error { return fmt.Errorf("lookup: %w", errGone) })
	for _, tc := range []struct {
		name   string
		path   string
		status int
		detail string
	}{
		{name: "mapped domain error", path: "/things/7", status: 404, detail: "no such thing"},
		{name: "echo route miss", path: "/nothing", status: 404, detail: "Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			assert.Equal(t, tc.status, rec.Code)
			assert.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"))
			var d problem.Details
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &d))
			assert.Equal(t, problem.Details{Title: http.StatusText(tc.status), Status: tc.status, Detail: tc.detail, Instance: tc.path}, d)
		})
	}
}
