package mep_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/mep"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const opToken = "operator-secret-token"

// site is a MEP started in-process on loopback ports.
type site struct {
	t      *testing.T
	m      *mep.MEP
	root   string
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg mep.Config) *site {
	t.Helper()
	cfg.HTTPAddr = "127.0.0.1:0"
	if cfg.DNSAddr == "" {
		cfg.DNSAddr = "127.0.0.1:0"
	}
	cfg.OperatorToken = opToken
	tel, err := obs.Setup(t.Context(), obs.Options{ServiceName: "mep", LogLevel: "warn", Out: io.Discard})
	require.NoError(t, err)
	m, err := mep.New(t.Context(), cfg, tel)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s := &site{t: t, m: m, root: m.APIRoot(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- m.Run(ctx) }()
	t.Cleanup(s.stop)
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.root + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond)
	return s
}

func (s *site) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	select {
	case err := <-s.done:
		require.NoError(s.t, err)
	case <-time.After(20 * time.Second):
		s.t.Error("MEP did not stop within 20s")
	}
	s.cancel = nil
}

// call makes a request and decodes a JSON answer into out (when not nil). It returns the
// status and headers.
func (s *site) call(token, method, path string, body any, out any) (int, http.Header) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(s.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.root+path, rd)
	require.NoError(s.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	s.t.Logf("%s %s -> %d %s", method, path, resp.StatusCode, b)
	if out != nil && len(b) > 0 && resp.StatusCode < 300 {
		require.NoError(s.t, json.Unmarshal(b, out), "body: %s", b)
	}
	if resp.StatusCode >= 400 {
		require.Equal(s.t, "application/problem+json", resp.Header.Get("Content-Type"), "error body: %s", b)
	}
	return resp.StatusCode, resp.Header
}

// provision creates an app instance over Mm5 and returns an Mp1 token for it.
func (s *site) provision(id string, spec map[string]any) string {
	s.t.Helper()
	var rec struct {
		Credentials struct{ ClientId, ClientSecret, TokenEndpoint string }
	}
	st, _ := s.call(opToken, "PUT", "/mepm/v1/app_instances/"+id, spec, &rec)
	require.Contains(s.t, []int{200, 201}, st)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {rec.Credentials.ClientId},
		"client_secret": {rec.Credentials.ClientSecret}}
	resp, err := http.PostForm(rec.Credentials.TokenEndpoint, form)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	require.Equal(s.t, 200, resp.StatusCode)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&tok))
	require.NotEmpty(s.t, tok.AccessToken)
	return tok.AccessToken
}

// inbox is a notification receiver.
type inbox struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []map[string]any
	ch  chan map[string]any
}

func newInbox(t *testing.T) *inbox {
	in := &inbox{ch: make(chan map[string]any, 100)}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			w.WriteHeader(400)
			return
		}
		in.mu.Lock()
		in.got = append(in.got, m)
		in.mu.Unlock()
		in.ch <- m
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(in.srv.Close)
	return in
}

func (in *inbox) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m := <-in.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10s")
		return nil
	}
}

