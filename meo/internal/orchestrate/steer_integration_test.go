//go:build integration

package orchestrate_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/free5gc/openapi/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/af"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/orchestrate/orchestratetest"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
	"github.com/edgemec/edgemec/test/nef"
)

const (
	steerAFID   = "edgemec-meo"
	steerNotify = "https://meo.test/af/v1/notifications"
	nefToken    = "nef-static-token-1"
	nefClientID = "meo-af"
	nefSecret   = "nef-client-secret-1"
)

// fiveGSites is the inventory as the steering sees it: the sites of env (real MEPs) and
// their 5G data, which a test may replace or remove.
type fiveGSites struct {
	*orchestratetest.Sites
	mu  sync.Mutex
	cfg map[string]af.SiteConfig
}

func (f *fiveGSites) FiveG(_ context.Context, siteID string) (af.SiteConfig, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cfg[siteID]
	return c, ok, nil
}

// set replaces the site's 5G data; nil removes it.
func (f *fiveGSites) set(siteID string, c *af.SiteConfig) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c == nil {
		delete(f.cfg, siteID)
		return
	}
	f.cfg[siteID] = *c
}

// steerStore is the real store with the op occurrences' warnings kept here (env's op
// occurrences live in memory).
type steerStore struct {
	*pgstore.Store
	mu       sync.Mutex
	warnings map[string][]store.Problem
}

func (s *steerStore) AddOpWarning(_ context.Context, opID string, w store.Problem) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.warnings[opID] = append(s.warnings[opID], w)
	return nil
}

func (s *steerStore) opWarnings(opID string) []store.Problem {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]store.Problem(nil), s.warnings[opID]...)
}

// steerEnv is env with a steering loop and test NEFs.
type steerEnv struct {
	*env
	fiveG *fiveGSites
	st    *steerStore
	steer *orchestrate.Steerer
	run   *running
}

