package problem

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
		{name: "problem error", err: BadRequest("field %s", "x"), wantStatus: 400, wantDetail: "field x"},
		{name: "wrapped problem error", err: fmt.Errorf("ctx: %w", Forbidden("no")), wantStatus: 403, wantDetail: "no"},
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
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/things/7", nil))

	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, ContentType, rec.Header().Get("Content-Type"))
	var d Details
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &d))
	assert.Equal(t, Details{Title: "Not Found", Status: 404, Detail: "no such thing", Instance: "/things/7"}, d)
}

func TestErrorUnwraps(t *testing.T) {
	e := &Error{Status: 409, Detail: "busy", Err: errGone}
	assert.ErrorIs(t, e, errGone)
	assert.Equal(t, "busy: gone", e.Error())
	assert.Equal(t, "busy", (&Error{Status: 409, Detail: "busy"}).Error())
}