func appSpec(extra map[string]any) map[string]any {
	m := map[string]any{"appName": "app", "appProvider": "acme", "appDId": "appd-1",
		"appServiceProduced": []map[string]any{{"serName": "location", "version": "1.0"}, {"serName": "video", "version": "1.0"},
			{"serName": "loc", "version": "1.0"}, {"serName": "pg-svc", "version": "1.0"}}}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func serviceBody(name string) map[string]any {
	return map[string]any{
		"serName": name, "version": "1.0", "state": "ACTIVE", "serializer": "JSON",
		"transportInfo": map[string]any{"id": "t1", "name": "rest", "type": "REST_HTTP", "protocol": "HTTP",
			"version": "2.0", "endpoint": map[string]any{"uris": []string{"http://10.0.0.5:8080/loc"}}, "security": map[string]any{}},
	}
}

// TestWholeFlow is the life of an app on a site, through the real HTTP APIs: provision via
// Mm5 → the app gets a token → confirm_ready → registers a service → a second app's
// subscription receives ADDED → Mm5 DELETE → the app receives AppTerminationNotification →
// confirm_termination → REMOVED to the second app → the instance is gone.
func TestWholeFlow(t *testing.T) {
	s := start(t, mep.Config{DataDir: t.TempDir(), DNSAddr: "off"})
	producer := s.provision("producer-1", appSpec(nil))
	consumer := s.provision("consumer-1", appSpec(map[string]any{
		"appServiceRequired": []map[string]any{{"serName": "location", "version": "1.0"}},
	}))

	st, _ := s.call(producer, "POST", "/mec_app_support/v1/applications/producer-1/confirm_ready", map[string]any{"indication": "READY"}, nil)
	require.Equal(t, 204, st)

	consumerInbox, producerInbox := newInbox(t), newInbox(t)
	st, hdr := s.call(consumer, "POST", "/mec_service_mgmt/v1/applications/consumer-1/subscriptions", map[string]any{
		"subscriptionType": "SerAvailabilityNotificationSubscription", "callbackReference": consumerInbox.srv.URL,
		"filteringCriteria": map[string]any{"serNames": []string{"location"}},
	}, nil)
	require.Equal(t, 201, st)
	require.Contains(t, hdr.Get("Location"), "/mec_service_mgmt/v1/applications/consumer-1/subscriptions/")
	st, _ = s.call(producer, "POST", "/mec_app_support/v1/applications/producer-1/subscriptions", map[string]any{
		"subscriptionType": "AppTerminationNotificationSubscription", "callbackReference": producerInbox.srv.URL,
		"appInstanceId": "producer-1",
	}, nil)
	require.Equal(t, 201, st)

	var svc struct {
		SerInstanceId string
		Links         struct{ Self struct{ Href string } } `json:"_links"`
	}
	st, hdr = s.call(producer, "POST", "/mec_service_mgmt/v1/applications/producer-1/services", serviceBody("location"), &svc)
	require.Equal(t, 201, st)
	require.NotEmpty(t, hdr.Get("ETag"))
	require.Equal(t, hdr.Get("Location"), svc.Links.Self.Href)

	n := consumerInbox.next(t)
	require.Equal(t, "SerAvailabilityNotification", n["notificationType"])
	ref := n["serviceReferences"].([]any)[0].(map[string]any)
	require.Equal(t, "ADDED", ref["changeType"])
	require.Equal(t, svc.SerInstanceId, ref["serInstanceId"])

	// The consumer discovers the service it declared; the producer's token cannot act for it.
	var found []map[string]any
	st, _ = s.call(consumer, "GET", "/mec_service_mgmt/v1/services?ser_name=location", nil, &found)
	require.Equal(t, 200, st)
	require.Len(t, found, 1)
	st, _ = s.call(producer, "GET", "/mec_service_mgmt/v1/applications/consumer-1/subscriptions", nil, nil)
	require.Equal(t, 404, st, "to an app, another app's resources do not exist")

	st, _ = s.call(opToken, "DELETE", "/mepm/v1/app_instances/producer-1?graceful_timeout=30", nil, nil)
	require.Equal(t, 202, st)
	term := producerInbox.next(t)
	require.Equal(t, "AppTerminationNotification", term["notificationType"])
	require.Equal(t, "TERMINATING", term["operationAction"])
	require.EqualValues(t, 30, term["maxGracefulTimeout"])

	// Until it confirms, the instance is still there (TERMINATING).
	var rec struct{ State string }
	st, _ = s.call(opToken, "GET", "/mepm/v1/app_instances/producer-1", nil, &rec)
	require.Equal(t, 200, st)
	require.Equal(t, "TERMINATING", rec.State)

	st, _ = s.call(producer, "POST", "/mec_app_support/v1/applications/producer-1/confirm_termination",
		map[string]any{"operationAction": "TERMINATING"}, nil)
	require.Equal(t, 204, st)
	n = consumerInbox.next(t)
	ref = n["serviceReferences"].([]any)[0].(map[string]any)
	require.Equal(t, "REMOVED", ref["changeType"])
	require.Equal(t, svc.SerInstanceId, ref["serInstanceId"])

	st, _ = s.call(opToken, "GET", "/mepm/v1/app_instances/producer-1", nil, nil)
	require.Equal(t, 404, st)
	st, _ = s.call(opToken, "GET", "/mec_service_mgmt/v1/services/"+svc.SerInstanceId, nil, nil)
	require.Equal(t, 404, st)
	// The terminated app's token no longer opens anything.
	st, _ = s.call(producer, "GET", "/mec_app_support/v1/applications/producer-1/traffic_rules", nil, nil)
	require.Equal(t, 401, st)
}

// TestTerminationTimeout: an app that never confirms is removed after maxGracefulTimeout.
func TestTerminationTimeout(t *testing.T) {
	s := start(t, mep.Config{DataDir: t.TempDir(), DNSAddr: "off"})
	tok := s.provision("slow-1", appSpec(nil))
	in := newInbox(t)
	st, _ := s.call(tok, "POST", "/mec_app_support/v1/applications/slow-1/subscriptions", map[string]any{
		"subscriptionType": "AppTerminationNotificationSubscription", "callbackReference": in.srv.URL, "appInstanceId": "slow-1",
	}, nil)
	require.Equal(t, 201, st)
	start := time.Now()
	st, _ = s.call(opToken, "DELETE", "/mepm/v1/app_instances/slow-1?graceful_timeout=1", nil, nil)
	require.Equal(t, 202, st)
	in.next(t)
	require.Eventually(t, func() bool {
		st, _ := s.call(opToken, "GET", "/mepm/v1/app_instances/slow-1", nil, nil)
		return st == 404
	}, 10*time.Second, 50*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), time.Second, "removed before the graceful timeout")
}

