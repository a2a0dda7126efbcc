//go:build integration

package httpapi_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/pkgm/pkgmtest"
)

func TestPackageLifecycle(t *testing.T) {
	e := newEnv(t, "")
	content := pkgmtest.Package("appd-1", "app1")
	r := e.do("POST", "/app_pkgm/v1/app_packages", map[string]any{"appPkgName": "p", "appPkgVersion": "1",
		"appProvider": "acme", "userDefinedData": map[string]any{"team": "edge"},
		"checksum": map[string]string{"algorithm": "sha-256", "hash": strings.ToUpper(pkgmtest.SHA256(content))}})
	require.Equal(t, http.StatusCreated, r.status, "body %s", r.body)
	info := r.json(t)
	id := info["id"].(string)
	assert.Equal(t, e.root+"/app_pkgm/v1/app_packages/"+id, r.header.Get("Location"))
	assert.Equal(t, "CREATED", info["onboardingState"])
	assert.Equal(t, "DISABLED", info["operationalState"])
	assert.Equal(t, "NOT_IN_USE", info["usageState"])
	assert.Equal(t, map[string]any{"algorithm": "SHA-256", "hash": pkgmtest.SHA256(content)}, info["checksum"])
	assert.Equal(t, e.root+"/app_pkgm/v1/app_packages/"+id+"/appd", info["_links"].(map[string]any)["appD"].(map[string]any)["href"])

	// Reads before onboarding.
	problemOf(t, e.do("GET", "/app_pkgm/v1/app_packages/"+id+"/appd", nil), http.StatusConflict)
	problemOf(t, e.do("GET", "/app_pkgm/v1/app_packages/"+id+"/package_content", nil), http.StatusConflict)
	problemOf(t, e.do("PATCH", "/app_pkgm/v1/app_packages/"+id, `{"operationalState":"DISABLED"}`), http.StatusConflict)

	r = e.do("PUT", "/app_pkgm/v1/app_packages/"+id+"/package_content", content)
	require.Equal(t, http.StatusAccepted, r.status, "body %s", r.body)
	info = e.do("GET", "/app_pkgm/v1/app_packages/"+id, nil).json(t)
	assert.Equal(t, "ONBOARDED", info["onboardingState"])
	assert.Equal(t, "ENABLED", info["operationalState"])
	assert.Equal(t, "appd-1", info["appDId"])
	assert.Equal(t, "app1", info["appName"])
	assert.Equal(t, "edgemec", info["appProvider"], "the AppD's provider wins")
	assert.Equal(t, map[string]any{"team": "edge"}, info["userDefinedData"])

	// A second upload is refused.
	problemOf(t, e.do("PUT", "/app_pkgm/v1/app_packages/"+id+"/package_content", content), http.StatusConflict)

	// The AppD as YAML and as JSON, by id and by appDId.
	for _, base := range []string{"/app_pkgm/v1/app_packages/" + id, "/app_pkgm/v1/onboarded_app_packages/appd-1"} {
		y := e.do("GET", base+"/appd", nil, "Accept", "application/yaml")
		require.Equal(t, http.StatusOK, y.status, "body %s", y.body)
		assert.Equal(t, "application/yaml", y.header.Get("Content-Type"))
		assert.Contains(t, string(y.body), "appDId: appd-1")
		j := e.do("GET", base+"/appd", nil, "Accept", "application/json")
		require.Equal(t, http.StatusOK, j.status)
		assert.Equal(t, "appd-1", j.json(t)["appDId"])
		assert.Equal(t, "app1", e.do("GET", base+"/appd", nil).json(t)["appName"], "JSON by default")
		problemOf(t, e.do("GET", base+"/appd", nil, "Accept", "image/png"), http.StatusNotAcceptable)

		c := e.do("GET", base+"/package_content", nil)
		require.Equal(t, http.StatusOK, c.status)
		assert.Equal(t, content, c.body)
		assert.Equal(t, "application/zip", c.header.Get("Content-Type"))
		assert.Equal(t, "bytes", c.header.Get("Accept-Ranges"))
	}
	assert.Equal(t, id, e.do("GET", "/app_pkgm/v1/onboarded_app_packages/appd-1", nil).json(t)["id"])

	// Disable (with the V2.1.1 spelling), then delete.
	problemOf(t, e.do("DELETE", "/app_pkgm/v1/app_packages/"+id, nil), http.StatusConflict)
	r = e.do("PATCH", "/app_pkgm/v1/app_packages/"+id, `{"operationState":"DISABLED"}`)
	require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
	assert.Equal(t, map[string]any{"operationalState": "DISABLED"}, r.json(t))
	problemOf(t, e.do("PATCH", "/app_pkgm/v1/app_packages/"+id, `{"operationalState":"DISABLED"}`), http.StatusConflict)
	require.NoError(t, e.pk.SetUsage(t.Context(), id, true))
	assert.Contains(t, problemOf(t, e.do("DELETE", "/app_pkgm/v1/app_packages/"+id, nil), http.StatusConflict), "IN_USE")
	require.NoError(t, e.pk.SetUsage(t.Context(), id, false))
	r = e.do("DELETE", "/app_pkgm/v1/app_packages/"+id, nil)
	require.Equal(t, http.StatusNoContent, r.status, "body %s", r.body)
	problemOf(t, e.do("GET", "/app_pkgm/v1/app_packages/"+id, nil), http.StatusNotFound)
	problemOf(t, e.do("GET", "/app_pkgm/v1/onboarded_app_packages/appd-1", nil), http.StatusNotFound)
	problemOf(t, e.do("DELETE", "/app_pkgm/v1/app_packages/"+id, nil), http.StatusNotFound)
}

