package af_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/free5gc/openapi/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/af"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/test/nef"
)

const (
	afID         = "edgemec-meo"
	clientID     = "meo"
	clientSecret = "s3cret-for-tests"
)

func strs(s ...string) *[]string { return &s }

// appRules are the traffic rules of the sample app: TCP 8080 to its service address from
// the UE pool, and a DROP rule that must not be steered.
func appRules() []mp1api.TrafficRule {
	return []mp1api.TrafficRule{
		{
			TrafficRuleId: "drop-ssh", Action: mp1api.DROP, FilterType: mp1api.FLOW, Priority: 1, State: mp1api.RuleStateACTIVE,
			TrafficFilter: []mp1api.TrafficFilter{{DstPort: strs("22"), Protocol: strs("TCP")}},
		},
		{
			TrafficRuleId: "to-app", Action: mp1api.FORWARDDECAPSULATED, FilterType: mp1api.FLOW, Priority: 5, State: mp1api.RuleStateACTIVE,
			TrafficFilter: []mp1api.TrafficFilter{{
				SrcAddress: strs("10.60.0.0/16"), DstAddress: strs("192.0.2.10"), DstPort: strs("8080"), Protocol: strs("TCP"),
			}},
		},
	}
}

func site(apiRoot string, auth func(*af.NEFConfig)) af.SiteConfig {
	s := af.SiteConfig{
		SiteID: "site-a",
		DNAIs:  []string{"dnai-edge-a"},
		DNN:    "internet",
		SNSSAI: af.SNSSAI{SST: 1, SD: "010203"},
		NEF:    af.NEFConfig{APIRoot: apiRoot, AFID: afID, Timeout: 2 * time.Second},
	}
	auth(&s.NEF)
	return s
}

func oauth(tokenURL string) func(*af.NEFConfig) {
	return func(n *af.NEFConfig) {
		n.OAuth2 = &af.OAuth2Config{TokenURL: tokenURL, ClientID: clientID, ClientSecret: clientSecret}
	}
}

func staticToken(tok string) func(*af.NEFConfig) {
	return func(n *af.NEFConfig) { n.Token = tok }
}

func instance() af.Instance {
	return af.Instance{
		AppInstanceID: "inst-1",
		AppDID:        "sample-app",
		Rules:         appRules(),
		Address:       netip.MustParseAddr("192.0.2.10"),
		Port:          8080,
	}
}

// recorder keeps what the notification handler records.
type recorder struct {
	mu  sync.Mutex
	got []recorded
	err error
}

type recorded struct {
	inst string
	ch   af.UPPathChange
}

func (r *recorder) RecordUPPathChange(_ context.Context, inst string, ch af.UPPathChange) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.got = append(r.got, recorded{inst, ch})
	return nil
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.got...)
}

// env is a test NEF with OAuth 2.0 and the MEO's notification endpoint, both over HTTP.
type env struct {
	nef      *nef.Server
	nefURL   string
	client   *af.Client
	bindings *af.Bindings
	rec      *recorder
	notifyTS *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{
		nef:      nef.New(nef.Config{Clients: map[string]string{clientID: clientSecret}}),
		bindings: &af.Bindings{},
		rec:      &recorder{},
	}
	nefTS := httptest.NewServer(e.nef.Handler())
	t.Cleanup(nefTS.Close)
	e.nefURL = nefTS.URL
	mux := http.NewServeMux()
	mux.Handle("/af/v1/notifications/", af.NewNotifyHandler(e.bindings, e.rec, nil))
	e.notifyTS = httptest.NewServer(mux)
	t.Cleanup(e.notifyTS.Close)
	c, err := af.NewClient(site(nefTS.URL, oauth(nefTS.URL+nef.TokenPath)), af.NotifyURLs{Base: e.notifyTS.URL + "/af/v1/notifications"}, nil)
	require.NoError(t, err)
	e.client = c
	return e
}

