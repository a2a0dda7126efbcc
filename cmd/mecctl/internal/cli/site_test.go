package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/mep"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

const mepToken = "mep-operator-token"

// startMEP runs a real MEP in-process on a loopback port and returns its base URL.
func startMEP(t *testing.T) string {
	t.Helper()
	tel, err := obs.Setup(t.Context(), obs.Options{ServiceName: "mep", LogLevel: "error", Out: io.Discard})
	require.NoError(t, err)
	m, err := mep.New(t.Context(), mep.Config{HTTPAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), OperatorToken: mepToken}, tel)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool {
		r, err := http.Get(m.APIRoot() + "/readyz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	return m.APIRoot()
}

// tokenFile writes a token to a file of its own.
func tokenFile(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(p, []byte(token+"\n"), 0o600))
	return p
}

// actAsApp does over Mp1 what the app cache-1 would: takes a token with its credentials,
// registers its service and subscribes to service availability and to its termination.
func actAsApp(t *testing.T, root, id string) {
	t.Helper()
	ctx := t.Context()
	mm5, err := mm5api.NewClientWithResponses(root+"/mepm/v1", mm5api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+mepToken)
		return nil
	}))
	require.NoError(t, err)
	rec, err := mm5.GetAppInstanceWithResponse(ctx, id, nil)
	require.NoError(t, err)
	require.NotNil(t, rec.JSON200, "%s", rec.Body)
	cred := rec.JSON200.Credentials
	anon, err := mp1api.NewClientWithResponses(root)
	require.NoError(t, err)
	tr, err := anon.IssueTokenWithFormdataBodyWithResponse(ctx, mp1api.TokenRequest{GrantType: "client_credentials",
		ClientId: &cred.ClientId, ClientSecret: &cred.ClientSecret})
	require.NoError(t, err)
	require.NotNil(t, tr.JSON200, "%s", tr.Body)
	app, err := mp1api.NewClientWithResponses(root, mp1api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+tr.JSON200.AccessToken)
		return nil
	}))
	require.NoError(t, err)
	for _, c := range []struct {
		call func() (int, []byte, error)
		want int
	}{
		{func() (int, []byte, error) {
			r, err := app.AppServicesPOSTWithBodyWithResponse(ctx, id, "application/json", strings.NewReader(
				`{"serName":"cache-api","version":"1.0","state":"ACTIVE","serializer":"JSON","scopeOfLocality":"MEC_HOST",
				  "serCategory":{"href":"http://cat.test/cache","id":"cache","name":"Cache","version":"1"},
				  "transportInfo":{"id":"t1","name":"http","type":"REST_HTTP","protocol":"HTTP","version":"1.1",
				    "endpoint":{"uris":["http://10.0.0.1:8080/cache"]},"security":{}}}`))
			if err != nil {
				return 0, nil, err
			}
			return r.StatusCode(), r.Body, nil
		}, http.StatusCreated},
		{func() (int, []byte, error) {
			r, err := app.SerAvailSubscriptionsPOSTWithBodyWithResponse(ctx, id, "application/json", strings.NewReader(
				`{"subscriptionType":"SerAvailabilityNotificationSubscription","callbackReference":"http://cb.test/avail",
				  "filteringCriteria":{"serNames":["cache-api"]}}`))
			if err != nil {
				return 0, nil, err
			}
			return r.StatusCode(), r.Body, nil
		}, http.StatusCreated},
		{func() (int, []byte, error) {
			r, err := app.AppTermSubscriptionsPOSTWithBodyWithResponse(ctx, id, "application/json", strings.NewReader(
				`{"subscriptionType":"AppTerminationNotificationSubscription","callbackReference":"http://cb.test/term","appInstanceId":"`+id+`"}`))
			if err != nil {
				return 0, nil, err
			}
			return r.StatusCode(), r.Body, nil
		}, http.StatusCreated},
	} {
		st, body, err := c.call()
		require.NoError(t, err)
		require.Equal(t, c.want, st, "%s", body)
	}
}