func TestUploadMultipart(t *testing.T) {
	e := newEnv(t, "")
	content := pkgmtest.Package("appd-mp", "mp")
	id := e.create(content, nil)
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	require.NoError(t, w.WriteField("note", "ignored"))
	f, err := w.CreateFormFile("file", "pkg.zip")
	require.NoError(t, err)
	_, _ = f.Write(content)
	require.NoError(t, w.Close())
	r := e.do("PUT", "/app_pkgm/v1/app_packages/"+id+"/package_content", buf.Bytes(), "Content-Type", w.FormDataContentType())
	require.Equal(t, http.StatusAccepted, r.status, "body %s", r.body)
	assert.Equal(t, "ONBOARDED", e.do("GET", "/app_pkgm/v1/app_packages/"+id, nil).json(t)["onboardingState"])
}

func TestUploadFailures(t *testing.T) {
	e := newEnv(t, "")
	good := pkgmtest.Package("appd-f", "f")
	for _, tc := range []struct {
		name     string
		checksum []byte // content the checksum is of
		upload   []byte
		ct       string
		status   int
		detail   string
		state    string
	}{
		{"checksum mismatch", good, append(append([]byte{}, good...), 0), "", 400, "checksum mismatch", "ERROR"},
		{"not a zip", []byte("hello"), []byte("hello"), "", 400, "invalid package", "ERROR"},
		{"no appd", pkgmtest.Zip("README", "x"), pkgmtest.Zip("README", "x"), "", 400, "AppD at the root or under Definitions/", "ERROR"},
		{"empty", []byte{}, []byte{}, "", 400, "empty", "ERROR"},
		{"too large", make([]byte, 9<<20), make([]byte, 9<<20), "", 413, "more than", "ERROR"},
		{"wrong media type", good, good, "text/plain", 415, "Content-Type", "CREATED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.create(tc.checksum, nil)
			var hdr []string
			if tc.ct != "" {
				hdr = []string{"Content-Type", tc.ct}
			}
			r := e.do("PUT", "/app_pkgm/v1/app_packages/"+id+"/package_content", tc.upload, hdr...)
			assert.Contains(t, problemOf(t, r, tc.status), tc.detail)
			info := e.do("GET", "/app_pkgm/v1/app_packages/"+id, nil).json(t)
			assert.Equal(t, tc.state, info["onboardingState"])
			if tc.state == "ERROR" {
				fd := info["onboardingFailureDetails"].(map[string]any)
				assert.Contains(t, fd["detail"], tc.detail)
				var chunks int
				require.NoError(t, e.st.Pool().QueryRow(t.Context(), "SELECT count(*) FROM app_package_chunks WHERE package_id = $1", id).Scan(&chunks))
				assert.Zero(t, chunks, "no content kept")
				// A failed package can be deleted (it is DISABLED).
				assert.Equal(t, http.StatusNoContent, e.do("DELETE", "/app_pkgm/v1/app_packages/"+id, nil).status)
			}
		})
	}
}