// TestRestart: a MEP restarted on the same data dir keeps apps, services, subscriptions and
// credentials, and delivers notifications queued while the subscriber was down.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	s := start(t, mep.Config{DataDir: dir, DNSAddr: "off"})
	tok := s.provision("app-1", appSpec(map[string]any{
		"appTrafficRule": []map[string]any{{"trafficRuleId": "tr1", "filterType": "FLOW", "priority": 1,
			"trafficFilter": []map[string]any{{"dstAddress": []string{"10.9.0.0/16"}}}, "action": "FORWARD_DECAPSULATED",
			"dstInterface": []map[string]any{{"interfaceType": "IP", "dstIpAddress": "10.9.0.1"}}}},
	}))
	// A subscriber that is down: its notification stays queued.
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	st, _ := s.call(tok, "POST", "/mec_service_mgmt/v1/applications/app-1/subscriptions", map[string]any{
		"subscriptionType": "SerAvailabilityNotificationSubscription", "callbackReference": downURL + "/cb",
	}, nil)
	require.Equal(t, 201, st)
	var svc struct{ SerInstanceId string }
	st, _ = s.call(tok, "POST", "/mec_service_mgmt/v1/applications/app-1/services", serviceBody("video"), &svc)
	require.Equal(t, 201, st)
	var feed struct{ Version int64 }
	s.call(opToken, "GET", "/mepm/v1/feeds/traffic_rules", nil, &feed)
	require.Positive(t, feed.Version)
	s.stop()

	// The subscriber comes back on the same address.
	ln, err := net.Listen("tcp", strings.TrimPrefix(downURL, "http://"))
	require.NoError(t, err)
	got := make(chan map[string]any, 10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		got <- m
		w.WriteHeader(204)
	})}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })

	s2 := start(t, mep.Config{DataDir: dir, DNSAddr: "off"})
	// The old token still works (the site key survived) and the service is still registered.
	var found []map[string]any
	st, _ = s2.call(tok, "GET", "/mec_service_mgmt/v1/applications/app-1/services", nil, &found)
	require.Equal(t, 200, st)
	require.Len(t, found, 1)
	require.Equal(t, svc.SerInstanceId, found[0]["serInstanceId"])
	var feed2 struct{ Version int64 }
	s2.call(opToken, "GET", "/mepm/v1/feeds/traffic_rules", nil, &feed2)
	require.Equal(t, feed.Version, feed2.Version, "feed version must survive a restart")
	select {
	case m := <-got:
		require.Equal(t, "SerAvailabilityNotification", m["notificationType"])
	case <-time.After(15 * time.Second):
		t.Fatal("queued notification not delivered after restart")
	}
}

