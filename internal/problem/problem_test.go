package problem

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
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
		{name: "unknown error hides its text", err: errors.New("db password wrong"), wantStatus: 500, wantDetail: "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, detail := Classify(tc.err, mapper)
			assert.Equal(t, tc.wantStatus, status)
			assert.Equal(t, tc.wantDetail, detail)
		})
	}
}

func TestErrorUnwraps(t *testing.T) {
	e := &Error{Status: 409, Detail: "busy", Err: errGone}
	assert.ErrorIs(t, e, errGone)
	assert.Equal(t, "busy: gone", e.Error())
	assert.Equal(t, "busy", (&Error{Status: 409, Detail: "busy"}).Error())
}