// TestSubscribe creates the sample app's subscription and checks what the NEF stored.
func TestSubscribe(t *testing.T) {
	e := newEnv(t)
	sub, err := e.client.Subscribe(t.Context(), instance(), af.UETarget{AnyUE: true})
	require.NoError(t, err)
	assert.Equal(t, "site-a", sub.SiteID)
	assert.Equal(t, afID, sub.AFID)
	assert.True(t, strings.HasSuffix(sub.Location, "/subscriptions/"+sub.ID), "location %q, id %q", sub.Location, sub.ID)
	assert.Equal(t, "inst-1", sub.Binding.AppInstanceID)
	assert.Len(t, sub.Binding.TokenSHA256, 64)

	stored, ok := e.nef.Subscription(afID, sub.ID)
	require.True(t, ok, "the NEF has no subscription %s", sub.ID)
	s := stored.Sub
	assert.Equal(t, "sample-app", s.AfServiceId)
	assert.Equal(t, "inst-1", s.AfTransId)
	assert.Empty(t, s.AfAppId)
	assert.True(t, s.AnyUeInd)
	assert.Equal(t, "internet", s.Dnn)
	assert.Equal(t, &models.Snssai{Sst: 1, Sd: "010203"}, s.Snssai)
	assert.Equal(t, []models.FlowInfo{{
		FlowId:           1,
		FlowDescriptions: []string{"permit out 6 from 192.0.2.10 8080 to 10.60.0.0/16"},
	}}, s.TrafficFilters, "only the forwarding rule is steered, in the downlink form")
	require.Len(t, s.TrafficRoutes, 1)
	assert.Equal(t, "dnai-edge-a", s.TrafficRoutes[0].Dnai)
	assert.Equal(t, &models.RouteInformation{Ipv4Addr: "192.0.2.10", PortNumber: 8080}, s.TrafficRoutes[0].RouteInfo)
	assert.Equal(t, []models.SubscribedEvent{models.SubscribedEvent_UP_PATH_CHANGE}, s.SubscribedEvents)
	assert.True(t, strings.HasPrefix(s.NotificationDestination, e.notifyTS.URL+"/af/v1/notifications/inst-1/"), "destination %q", s.NotificationDestination)
	assert.Equal(t, models.DnaiChangeType_LATE, s.DnaiChgType)

	// The token is fetched once and reused.
	_, err = e.client.Get(t.Context(), sub.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, e.nef.TokensIssued())
}

// TestTargets checks each UE target reaches the NEF as its member.
func TestTargets(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		target af.UETarget
		check  func(t *testing.T, s models.NefTrafficInfluSub)
	}{
		{"group", af.UETarget{ExternalGroupID: "gamers@operator.example"}, func(t *testing.T, s models.NefTrafficInfluSub) {
			assert.Equal(t, "gamers@operator.example", s.ExternalGroupId)
			assert.False(t, s.AnyUeInd)
		}},
		{"gpsi", af.UETarget{GPSI: "msisdn-491701234567"}, func(t *testing.T, s models.NefTrafficInfluSub) {
			assert.Equal(t, "msisdn-491701234567", s.Gpsi)
		}},
		{"ue address", af.UETarget{IPv4: netip.MustParseAddr("10.60.0.7"), IPv6: netip.MustParseAddr("2001:db8::7")}, func(t *testing.T, s models.NefTrafficInfluSub) {
			assert.Equal(t, "10.60.0.7", s.Ipv4Addr)
			assert.Equal(t, "2001:db8::7", s.Ipv6Addr)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := instance()
			inst.AppInstanceID = "inst-" + strings.ReplaceAll(tc.name, " ", "-")
			sub, err := e.client.Subscribe(t.Context(), inst, tc.target)
			require.NoError(t, err)
			stored, ok := e.nef.Subscription(afID, sub.ID)
			require.True(t, ok)
			tc.check(t, stored.Sub)
		})
	}
	t.Run("two targets refused before the NEF", func(t *testing.T) {
		before := len(e.nef.Requests())
		_, err := e.client.Subscribe(t.Context(), instance(), af.UETarget{AnyUE: true, GPSI: "msisdn-491701234567"})
		require.ErrorIs(t, err, af.ErrInvalid)
		assert.Len(t, e.nef.Requests(), before, "an invalid subscription was sent")
	})
}