// TestTrafficFeedLongPoll: a follower waiting on the current version is answered as soon as
// a rule changes over Mp1.
func TestTrafficFeedLongPoll(t *testing.T) {
	s := start(t, mep.Config{DataDir: t.TempDir(), DNSAddr: "off"})
	tok := s.provision("app-1", appSpec(map[string]any{
		"appTrafficRule": []map[string]any{{"trafficRuleId": "tr1", "filterType": "FLOW", "priority": 1,
			"trafficFilter": []map[string]any{{"dstAddress": []string{"10.9.0.0/16"}}}, "action": "FORWARD_DECAPSULATED",
			"dstInterface": []map[string]any{{"interfaceType": "IP", "dstIpAddress": "10.9.0.1"}}}},
	}))
	var snap struct {
		Version int64
		Rules   []struct{ TrafficRule struct{ State string } }
	}
	s.call(opToken, "GET", "/mepm/v1/feeds/traffic_rules", nil, &snap)
	require.Len(t, snap.Rules, 1)
	v := snap.Version
	type result struct {
		version int64
		state   string
		took    time.Duration
	}
	res := make(chan result, 1)
	go func() {
		t0 := time.Now()
		var s2 struct {
			Version int64
			Rules   []struct{ TrafficRule struct{ State string } }
		}
		s.call(opToken, "GET", "/mepm/v1/feeds/traffic_rules?after="+itoa(v)+"&timeout=20", nil, &s2)
		res <- result{s2.Version, s2.Rules[0].TrafficRule.State, time.Since(t0)}
	}()
	time.Sleep(200 * time.Millisecond) // let the follower park
	st, _ := s.call(tok, "PUT", "/mec_app_support/v1/applications/app-1/traffic_rules/tr1", map[string]any{
		"trafficRuleId": "ignored-path-wins", "filterType": "FLOW", "priority": 1, "state": "INACTIVE",
		"trafficFilter": []map[string]any{{"dstAddress": []string{"10.9.0.0/16"}}}, "action": "FORWARD_DECAPSULATED",
		"dstInterface": []map[string]any{{"interfaceType": "IP", "dstIpAddress": "10.9.0.1"}},
	}, nil)
	require.Equal(t, 200, st)
	r := <-res
	require.Equal(t, v+1, r.version)
	require.Equal(t, "INACTIVE", r.state)
	require.Less(t, r.took, 5*time.Second, "long poll was not woken by the change")
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

// TestDNSFlow is issue 3's whole flow over real sockets: Mm5 PUT → the rule is answered over
// UDP and TCP → Mp1 PUT state INACTIVE → the name is forwarded to the upstream again; and
// two apps claiming one name show up as a conflict with a deterministic winner.
func TestDNSFlow(t *testing.T) {
	upstream := startUpstream(t, "203.0.113.9")
	s := start(t, mep.Config{DataDir: t.TempDir(), DNSUpstreams: []string{upstream}})
	udp, tcp := s.m.DNSAddr()
	tok := s.provision("edge-app", appSpec(map[string]any{
		"appDNSRule": []map[string]any{{"dnsRuleId": "dr1", "domainName": "Video.Mec.Example.", "ipAddressType": "IP_V4",
			"ipAddress": "10.10.0.7", "ttl": 15}},
	}))
	ask := func(net, addr string) (string, uint32) {
		t.Helper()
		c := &dns.Client{Net: net, Timeout: 3 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion("video.mec.example.", dns.TypeA)
		r, _, err := c.Exchange(m, addr)
		require.NoError(t, err)
		require.Equal(t, dns.RcodeSuccess, r.Rcode)
		require.Len(t, r.Answer, 1)
		a := r.Answer[0].(*dns.A)
		return a.A.String(), a.Hdr.Ttl
	}
	ip, ttl := ask("udp", udp.String())
	require.Equal(t, "10.10.0.7", ip)
	require.EqualValues(t, 15, ttl)
	ip, _ = ask("tcp", tcp.String())
	require.Equal(t, "10.10.0.7", ip)

	t0 := time.Now()
	st, _ := s.call(tok, "PUT", "/mec_app_support/v1/applications/edge-app/dns_rules/dr1", map[string]any{
		"dnsRuleId": "dr1", "domainName": "video.mec.example", "ipAddressType": "IP_V4", "ipAddress": "10.10.0.7", "state": "INACTIVE",
	}, nil)
	require.Equal(t, 200, st)
	ip, _ = ask("udp", udp.String())
	require.Equal(t, "203.0.113.9", ip, "an INACTIVE rule must be forwarded")
	require.Less(t, time.Since(t0), time.Second)

	// Two apps claim one name: the older rule wins, deterministically, and Mm5 shows it.
	s.provision("second-app", appSpec(map[string]any{
		"appDNSRule": []map[string]any{{"dnsRuleId": "x", "domainName": "shared.mec.example", "ipAddressType": "IP_V4", "ipAddress": "10.10.0.2"}},
	}))
	time.Sleep(5 * time.Millisecond)
	s.provision("third-app", appSpec(map[string]any{
		"appDNSRule": []map[string]any{{"dnsRuleId": "y", "domainName": "shared.mec.example", "ipAddressType": "IP_V4", "ipAddress": "10.10.0.3"}},
	}))
	var conflicts []struct {
		DomainName string
		Winner     struct{ AppInstanceId string }
		Losers     []struct{ AppInstanceId string }
	}
	st, _ = s.call(opToken, "GET", "/mepm/v1/dns/conflicts", nil, &conflicts)
	require.Equal(t, 200, st)
	require.Len(t, conflicts, 1)
	require.Equal(t, "second-app", conflicts[0].Winner.AppInstanceId)
	require.Equal(t, "third-app", conflicts[0].Losers[0].AppInstanceId)
	for range 5 {
		c := &dns.Client{Timeout: 3 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion("shared.mec.example.", dns.TypeA)
		r, _, err := c.Exchange(m, udp.String())
		require.NoError(t, err)
		require.Equal(t, "10.10.0.2", r.Answer[0].(*dns.A).A.String())
	}
}

// startUpstream runs a resolver that answers every A query with ip.
func startUpstream(t *testing.T, ip string) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A: net.ParseIP(ip)})
		_ = w.WriteMsg(m)
	})}
	go srv.ActivateAndServe() //nolint:errcheck
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestPostgresBackend runs a MEP on PostgreSQL through provisioning, registration and a
// restart, to check the optional backend end to end.
func TestPostgresBackend(t *testing.T) {
	dsn := pgtest.New(t)
	s := start(t, mep.Config{PostgresDSN: dsn, DNSAddr: "off"})
	tok := s.provision("pg-app", appSpec(nil))
	var svc struct{ SerInstanceId string }
	st, _ := s.call(tok, "POST", "/mec_service_mgmt/v1/applications/pg-app/services", serviceBody("pg-svc"), &svc)
	require.Equal(t, 201, st)
	s.stop()
	s2 := start(t, mep.Config{PostgresDSN: dsn, DNSAddr: "off"})
	var found []map[string]any
	st, _ = s2.call(tok, "GET", "/mec_service_mgmt/v1/services?ser_name=pg-svc", nil, &found)
	require.Equal(t, 200, st)
	require.Len(t, found, 1)
	require.Equal(t, svc.SerInstanceId, found[0]["serInstanceId"])
}

