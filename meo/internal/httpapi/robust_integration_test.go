//go:build integration

package httpapi_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/httpapi"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/pkgm/pkgmtest"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// A client that goes away mid-upload leaves the package in ERROR with no content.
func TestUploadInterrupted(t *testing.T) {
	e := newEnv(t, "")
	content := pkgmtest.Package("appd-cut", "cut")
	id := e.create(content, nil)
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	require.NoError(t, err)
	fmt.Fprintf(conn, "PUT /app_pkgm/v1/app_packages/%s/package_content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/zip\r\nContent-Length: %d\r\n\r\n", id, operator, 4<<20)
	_, err = conn.Write(content[:len(content)/2])
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return e.do("GET", "/app_pkgm/v1/app_packages/"+id, nil).json(t)["onboardingState"] == "UPLOADING"
	}, 5*time.Second, 10*time.Millisecond)
	conn.Close()
	var info map[string]any
	require.Eventually(t, func() bool {
		info = e.do("GET", "/app_pkgm/v1/app_packages/"+id, nil).json(t)
		return info["onboardingState"] == "ERROR"
	}, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, info["onboardingFailureDetails"].(map[string]any)["detail"], "interrupted")
	var chunks int
	require.NoError(t, e.st.Pool().QueryRow(t.Context(), "SELECT count(*) FROM app_package_chunks WHERE package_id = $1", id).Scan(&chunks))
	assert.Zero(t, chunks)
}

// A package left UPLOADING or PROCESSING by a dead process is failed after the grace period.
func TestRecoverStale(t *testing.T) {
	e := newEnv(t, "", func(_ *httpapi.Config, pc *pkgm.Config) { pc.StaleAfter = 2 * time.Second })
	ids := map[string]string{}
	for _, state := range []string{store.Uploading, store.Processing, store.Created} {
		id := e.create([]byte(state), nil)
		_, err := e.st.UpdatePackage(t.Context(), id, func(p *store.Package) (store.Change, error) {
			p.OnboardingState = state
			return store.Change{}, nil
		})
		require.NoError(t, err)
		ids[state] = id
	}
	require.NoError(t, e.pk.Recover(t.Context()))
	assert.Equal(t, store.Uploading, e.do("GET", "/app_pkgm/v1/app_packages/"+ids[store.Uploading], nil).json(t)["onboardingState"], "not stale yet")
	time.Sleep(2100 * time.Millisecond) // StaleAfter: long enough that a loaded machine does not age the rows early
	require.NoError(t, e.pk.Recover(t.Context()))
	for state, want := range map[string]string{store.Uploading: "ERROR", store.Processing: "ERROR", store.Created: "CREATED"} {
		info := e.do("GET", "/app_pkgm/v1/app_packages/"+ids[state], nil).json(t)
		assert.Equal(t, want, info["onboardingState"], state)
	}
}

// Over a raw connection (no client library in between), an unknown id is a 404
// ProblemDetails.
func TestRawProblem(t *testing.T) {
	e := newEnv(t, "")
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "GET /app_pkgm/v1/app_packages/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", operator)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	assert.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json"))
}