// TestUpdateDelete changes the app's rules (PATCH) and terminates it (DELETE).
func TestUpdateDelete(t *testing.T) {
	e := newEnv(t)
	inst := instance()
	sub, err := e.client.Subscribe(t.Context(), inst, af.UETarget{AnyUE: true})
	require.NoError(t, err)

	inst.Rules[1].TrafficFilter[0].DstPort = strs("9090", "9100-9110")
	inst.Port = 9090
	require.NoError(t, e.client.Update(t.Context(), sub, inst))
	stored, ok := e.nef.Subscription(afID, sub.ID)
	require.True(t, ok)
	assert.Equal(t, []string{"permit out 6 from 192.0.2.10 9090,9100-9110 to 10.60.0.0/16"}, stored.Sub.TrafficFilters[0].FlowDescriptions)
	assert.Equal(t, int32(9090), stored.Sub.TrafficRoutes[0].RouteInfo.PortNumber)
	assert.True(t, stored.Sub.AnyUeInd, "the merge patch kept the members it did not name")
	reqs := e.nef.Requests()
	last := reqs[len(reqs)-1]
	assert.Equal(t, http.MethodPatch, last.Method)
	assert.Equal(t, nef.BasePath+"/"+afID+"/subscriptions/"+sub.ID, last.Path)
	assert.Equal(t, http.StatusOK, last.Status)

	require.NoError(t, e.client.Unsubscribe(t.Context(), sub))
	_, ok = e.nef.Subscription(afID, sub.ID)
	assert.False(t, ok, "the subscription is still at the NEF")
	require.NoError(t, e.client.Unsubscribe(t.Context(), sub), "a repeated delete succeeds")

	err = e.client.Update(t.Context(), sub, inst)
	require.ErrorIs(t, err, af.ErrNotFound)
	require.ErrorIs(t, err, af.ErrPermanent)
}

// TestNEFRefuses sends subscriptions the NEF must refuse and checks the error is permanent
// and keeps the NEF's ProblemDetails.
func TestNEFRefuses(t *testing.T) {
	e := newEnv(t)
	good, err := af.BuildSubscription(e.client.Site(), instance(), af.UETarget{AnyUE: true}, "http://meo.example/n/inst-1/t")
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		mutate func(s *models.NefTrafficInfluSub)
		param  string
	}{
		{"two UE targets", func(s *models.NefTrafficInfluSub) { s.Gpsi = "msisdn-491701234567" }, "/anyUeInd"},
		{"afAppId and filters", func(s *models.NefTrafficInfluSub) { s.AfAppId = "app" }, "/afAppId"},
		{"events without destination", func(s *models.NefTrafficInfluSub) { s.NotificationDestination = "" }, "/notificationDestination"},
		{"route without DNAI", func(s *models.NefTrafficInfluSub) {
			s.TrafficRoutes = []*models.RouteToLocation{{RouteInfo: &models.RouteInformation{Ipv4Addr: "192.0.2.10"}}}
		}, "/trafficRoutes/0/dnai"},
		{"any UE without dnn", func(s *models.NefTrafficInfluSub) { s.Dnn = "" }, "/dnn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			s.TrafficRoutes = append([]*models.RouteToLocation(nil), good.TrafficRoutes...)
			tc.mutate(&s)
			_, err := e.client.Create(t.Context(), s)
			require.Error(t, err)
			assert.ErrorIs(t, err, af.ErrPermanent)
			assert.False(t, af.IsRetryable(err))
			var ne *af.NEFError
			require.ErrorAs(t, err, &ne)
			assert.Equal(t, http.StatusBadRequest, ne.Status)
			require.NotNil(t, ne.Problem)
			assert.Contains(t, ne.Problem.Detail, tc.param)
			assert.Contains(t, err.Error(), tc.param, "the error text keeps the NEF's detail")
			require.NotEmpty(t, ne.Problem.InvalidParams)
			assert.Equal(t, tc.param, ne.Problem.InvalidParams[0].Param)
		})
	}
	assert.Empty(t, e.nef.Subscriptions(afID))
}

