package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/mm5api"
)

// GET of an app instance with whileState is a long poll: held while the state is that one,
// answered at once when it changes or the instance goes, or after the timeout unchanged.
func TestGetAppInstanceWhileState(t *testing.T) {
	e := newEnv(t)
	tok := e.app("app1")
	path := "/mepm/v1/app_instances/app1"
	state := func(rec *httptest.ResponseRecorder) mm5api.AppInstanceState {
		t.Helper()
		expect(t, rec, http.StatusOK)
		return decodeJSON[mm5api.AppInstanceRecord](t, rec).State
	}
	held := func(query string) (chan *httptest.ResponseRecorder, time.Time) {
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() { done <- e.do(http.MethodGet, path+query, opToken, nil) }()
		// Give the request a moment to be held; an earlier change answers at once too.
		time.Sleep(100 * time.Millisecond)
		return done, time.Now()
	}

	// Not in the state waited on: at once.
	start := time.Now()
	require.Equal(t, mm5api.INSTANTIATED, state(e.do(http.MethodGet, path+"?whileState=READY&timeout=60", opToken, nil)))
	require.Less(t, time.Since(start), 5*time.Second)

	// Unchanged: the instance comes back after the timeout.
	start = time.Now()
	require.Equal(t, mm5api.INSTANTIATED, state(e.do(http.MethodGet, path+"?whileState=INSTANTIATED&timeout=1", opToken, nil)))
	require.GreaterOrEqual(t, time.Since(start), time.Second, "returned before the timeout")

	// Held until the app confirms ready, then answered at once.
	done, changed := held("?whileState=INSTANTIATED&timeout=60")
	expect(t, e.do(http.MethodPost, supBase+"app1/confirm_ready", tok, map[string]any{"indication": "READY"}), http.StatusNoContent)
	select {
	case rec := <-done:
		require.Equal(t, mm5api.READY, state(rec))
		require.Less(t, time.Since(changed), 5*time.Second)
	case <-time.After(30 * time.Second):
		t.Fatal("the held request did not return after confirm_ready")
	}

	// Held while terminating; 404 once the instance is gone.
	termSubscribed(t, e, "app1")
	expect(t, e.do(http.MethodDelete, path+"?graceful_timeout=60", opToken, nil), http.StatusAccepted)
	done, _ = held("?whileState=TERMINATING&timeout=60")
	expect(t, e.do(http.MethodPost, supBase+"app1/confirm_termination", tok, map[string]any{"operationAction": "TERMINATING"}), http.StatusNoContent)
	select {
	case rec := <-done:
		expect(t, rec, http.StatusNotFound)
	case <-time.After(30 * time.Second):
		t.Fatal("the held request did not return after the termination")
	}

	expect(t, e.do(http.MethodGet, path+"?whileState=SLEEPING", opToken, nil), http.StatusBadRequest)
	expect(t, e.do(http.MethodGet, "/mepm/v1/app_instances/app1?whileState=READY&timeout=61", opToken, nil), http.StatusBadRequest)
}
