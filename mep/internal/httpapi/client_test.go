package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// TestGeneratedClients drives the handler with the generated Mm5 and Mp1 clients, so the
// clients' parameter and body encodings (exploded array queries, form token requests, the
// If-Match header) are checked against the server.
func TestGeneratedClients(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	ctx := t.Context()
	bearer := func(tok string) mp1api.RequestEditorFn {
		return func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+tok)
			return nil
		}
	}

	mm5, err := mm5api.NewClientWithResponses(srv.URL+"/mepm/v1", mm5api.WithRequestEditorFn(mm5api.RequestEditorFn(bearer(opToken))))
	require.NoError(t, err)
	put, err := mm5.PutAppInstanceWithResponse(ctx, "app1", mm5api.AppInstance{AppName: "a", AppProvider: "p", AppDId: "d",
		AppServiceProduced: &[]mm5api.ServiceDescriptor{{SerName: "a", Version: "1"}, {SerName: "b", Version: "1"}, {SerName: "c", Version: "1"}}})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, put.StatusCode(), "got %d; want 201: %s", put.StatusCode(), put.Body)
	cred := put.JSON201.Credentials

	anon, err := mp1api.NewClientWithResponses(srv.URL)
	require.NoError(t, err)
	tr, err := anon.IssueTokenWithFormdataBodyWithResponse(ctx, mp1api.TokenRequest{GrantType: "client_credentials",
		ClientId: &cred.ClientId, ClientSecret: &cred.ClientSecret})
	require.NoError(t, err)
	require.NotNil(t, tr.JSON200, "token: %d %s", tr.StatusCode(), tr.Body)
	mp1, err := mp1api.NewClientWithResponses(srv.URL, mp1api.WithRequestEditorFn(bearer(tr.JSON200.AccessToken)))
	require.NoError(t, err)

	var ids []string
	for _, name := range []string{"a", "b", "c"} {
		tid := "rest-http"
		r, err := mp1.AppServicesPOSTWithResponse(ctx, "app1", mp1api.ServiceInfoPost{SerName: name, Version: "1",
			State: mp1api.ServiceStateACTIVE, Serializer: mp1api.JSON, TransportId: &tid})
		require.NoError(t, err)
		require.NotNil(t, r.JSON201, "register: %d %s", r.StatusCode(), r.Body)
		ids = append(ids, *r.JSON201.SerInstanceId)
	}
	got, err := mp1.ServicesGETWithResponse(ctx, &mp1api.ServicesGETParams{SerName: &[]string{"a", "c"}})
	require.NoError(t, err)
	require.NotNil(t, got.JSON200, "discover: %d %s", got.StatusCode(), got.Body)
	require.ElementsMatch(t, []string{"a", "c"}, serNames(*got.JSON200))

	one, err := mp1.AppServiceGETWithResponse(ctx, "app1", ids[1])
	require.NoError(t, err)
	etag := one.HTTPResponse.Header.Get("ETag")
	info := *one.JSON200
	info.Version = "2"
	stale := `"nope"`
	r, err := mp1.AppServicePUTWithResponse(ctx, "app1", ids[1], &mp1api.AppServicePUTParams{IfMatch: &stale}, info)
	require.NoError(t, err)
	require.Equal(t, http.StatusPreconditionFailed, r.StatusCode())
	require.NotNil(t, r.ApplicationproblemJSON412, "412 body is not a ProblemDetails")
	r, err = mp1.AppServicePUTWithResponse(ctx, "app1", ids[1], &mp1api.AppServicePUTParams{IfMatch: &etag}, info)
	require.NoError(t, err)
	require.NotNil(t, r.JSON200, "put: %d %s", r.StatusCode(), r.Body)
	require.Equal(t, "2", r.JSON200.Version)
}