// TestNEFDown points the client at a NEF that is not listening yet: the failure is
// retryable, and Retry succeeds once the NEF comes up on that address.
func TestNEFDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	srv := nef.New(nef.Config{StaticToken: "static-token-1"})
	c, err := af.NewClient(site("http://"+addr, staticToken("static-token-1")), af.NotifyURLs{Base: "http://meo.example/af/v1/notifications"}, nil)
	require.NoError(t, err)

	_, err = c.Subscribe(t.Context(), instance(), af.UETarget{AnyUE: true})
	require.Error(t, err)
	assert.True(t, af.IsRetryable(err), "got %v; want retryable", err)
	var ne *af.NEFError
	require.ErrorAs(t, err, &ne)
	assert.Zero(t, ne.Status)

	var attempts atomic.Int32
	var ts *httptest.Server
	var final af.Subscription
	err = af.Retry(t.Context(), af.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Attempts: 20}, func(ctx context.Context) error {
		n := attempts.Add(1)
		if n == 3 {
			// The NEF comes back on its address before the third attempt.
			l, err := net.Listen("tcp", addr)
			require.NoError(t, err)
			ts = httptest.NewUnstartedServer(srv.Handler())
			ts.Listener = l
			ts.Start()
		}
		s, err := c.Subscribe(ctx, instance(), af.UETarget{AnyUE: true})
		if n == 3 && err == nil {
			// The NEF made it, but the answer is lost on the way back.
			return &af.NEFError{Op: "create", Retryable: true, Err: errors.New("answer lost")}
		}
		final = s
		return err
	})
	require.NotNil(t, ts, "the NEF never came back")
	t.Cleanup(ts.Close)
	require.NoError(t, err)
	assert.Equal(t, int32(4), attempts.Load())
	_, ok := srv.Subscription(afID, final.ID)
	require.True(t, ok)

	// The third attempt left a subscription nothing records: Sweep removes it.
	require.Len(t, srv.Subscriptions(afID), 2)
	deleted, err := c.Sweep(t.Context(), func(s models.NefTrafficInfluSub, id string) bool {
		return s.AfTransId == "inst-1" && id == final.ID
	})
	require.NoError(t, err)
	assert.Len(t, deleted, 1)
	left := srv.Subscriptions(afID)
	require.Len(t, left, 1)
	assert.Equal(t, final.ID, left[0].ID)
}

// TestStatusClassification puts failing answers in front of the NEF, including bodies that
// are not ProblemDetails, and checks how they are classified.
func TestStatusClassification(t *testing.T) {
	srv := nef.New(nef.Config{StaticToken: "static-token-1"})
	var fail atomic.Value // func(w) or nil
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, _ := fail.Load().(func(http.ResponseWriter)); f != nil {
			f(w)
			return
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	defer ts.Close()

	for _, tc := range []struct {
		name      string
		respond   func(w http.ResponseWriter)
		status    int
		retryable bool
		detail    string
	}{
		{"503 as html from a proxy", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(503)
			_, _ = w.Write([]byte("<h1>upstream down</h1>"))
		}, 503, true, "<h1>upstream down</h1>"},
		{"500 with an empty body", func(w http.ResponseWriter) { w.WriteHeader(500) }, 500, true, ""},
		{"502 unlisted by the API", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(502)
			_, _ = w.Write([]byte("bad gateway"))
		}, 502, true, "bad gateway"},
		{"429 problem details", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(429)
			_, _ = w.Write([]byte(`{"status":429,"detail":"slow down","cause":"TOO_MANY_REQUESTS"}`))
		}, 429, true, "slow down"},
		{"403 problem details", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"status":403,"detail":"AF not authorised for this DNN"}`))
		}, 403, false, "AF not authorised for this DNN"},
		{"201 without a location", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{}`))
		}, 201, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fail.Store(tc.respond)
			c, err := af.NewClient(site(ts.URL, staticToken("static-token-1")), af.NotifyURLs{Base: "http://meo.example/n"}, nil)
			require.NoError(t, err)
			_, err = c.Subscribe(t.Context(), instance(), af.UETarget{AnyUE: true})
			var ne *af.NEFError
			require.ErrorAs(t, err, &ne)
			assert.Equal(t, tc.status, ne.Status)
			assert.Equal(t, tc.retryable, af.IsRetryable(err), "error %v", err)
			assert.Equal(t, !tc.retryable, errors.Is(err, af.ErrPermanent))
			if tc.detail != "" {
				require.NotNil(t, ne.Problem)
				assert.Equal(t, tc.detail, ne.Problem.Detail)
			}
		})
	}
	fail.Store((func(http.ResponseWriter))(nil))

	t.Run("wrong static token is permanent", func(t *testing.T) {
		c, err := af.NewClient(site(ts.URL, staticToken("wrong-token")), af.NotifyURLs{Base: "http://meo.example/n"}, nil)
		require.NoError(t, err)
		_, err = c.Subscribe(t.Context(), instance(), af.UETarget{AnyUE: true})
		var ne *af.NEFError
		require.ErrorAs(t, err, &ne)
		assert.Equal(t, http.StatusUnauthorized, ne.Status)
		assert.ErrorIs(t, err, af.ErrPermanent)
	})
}