func TestConfigValidateReportsAll(t *testing.T) {
	err := (&mep.Config{TLSCertFile: "x", HTTPAddr: "nope", GracefulTimeout: -1}).Validate()
	require.Error(t, err)
	for _, want := range []string{"operator token", "data dir", "TLS", "http addr", "graceful timeout"} {
		require.Contains(t, err.Error(), want)
	}
}

// TestTLS: with a certificate and key the MEP serves HTTPS only.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	s := startTLS(t, mep.Config{DataDir: dir, DNSAddr: "off", TLSCertFile: certFile, TLSKeyFile: keyFile})
	require.True(t, strings.HasPrefix(s, "https://"), "apiRoot %s", s)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(s + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NotNil(t, resp.TLS)
	// Plain HTTP on the same port gets no API.
	resp, err = http.Get(strings.Replace(s, "https://", "http://", 1) + "/readyz")
	if err == nil {
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP must not be served")
	}
}

func startTLS(t *testing.T, cfg mep.Config) string {
	cfg.HTTPAddr, cfg.OperatorToken = "127.0.0.1:0", opToken
	tel, err := obs.Setup(t.Context(), obs.Options{ServiceName: "mep", LogLevel: "error", Out: io.Discard})
	require.NoError(t, err)
	m, err := mep.New(t.Context(), cfg, tel)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return m.APIRoot()
}