// siteEnv starts a MEP, puts it in a context as site edge-1 and provisions two apps with
// mecctl, the second claiming the first one's DNS name.
func siteEnv(t *testing.T) (env, string) {
	t.Helper()
	root := startMEP(t)
	e := newEnv(t)
	ok(t, e, "", "config", "set-context", "lab", "--site", "edge-1="+root, "--site-token-file", "edge-1="+tokenFile(t, mepToken))
	ok(t, e, "", "site", "provision", "edge-1", "cache-1", "-f", "testdata/cache.yaml")
	time.Sleep(5 * time.Millisecond) // distinct creation times decide the DNS conflict
	ok(t, e, "", "site", "provision", "edge-1", "cache-2", "-f", "testdata/cache2.json")
	actAsApp(t, root, "cache-1")
	return e, root
}

func TestSiteViewsGolden(t *testing.T) {
	e, _ := siteEnv(t)
	n := &normalizer{}
	goldenFormats(t, e, n, "site-apps", "site", "apps", "edge-1")
	goldenFormats(t, e, n, "site-apps-get", "site", "apps", "edge-1", "cache-1")
	goldenFormats(t, e, n, "site-services", "site", "services", "edge-1")
	goldenFormats(t, e, n, "site-subscriptions", "site", "subscriptions", "edge-1")
	goldenFormats(t, e, n, "site-rules", "site", "rules", "edge-1")
	goldenFormats(t, e, n, "site-dns", "site", "dns", "edge-1")
	goldenFormats(t, e, n, "site-conflicts", "site", "conflicts", "edge-1")
}

func TestSiteSecretsAndChanges(t *testing.T) {
	e, root := siteEnv(t)

	t.Run("secrets hidden", func(t *testing.T) {
		for _, f := range []string{"json", "yaml"} {
			out := ok(t, e, "", "site", "apps", "edge-1", "cache-1", "-o", f)
			assert.Contains(t, out, hidden, f)
		}
		table := ok(t, e, "", "site", "apps", "edge-1", "-o", "wide")
		assert.NotContains(t, strings.ToLower(table), "secret")
	})
	t.Run("show secrets", func(t *testing.T) {
		out := ok(t, e, "", "--show-secrets", "site", "apps", "edge-1", "cache-1", "-o", "json")
		assert.NotContains(t, out, hidden)
		assert.Regexp(t, `"clientSecret": "[^"]{16,}"`, out)
	})
	t.Run("get one is an object, several a list", func(t *testing.T) {
		assert.True(t, strings.HasPrefix(ok(t, e, "", "site", "apps", "edge-1", "cache-1", "-o", "json"), "{"))
		assert.True(t, strings.HasPrefix(ok(t, e, "", "site", "apps", "edge-1", "cache-1", "cache-2", "-o", "json"), "["))
	})
	t.Run("not found", func(t *testing.T) {
		r := run(t, e, "", "site", "apps", "edge-1", "ghost")
		assert.Equal(t, ExitNotFound, r.code)
		assert.Contains(t, r.err, "get app instance ghost failed: 404 Not Found")
		assert.Contains(t, r.err, `detail:   app instance "ghost" is not known`)
		assert.Empty(t, r.out)
	})
	t.Run("refused with the field", func(t *testing.T) {
		r := run(t, e, `{"appName":"x","appDId":"d"}`, "site", "provision", "edge-1", "bad", "-f", "-")
		assert.Equal(t, ExitRefused, r.code, r.err)
		assert.Contains(t, r.err, "provision app instance bad failed: 400 Bad Request")
		assert.Contains(t, r.err, "field:    /appProvider")
	})
	t.Run("wrong token", func(t *testing.T) {
		r := run(t, e, "", "--token", "not-the-token", "site", "apps", "edge-1")
		assert.Equal(t, ExitRefused, r.code)
		assert.Contains(t, r.err, "401 Unauthorized")
		assert.Contains(t, r.err, "hint:     check the token")
	})
	t.Run("mep flag without context", func(t *testing.T) {
		e2 := newEnv(t)
		e2["MECCTL_TOKEN"] = mepToken
		out := ok(t, e2, "", "site", "apps", "anywhere", "--mep", strings.TrimPrefix(root, "http://"), "-o", "name")
		assert.Equal(t, "appinstance/cache-1\nappinstance/cache-2\n", out)
	})
	t.Run("terminate", func(t *testing.T) {
		out := ok(t, e, "", "site", "terminate", "edge-1", "cache-2", "--grace", "0")
		assert.Regexp(t, `(?m)^appinstance/cache-2\s+terminating$`, out)
		out = ok(t, e, "", "site", "apps", "edge-1", "-o", "name")
		assert.Equal(t, "appinstance/cache-1\n", out)
	})
}