// TestOAuth2Failures covers the token endpoint: bad credentials are permanent, a revoked
// token is fetched again.
func TestOAuth2Failures(t *testing.T) {
	e := newEnv(t)
	t.Run("bad secret", func(t *testing.T) {
		s := site(e.nefURL, oauth(e.nefURL+nef.TokenPath))
		s.NEF.OAuth2.ClientSecret = "wrong"
		c, err := af.NewClient(s, af.NotifyURLs{Base: "http://meo.example/n"}, nil)
		require.NoError(t, err)
		_, err = c.Subscribe(t.Context(), instance(), af.UETarget{AnyUE: true})
		var ne *af.NEFError
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Token)
		assert.Equal(t, http.StatusUnauthorized, ne.Status)
		assert.ErrorIs(t, err, af.ErrPermanent)
	})
	t.Run("revoked token", func(t *testing.T) {
		sub, err := e.client.Subscribe(t.Context(), instance(), af.UETarget{AnyUE: true})
		require.NoError(t, err)
		issued := e.nef.TokensIssued()
		e.nef.RevokeTokens()
		_, err = e.client.Get(t.Context(), sub.ID)
		require.ErrorIs(t, err, af.ErrRetryable, "a 401 with OAuth 2.0 drops the token and may pass next time")
		err = af.Retry(t.Context(), af.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Attempts: 2}, func(ctx context.Context) error {
			_, err := e.client.Get(ctx, sub.ID)
			return err
		})
		require.NoError(t, err)
		assert.Equal(t, issued+1, e.nef.TokensIssued())
	})
}