func TestDuplicateAppDID(t *testing.T) {
	e := newEnv(t, "")
	e.onboard("same", "a")
	content := pkgmtest.Package("same", "b")
	id := e.create(content, nil)
	r := e.do("PUT", "/app_pkgm/v1/app_packages/"+id+"/package_content", content)
	assert.Contains(t, problemOf(t, r, http.StatusConflict), "already onboarded")
	assert.Equal(t, "ERROR", e.do("GET", "/app_pkgm/v1/app_packages/"+id, nil).json(t)["onboardingState"])
}

func TestContentRange(t *testing.T) {
	e := newEnv(t, "")
	id := e.onboard("appd-r", "r")
	full := e.do("GET", "/app_pkgm/v1/app_packages/"+id+"/package_content", nil).body
	n := len(full)
	for _, tc := range []struct {
		name, rng string
		status    int
		want      []byte
		crange    string
	}{
		{"first bytes", "bytes=0-9", 206, full[:10], "bytes 0-9/" + itoa(n)},
		{"open end", "bytes=10-", 206, full[10:], "bytes 10-" + itoa(n-1) + "/" + itoa(n)},
		{"suffix", "bytes=-5", 206, full[n-5:], "bytes " + itoa(n-5) + "-" + itoa(n-1) + "/" + itoa(n)},
		{"end past size", "bytes=5-99999999", 206, full[5:], "bytes 5-" + itoa(n-1) + "/" + itoa(n)},
		{"unsatisfiable", "bytes=99999999-", 416, nil, "bytes */" + itoa(n)},
		{"several ranges: whole", "bytes=0-1,3-4", 200, full, ""},
		{"not bytes: whole", "items=0-1", 200, full, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/app_pkgm/v1/app_packages/"+id+"/package_content", nil, "Range", tc.rng)
			require.Equal(t, tc.status, r.status, "body %s", r.body)
			assert.Equal(t, tc.crange, r.header.Get("Content-Range"))
			if tc.want != nil {
				assert.Equal(t, tc.want, r.body)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestUploadByAppDID: PUT /onboarded_app_packages/{appDId}/package_content (MEC 010-2 V2.2.1)
// takes the same bodies as the upload by appPkgId and goes the same way: content is taken
// once, so the onboarded package with that appDId refuses it and stays as it was.
func TestUploadByAppDID(t *testing.T) {
	e := newEnv(t, "")
	id := e.onboard("appd-by", "by")
	original := e.do("GET", "/app_pkgm/v1/app_packages/"+id+"/package_content", nil).body
	other := pkgmtest.Package("appd-by", "other")
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	f, err := w.CreateFormFile("file", "pkg.zip")
	require.NoError(t, err)
	_, _ = f.Write(other)
	require.NoError(t, w.Close())
	var noFile bytes.Buffer
	w2 := multipart.NewWriter(&noFile)
	require.NoError(t, w2.WriteField("note", "no file"))
	require.NoError(t, w2.Close())
	for _, tc := range []struct {
		name   string
		appDID string
		body   []byte
		hdr    []string
		status int
		detail string
	}{
		{"onboarded: content taken once", "appd-by", other, nil, http.StatusConflict, "content is taken once, in CREATED"},
		{"onboarded, multipart", "appd-by", mp.Bytes(), []string{"Content-Type", w.FormDataContentType()}, http.StatusConflict, "content is taken once"},
		{"unknown appDId", "appd-none", other, nil, http.StatusNotFound, "appd-none"},
		{"multipart without file", "appd-by", noFile.Bytes(), []string{"Content-Type", w2.FormDataContentType()}, http.StatusBadRequest, `no part named "file"`},
		{"wrong media type", "appd-by", other, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType, "Content-Type"},
		{"viewer", "appd-by", other, []string{"Authorization", "Bearer " + viewer}, http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("PUT", "/app_pkgm/v1/onboarded_app_packages/"+tc.appDID+"/package_content", tc.body, tc.hdr...)
			assert.Contains(t, problemOf(t, r, tc.status), tc.detail)
			info := e.do("GET", "/app_pkgm/v1/app_packages/"+id, nil).json(t)
			assert.Equal(t, "ONBOARDED", info["onboardingState"], "a refused upload leaves the package as it was")
			assert.Equal(t, "ENABLED", info["operationalState"])
			assert.Equal(t, original, e.do("GET", "/app_pkgm/v1/onboarded_app_packages/appd-by/package_content", nil).body)
		})
	}
}