func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mep"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestDNSAfterRestart: a restarted MEP answers the stored DNS rules from its first query.
func TestDNSAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s := start(t, mep.Config{DataDir: dir})
	s.provision("dns-app", appSpec(map[string]any{
		"appDNSRule": []map[string]any{{"dnsRuleId": "r", "domainName": "kept.mec.example", "ipAddressType": "IP_V6", "ipAddress": "2001:db8::7"}},
	}))
	s.stop()
	s2 := start(t, mep.Config{DataDir: dir})
	udp, _ := s2.m.DNSAddr()
	m := new(dns.Msg)
	m.SetQuestion("kept.mec.example.", dns.TypeAAAA)
	r, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(m, udp.String())
	require.NoError(t, err)
	require.Len(t, r.Answer, 1)
	require.Equal(t, "2001:db8::7", r.Answer[0].(*dns.AAAA).AAAA.String())
}

// TestDNSClientSubnets: a rule limited to UE prefixes answers those UEs locally and forwards
// the name for everyone else (the same name, two answers).
func TestDNSClientSubnets(t *testing.T) {
	upstream := startUpstream(t, "203.0.113.50")
	s := start(t, mep.Config{DataDir: t.TempDir(), DNSUpstreams: []string{upstream}})
	udp, _ := s.m.DNSAddr()
	s.provision("local-app", appSpec(map[string]any{
		"appDNSRule":           []map[string]any{{"dnsRuleId": "r1", "domainName": "edge.mec.example", "ipAddressType": "IP_V4", "ipAddress": "10.10.0.9"}},
		"dnsRuleClientSubnets": map[string]any{"r1": []string{"127.0.0.2/32"}},
	}))
	ask := func(from string) string {
		t.Helper()
		c := &dns.Client{Timeout: 3 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}}}
		m := new(dns.Msg)
		m.SetQuestion("edge.mec.example.", dns.TypeA)
		r, _, err := c.Exchange(m, udp.String())
		require.NoError(t, err)
		require.Len(t, r.Answer, 1)
		return r.Answer[0].(*dns.A).A.String()
	}
	require.Equal(t, "10.10.0.9", ask("127.0.0.2"), "a UE inside the prefix gets the local app")
	require.Equal(t, "203.0.113.50", ask("127.0.0.3"), "others get the upstream's answer")

	var rec struct{ DnsRuleClientSubnets map[string][]string }
	st, _ := s.call(opToken, "GET", "/mepm/v1/app_instances/local-app", nil, &rec)
	require.Equal(t, 200, st)
	require.Equal(t, []string{"127.0.0.2/32"}, rec.DnsRuleClientSubnets["r1"])
	st, _ = s.call(opToken, "PUT", "/mepm/v1/app_instances/bad", appSpec(map[string]any{
		"dnsRuleClientSubnets": map[string]any{"nope": []string{"10.0.0.0/8"}}}), nil)
	require.Equal(t, 400, st, "subnets for an unknown rule")
}