// TestNotifications sends UP path changes from the NEF to the MEO's handler.
func TestNotifications(t *testing.T) {
	e := newEnv(t)
	sub, err := e.client.Subscribe(t.Context(), instance(), af.UETarget{AnyUE: true})
	require.NoError(t, err)
	e.bindings.Put(sub.Binding)

	before := time.Now()
	_, err = e.nef.NotifyUPPathChange(t.Context(), afID, sub.ID, nef.UPPathChange{
		SourceDNAI: "dnai-central", TargetDNAI: "dnai-edge-a", UEIPv4: "10.60.0.7",
	})
	require.NoError(t, err)
	got := e.rec.all()
	require.Len(t, got, 1)
	assert.Equal(t, "inst-1", got[0].inst)
	ch := got[0].ch
	assert.Equal(t, netip.MustParseAddr("10.60.0.7"), ch.UEIPv4)
	assert.Equal(t, "dnai-central", ch.SourceDNAI)
	assert.Equal(t, "dnai-edge-a", ch.TargetDNAI)
	assert.Equal(t, "LATE", ch.ChangeType)
	assert.False(t, ch.At.Before(before), "time %v before the notification", ch.At)

	stored, _ := e.nef.Subscription(afID, sub.ID)
	dest := stored.Sub.NotificationDestination
	wrongToken := dest[:strings.LastIndex(dest, "/")+1] + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	good := `{"dnaiChgType":"LATE","subscribedEvent":"UP_PATH_CHANGE","targetDnai":"dnai-edge-a","tgtUeIpv4Addr":"10.60.0.8"}`

	for _, tc := range []struct {
		name   string
		url    string
		ctype  string
		body   string
		status int
	}{
		{"valid by hand", dest, "application/json", good, http.StatusNoContent},
		{"unauthenticated", wrongToken, "application/json", good, http.StatusUnauthorized},
		{"no token", e.notifyTS.URL + "/af/v1/notifications/inst-1", "application/json", good, http.StatusNotFound},
		{"unknown subscription", strings.Replace(dest, "/inst-1/", "/inst-9/", 1), "application/json", good, http.StatusNotFound},
		{"malformed json", dest, "application/json", `{"dnaiChgType":"LATE",`, http.StatusBadRequest},
		{"unknown member", dest, "application/json", strings.Replace(good, `"targetDnai"`, `"targetDNAI"`, 1), http.StatusBadRequest},
		{"trailing data", dest, "application/json", good + `{}`, http.StatusBadRequest},
		{"other event", dest, "application/json", strings.Replace(good, "UP_PATH_CHANGE", "QOS_CHANGE", 1), http.StatusBadRequest},
		{"no target dnai", dest, "application/json", `{"dnaiChgType":"LATE","subscribedEvent":"UP_PATH_CHANGE"}`, http.StatusBadRequest},
		{"bad ue address", dest, "application/json", strings.Replace(good, "10.60.0.8", "10.60.0.256", 1), http.StatusBadRequest},
		{"other instance's transaction", dest, "application/json", strings.Replace(good, `{`, `{"afTransId":"inst-2",`, 1), http.StatusBadRequest},
		{"not json", dest, "text/plain", good, http.StatusUnsupportedMediaType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(e.rec.all())
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tc.url, strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.status == http.StatusNoContent {
				assert.Len(t, e.rec.all(), n+1)
				return
			}
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			assert.Len(t, e.rec.all(), n, "a refused notification was recorded")
		})
	}

	t.Run("malformed from the NEF", func(t *testing.T) {
		n := len(e.rec.all())
		status, err := e.nef.Post(t.Context(), afID, sub.ID, []byte(`[1,2,3]`))
		var nerr *nef.NotificationError
		require.ErrorAs(t, err, &nerr)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Len(t, e.rec.all(), n)
	})
	t.Run("after unsubscribe", func(t *testing.T) {
		n := len(e.rec.all())
		e.bindings.Remove(sub.Binding.AppInstanceID)
		_, err := e.nef.NotifyUPPathChange(t.Context(), afID, sub.ID, nef.UPPathChange{TargetDNAI: "dnai-edge-a", UEIPv4: "10.60.0.7"})
		var nerr *nef.NotificationError
		require.ErrorAs(t, err, &nerr)
		assert.Equal(t, http.StatusNotFound, nerr.Status)
		assert.Len(t, e.rec.all(), n)
	})
	t.Run("recorder failure is a 500 for the NEF to retry", func(t *testing.T) {
		e.bindings.Put(sub.Binding)
		e.rec.mu.Lock()
		e.rec.err = errors.New("database down")
		e.rec.mu.Unlock()
		_, err := e.nef.NotifyUPPathChange(t.Context(), afID, sub.ID, nef.UPPathChange{TargetDNAI: "dnai-edge-a", UEIPv4: "10.60.0.7"})
		var nerr *nef.NotificationError
		require.ErrorAs(t, err, &nerr)
		assert.Equal(t, http.StatusInternalServerError, nerr.Status)
		assert.NotContains(t, nerr.Body, "database down", "internal errors stay internal")
	})
}