// newSteerEnv starts an executor with steering (its loop too) over env's sites. mod, if
// set, changes the steering configuration.
func newSteerEnv(t *testing.T, sites []string, mod func(*orchestrate.SteerConfig)) *steerEnv {
	t.Helper()
	e := newEnv(t)
	for _, id := range sites {
		e.addSite(id, node(8000))
	}
	s := &steerEnv{env: e, fiveG: &fiveGSites{Sites: e.sites, cfg: map[string]af.SiteConfig{}},
		st: &steerStore{Store: e.store, warnings: map[string][]store.Problem{}}}
	cfg := orchestrate.SteerConfig{Store: s.st, Sites: s.fiveG, NotifyBase: steerNotify,
		Backoff:      af.Backoff{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond, Attempts: 2},
		RetryInitial: 100 * time.Millisecond, RetryMax: 300 * time.Millisecond, Check: 200 * time.Millisecond,
		Poll: 50 * time.Millisecond, Lease: 2 * time.Second, Sweep: time.Hour}
	if mod != nil {
		mod(&cfg)
	}
	var err error
	s.steer, err = orchestrate.NewSteerer(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.steer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	xc := e.config("meo-1")
	xc.Steering = s.steer
	s.run = e.start(xc)
	return s
}

// startNEF serves a test NEF (cfg's credentials) and returns it with its API root.
func startNEF(t *testing.T, cfg nef.Config) (*nef.Server, string) {
	t.Helper()
	n := nef.New(cfg)
	ts := httptest.NewServer(n.Handler())
	t.Cleanup(ts.Close)
	return n, ts.URL
}

// siteConfig is 5G data for siteID at the NEF at root, authenticated with the static token.
func siteConfig(siteID, root string, dnais ...string) af.SiteConfig {
	return af.SiteConfig{SiteID: siteID, DNAIs: dnais, DNN: "internet", SNSSAI: af.SNSSAI{SST: 1, SD: "000001"},
		NEF: af.NEFConfig{APIRoot: root, AFID: steerAFID, Token: nefToken}}
}

// instantiateWith runs an instantiate with the given additionalParams to completion.
func (s *steerEnv) instantiateWith(t *testing.T, params map[string]any) orchestrate.Op {
	t.Helper()
	op := instantiate("web", 200)
	if params != nil {
		b, err := json.Marshal(map[string]any{"additionalParams": params})
		require.NoError(t, err)
		op.Params = b
	}
	require.NoError(t, s.ops.Add(op))
	s.run.x.Kick()
	rec := s.waitState(op.ID, 30*time.Second, orchestrate.Completed, orchestrate.Failed, orchestrate.FailedTemp)
	require.Equal(t, orchestrate.Completed, rec.State, "error %+v", rec.Error)
	return op
}

// steering returns the instance's trafficSteering view, nil without a record.
func (s *steerEnv) steering(t *testing.T, id string) map[string]any {
	t.Helper()
	r, err := s.st.GetSteering(t.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(r.View, &v))
	return v
}

// subOf returns the NEF's subscriptions for the instance.
func subOf(n *nef.Server, id string) []nef.Subscription {
	var out []nef.Subscription
	for _, s := range n.Subscriptions(steerAFID) {
		if s.Sub.AfTransId == id {
			out = append(out, s)
		}
	}
	return out
}

// TestSteerUETargets instantiates on a site with 5G data, with each kind of UE target in
// additionalParams, and checks the subscription the test NEF (which refuses anything but
// exactly one UE target) holds and the target the instance shows; a request naming two
// targets, or none, steers nothing and leaves a 400 warning on the op occurrence while the
// instance is instantiated all the same.
func TestSteerUETargets(t *testing.T) {
	n, root := startNEF(t, nef.Config{StaticToken: nefToken})
	s := newSteerEnv(t, []string{"site-5g"}, nil)
	cfg := siteConfig("site-5g", root, "dnai-edge-1")
	s.fiveG.set("site-5g", &cfg)

	for _, tc := range []struct {
		name   string
		params map[string]any
		check  func(t *testing.T, sub models.NefTrafficInfluSub)
		view   map[string]any
	}{
		{name: "any UE by default", params: nil, view: map[string]any{"anyUe": true},
			check: func(t *testing.T, sub models.NefTrafficInfluSub) {
				assert.True(t, sub.AnyUeInd)
				assert.Empty(t, sub.ExternalGroupId+sub.Gpsi+sub.Ipv4Addr+sub.Ipv6Addr)
			}},
		{name: "any UE explicitly", params: map[string]any{"anyUe": true}, view: map[string]any{"anyUe": true},
			check: func(t *testing.T, sub models.NefTrafficInfluSub) { assert.True(t, sub.AnyUeInd) }},
		{name: "UE group", params: map[string]any{"ueExternalGroupId": "edge-users@mnc001.mcc001.3gppnetwork.org"},
			view: map[string]any{"externalGroupId": "edge-users@mnc001.mcc001.3gppnetwork.org"},
			check: func(t *testing.T, sub models.NefTrafficInfluSub) {
				assert.False(t, sub.AnyUeInd)
				assert.Equal(t, "edge-users@mnc001.mcc001.3gppnetwork.org", sub.ExternalGroupId)
				assert.Empty(t, sub.Gpsi+sub.Ipv4Addr+sub.Ipv6Addr)
			}},
		{name: "one UE by GPSI", params: map[string]any{"ueGpsi": "msisdn-491701234567"},
			view: map[string]any{"gpsi": "msisdn-491701234567"},
			check: func(t *testing.T, sub models.NefTrafficInfluSub) {
				assert.False(t, sub.AnyUeInd)
				assert.Equal(t, "msisdn-491701234567", sub.Gpsi)
				assert.Empty(t, sub.ExternalGroupId+sub.Ipv4Addr+sub.Ipv6Addr)
			}},
		{name: "one UE by IPv4 address", params: map[string]any{"ueIpv4Addr": "10.60.0.7"},
			view: map[string]any{"ipv4Addr": "10.60.0.7"},
			check: func(t *testing.T, sub models.NefTrafficInfluSub) {
				assert.False(t, sub.AnyUeInd)
				assert.Equal(t, "10.60.0.7", sub.Ipv4Addr)
				assert.Empty(t, sub.ExternalGroupId+sub.Gpsi+sub.Ipv6Addr)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := s.instantiateWith(t, tc.params)
			assert.Empty(t, s.st.opWarnings(op.ID), "no warning while the NEF takes the subscription")
			subs := subOf(n, op.AppInstanceID)
			require.Len(t, subs, 1, "one subscription for the instance")
			sub := subs[0].Sub
			tc.check(t, sub)
			require.Len(t, sub.TrafficRoutes, 1)
			assert.Equal(t, "dnai-edge-1", sub.TrafficRoutes[0].Dnai)
			v := s.steering(t, op.AppInstanceID)
			require.NotNil(t, v)
			assert.Equal(t, "ACTIVE", v["state"])
			assert.Equal(t, tc.view, v["ueTarget"])
		})
	}

	for _, tc := range []struct {
		name   string
		params map[string]any
	}{
		{name: "two targets", params: map[string]any{"ueExternalGroupId": "g@op.example", "ueGpsi": "msisdn-491701234567"}},
		{name: "anyUe false and no UE", params: map[string]any{"anyUe": false}},
		{name: "malformed address", params: map[string]any{"ueIpv4Addr": "10.60.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			posts := countReq(n, http.MethodPost)
			op := s.instantiateWith(t, tc.params)
			w := s.st.opWarnings(op.ID)
			require.Len(t, w, 1, "the op occurrence carries the refusal")
			assert.Equal(t, http.StatusBadRequest, w[0].Status)
			assert.Contains(t, w[0].Detail, "additionalParams", "the warning names where the target is given")
			assert.Empty(t, subOf(n, op.AppInstanceID))
			assert.Equal(t, posts, countReq(n, http.MethodPost), "nothing was sent to the NEF")
			assert.Nil(t, s.steering(t, op.AppInstanceID))
		})
	}
}

func countReq(n *nef.Server, method string) int {
	c := 0
	for _, r := range n.Requests() {
		if r.Method == method && r.Path != "/oauth2/token" {
			c++
		}
	}
	return c
}

// TestSteerOrphanSweep leaves at the NEF what a MEO that stopped between the NEF's 201 and
// storing it leaves: a subscription for an instance without a record, and a second one for
// a steered instance. The steering loop's sweep deletes both, and keeps the instance's
// recorded subscription and the subscription of another AF user of the same AF id.
func TestSteerOrphanSweep(t *testing.T) {
	n, root := startNEF(t, nef.Config{StaticToken: nefToken})
	s := newSteerEnv(t, []string{"site-5g"}, func(c *orchestrate.SteerConfig) { c.Sweep = 300 * time.Millisecond })
	cfg := siteConfig("site-5g", root, "dnai-edge-1")
	s.fiveG.set("site-5g", &cfg)

	op := s.instantiateWith(t, nil)
	live := subOf(n, op.AppInstanceID)
	require.Len(t, live, 1)

	// The orphans, made as the MEO makes its subscriptions.
	c, err := af.NewClient(cfg, af.NotifyURLs{Base: steerNotify}, nil)
	require.NoError(t, err)
	inst := func(id string) af.Instance {
		return af.Instance{AppInstanceID: id, AppDID: "appd-web-1", Address: netip.MustParseAddr("10.60.0.10"),
			Rules: *op.Task.App.AppTrafficRule}
	}
	ghost, err := c.Subscribe(t.Context(), inst("gone-instance"), af.UETarget{AnyUE: true})
	require.NoError(t, err)
	dup, err := c.Subscribe(t.Context(), inst(op.AppInstanceID), af.UETarget{AnyUE: true})
	require.NoError(t, err)
	// Another user of the AF id, notified elsewhere.
	other, err := af.NewClient(cfg, af.NotifyURLs{Base: "https://other-af.test/notify"}, nil)
	require.NoError(t, err)
	foreign, err := other.Subscribe(t.Context(), inst("not-ours"), af.UETarget{AnyUE: true})
	require.NoError(t, err)

	ids := func() map[string]bool {
		m := map[string]bool{}
		for _, sub := range n.Subscriptions(steerAFID) {
			m[sub.ID] = true
		}
		return m
	}
	require.Eventually(t, func() bool {
		got := ids()
		return !got[ghost.ID] && !got[dup.ID]
	}, 10*time.Second, 50*time.Millisecond, "the orphans are deleted")
	assert.Equal(t, map[string]bool{live[0].ID: true, foreign.ID: true}, ids(),
		"the recorded subscription and the foreign one stay")
	v := s.steering(t, op.AppInstanceID)
	assert.Equal(t, "ACTIVE", v["state"])
	assert.Equal(t, live[0].ID, v["subscriptionId"])

	// Sweeps go on; the recorded subscription stays through several of them.
	time.Sleep(time.Second)
	assert.Equal(t, map[string]bool{live[0].ID: true, foreign.ID: true}, ids())
}

// TestSteerNEFCredentials subscribes with each kind of NEF credential against a test NEF
// that checks the bearer token of every request: a static token, and OAuth 2.0 client
// credentials (the token fetched from the NEF's token endpoint). Wrong credentials leave the
// instance RETRYING with a 401 on it and nothing at the NEF; once the site's 5G data is
// replaced with the right ones, the loop subscribes.
func TestSteerNEFCredentials(t *testing.T) {
	for _, tc := range []struct {
		name       string
		nef        nef.Config
		good, bad  af.NEFConfig
		wantTokens bool
	}{
		{name: "static token", nef: nef.Config{StaticToken: nefToken},
			good: af.NEFConfig{AFID: steerAFID, Token: nefToken},
			bad:  af.NEFConfig{AFID: steerAFID, Token: "not-the-token"}},
		{name: "oauth2 client credentials", nef: nef.Config{Clients: map[string]string{nefClientID: nefSecret}}, wantTokens: true,
			good: af.NEFConfig{AFID: steerAFID, OAuth2: &af.OAuth2Config{ClientID: nefClientID, ClientSecret: nefSecret}},
			bad:  af.NEFConfig{AFID: steerAFID, OAuth2: &af.OAuth2Config{ClientID: nefClientID, ClientSecret: "wrong"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, root := startNEF(t, tc.nef)
			s := newSteerEnv(t, []string{"site-5g"}, nil)
			withRoot := func(c af.NEFConfig) *af.SiteConfig {
				c.APIRoot = root
				if c.OAuth2 != nil {
					o := *c.OAuth2
					o.TokenURL = root + "/oauth2/token"
					c.OAuth2 = &o
				}
				cfg := siteConfig("site-5g", root, "dnai-edge-1")
				cfg.NEF = c
				return &cfg
			}

			// The right credentials: subscribed at once.
			s.fiveG.set("site-5g", withRoot(tc.good))
			op := s.instantiateWith(t, nil)
			assert.Empty(t, s.st.opWarnings(op.ID))
			require.Len(t, subOf(n, op.AppInstanceID), 1)
			assert.Equal(t, "ACTIVE", s.steering(t, op.AppInstanceID)["state"])
			if tc.wantTokens {
				assert.Positive(t, n.TokensIssued(), "the token came from the NEF's token endpoint")
			} else {
				assert.Zero(t, n.TokensIssued())
			}

			// Wrong credentials: refused, visible, retried.
			s.fiveG.set("site-5g", withRoot(tc.bad))
			op2 := s.instantiateWith(t, nil)
			w := s.st.opWarnings(op2.ID)
			require.Len(t, w, 1, "the op occurrence carries the failure")
			assert.Equal(t, http.StatusUnauthorized, w[0].Status, "%+v", w[0])
			assert.Empty(t, subOf(n, op2.AppInstanceID))
			v := s.steering(t, op2.AppInstanceID)
			require.NotNil(t, v)
			assert.Equal(t, "RETRYING", v["state"])
			require.NotNil(t, v["lastError"])
			assert.Equal(t, float64(http.StatusUnauthorized), v["lastError"].(map[string]any)["status"])

			// The site's 5G data replaced with the right credentials: the loop subscribes.
			s.fiveG.set("site-5g", withRoot(tc.good))
			require.Eventually(t, func() bool {
				v := s.steering(t, op2.AppInstanceID)
				return v != nil && v["state"] == "ACTIVE" && len(subOf(n, op2.AppInstanceID)) == 1
			}, 10*time.Second, 50*time.Millisecond, "subscribed once the credentials are right")
			assert.Nil(t, s.steering(t, op2.AppInstanceID)["lastError"])
		})
	}
}

// TestSteerFiveGChanged replaces a site's 5G data step by step and checks that the
// subscription follows at the test NEFs: new DNAIs are PATCHed into the same subscription;
// a new NEF, or a new DNN, deletes it where it was made (with the old credentials) and
// subscribes anew; removed 5G data deletes it and leaves the instance in NO_5G_DATA; 5G
// data given again subscribes again.
func TestSteerFiveGChanged(t *testing.T) {
	a, rootA := startNEF(t, nef.Config{StaticToken: nefToken})
	b, rootB := startNEF(t, nef.Config{Clients: map[string]string{nefClientID: nefSecret}})
	s := newSteerEnv(t, []string{"site-5g"}, func(c *orchestrate.SteerConfig) { c.Check = time.Hour })
	cfgA := siteConfig("site-5g", rootA, "dnai-edge-1")
	s.fiveG.set("site-5g", &cfgA)
	op := s.instantiateWith(t, map[string]any{"ueGpsi": "msisdn-491701234567"})
	id := op.AppInstanceID
	subs := subOf(a, id)
	require.Len(t, subs, 1)
	first := subs[0].ID

	change := func(old, next *af.SiteConfig) {
		t.Helper()
		s.fiveG.set("site-5g", next)
		require.NoError(t, s.steer.FiveGChanged(t.Context(), "site-5g", old, next))
	}
	routes := func(n *nef.Server) []string {
		var out []string
		for _, sub := range subOf(n, id) {
			for _, r := range sub.Sub.TrafficRoutes {
				out = append(out, r.Dnai)
			}
		}
		return out
	}

	// 1. New DNAIs, same NEF: the same subscription is patched (the check interval is an
	// hour: only the change makes the loop look).
	cfgA2 := cfgA
	cfgA2.DNAIs = []string{"dnai-edge-2", "dnai-edge-3"}
	change(&cfgA, &cfgA2)
	require.Eventually(t, func() bool { return assert.ObjectsAreEqual([]string{"dnai-edge-2", "dnai-edge-3"}, routes(a)) },
		10*time.Second, 50*time.Millisecond, "the routes follow the DNAIs")
	assert.Equal(t, first, subOf(a, id)[0].ID, "patched, not made anew")
	assert.Equal(t, 1, countReq(a, http.MethodPatch))

	// 2. Another NEF (OAuth 2.0 there): deleted at the first, made at the second with the
	// same UE target.
	cfgB := siteConfig("site-5g", rootB, "dnai-edge-9")
	cfgB.NEF = af.NEFConfig{APIRoot: rootB, AFID: steerAFID,
		OAuth2: &af.OAuth2Config{TokenURL: rootB + "/oauth2/token", ClientID: nefClientID, ClientSecret: nefSecret}}
	change(&cfgA2, &cfgB)
	assert.Empty(t, subOf(a, id), "deleted at the former NEF")
	require.Eventually(t, func() bool { return len(subOf(b, id)) == 1 }, 10*time.Second, 50*time.Millisecond)
	atB := subOf(b, id)[0]
	assert.Equal(t, "msisdn-491701234567", atB.Sub.Gpsi)
	assert.Equal(t, []string{"dnai-edge-9"}, routes(b))
	require.Eventually(t, func() bool {
		v := s.steering(t, id)
		return v["state"] == "ACTIVE" && v["subscriptionId"] == atB.ID
	}, 10*time.Second, 50*time.Millisecond)

	// 3. Another DNN, which a PATCH cannot change: deleted and made anew at the same NEF.
	cfgB2 := cfgB
	cfgB2.DNN = "edge"
	change(&cfgB, &cfgB2)
	require.Eventually(t, func() bool {
		subs := subOf(b, id)
		return len(subs) == 1 && subs[0].ID != atB.ID && subs[0].Sub.Dnn == "edge"
	}, 10*time.Second, 50*time.Millisecond, "made anew with the new DNN")

	// 4. The 5G data removed: deleted, and the instance shows it has none.
	// A pass may still be making the subscription of step 3 (the test saw it at the NEF,
	// the record may not hold it yet): that pass deletes it (TestSteerFiveGChangedDuringPass).
	change(&cfgB2, nil)
	require.Eventually(t, func() bool {
		return len(subOf(b, id)) == 0 && s.steering(t, id)["state"] == orchestrate.SteerNoFiveG
	}, 10*time.Second, 50*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, subOf(a, id))
	assert.Empty(t, subOf(b, id))
	assert.Equal(t, orchestrate.SteerNoFiveG, s.steering(t, id)["state"], "it stays so")

	// 5. 5G data again: subscribed again.
	change(nil, &cfgA)
	require.Eventually(t, func() bool {
		v := s.steering(t, id)
		return v["state"] == "ACTIVE" && len(subOf(a, id)) == 1
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, []string{"dnai-edge-1"}, routes(a))
}

// TestSteerFiveGChangedFormerNEFDown: the former NEF does not take the delete: the change
// reports it, and the subscription is made at the new NEF all the same.
func TestSteerFiveGChangedFormerNEFDown(t *testing.T) {
	a := nef.New(nef.Config{StaticToken: nefToken})
	tsA := httptest.NewServer(a.Handler())
	t.Cleanup(tsA.Close)
	b, rootB := startNEF(t, nef.Config{StaticToken: nefToken})
	s := newSteerEnv(t, []string{"site-5g"}, func(c *orchestrate.SteerConfig) { c.Check = time.Hour })
	cfgA := siteConfig("site-5g", tsA.URL, "dnai-edge-1")
	s.fiveG.set("site-5g", &cfgA)
	op := s.instantiateWith(t, nil)
	require.Len(t, subOf(a, op.AppInstanceID), 1)

	tsA.Close()
	cfgB := siteConfig("site-5g", rootB, "dnai-edge-2")
	s.fiveG.set("site-5g", &cfgB)
	err := s.steer.FiveGChanged(t.Context(), "site-5g", &cfgA, &cfgB)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "may remain there")
	require.Eventually(t, func() bool { return len(subOf(b, op.AppInstanceID)) == 1 }, 10*time.Second, 50*time.Millisecond,
		"made at the new NEF all the same")
}

// TestSteerFiveGChangedDuringPass removes a site's 5G data while the loop's pass is making
// the subscription at the site's new NEF (held at that NEF's door): FiveGChanged finds no
// subscription on the record yet, so the pass that made it, once stored, deletes it at that
// NEF itself; the instance ends in NO_5G_DATA with nothing left at either NEF.
func TestSteerFiveGChangedDuringPass(t *testing.T) {
	a, rootA := startNEF(t, nef.Config{StaticToken: nefToken})
	b := nef.New(nef.Config{StaticToken: nefToken})
	entered, release := make(chan struct{}, 1), make(chan struct{})
	tsB := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		b.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(tsB.Close)
	s := newSteerEnv(t, []string{"site-5g"}, func(c *orchestrate.SteerConfig) { c.Check = time.Hour })
	cfgA := siteConfig("site-5g", rootA, "dnai-edge-1")
	s.fiveG.set("site-5g", &cfgA)
	op := s.instantiateWith(t, nil)
	id := op.AppInstanceID
	require.Len(t, subOf(a, id), 1)

	// Another NEF: deleted at a; the loop's pass subscribes at b, and waits there.
	cfgB := siteConfig("site-5g", tsB.URL, "dnai-edge-2")
	s.fiveG.set("site-5g", &cfgB)
	require.NoError(t, s.steer.FiveGChanged(t.Context(), "site-5g", &cfgA, &cfgB))
	assert.Empty(t, subOf(a, id))
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not subscribe at the new NEF")
	}

	// The 5G data removed while that pass is in flight: the record holds no subscription yet.
	s.fiveG.set("site-5g", nil)
	require.NoError(t, s.steer.FiveGChanged(t.Context(), "site-5g", &cfgB, nil))
	close(release)
	require.Eventually(t, func() bool { return countReq(b, http.MethodPost) == 1 }, 10*time.Second, 20*time.Millisecond,
		"the held pass made its subscription")
	require.Eventually(t, func() bool {
		v := s.steering(t, id)
		return len(subOf(b, id)) == 0 && v["state"] == orchestrate.SteerNoFiveG && v["subscriptionId"] == nil
	}, 10*time.Second, 50*time.Millisecond, "deleted at the NEF the pass made it at: %v", s.steering(t, id))
	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, subOf(a, id))
	assert.Empty(t, subOf(b, id))
	assert.Equal(t, orchestrate.SteerNoFiveG, s.steering(t, id)["state"], "it stays so")
}
