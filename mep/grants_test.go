package mep_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/api/openapi"
	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/mep"
)

// send makes a request and returns the status and the raw body; an error body must be a
// ProblemDetails.
func (s *site) send(token, method, path string, body any) (int, []byte) {
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
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusUnauthorized || resp.StatusCode == http.StatusUnauthorized && path != "/oauth2/token" {
		require.Equal(s.t, "application/problem+json", resp.Header.Get("Content-Type"), "error body: %s", b)
	}
	return resp.StatusCode, b
}

// resolve asks the site DNS for name's A record and returns the answers.
func (s *site) resolve(name string) []string {
	s.t.Helper()
	udp, _ := s.m.DNSAddr()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(m, udp.String())
	require.NoError(s.t, err)
	out := []string{}
	for _, a := range r.Answer {
		if rr, ok := a.(*dns.A); ok {
			out = append(out, rr.A.String())
		}
	}
	return out
}

func grantedRule(dst string) map[string]any {
	return map[string]any{
		"trafficRuleId": "tr1", "filterType": "FLOW", "priority": 10, "action": "FORWARD_DECAPSULATED",
		"trafficFilter": []any{map[string]any{"dstAddress": []string{dst}, "dstPort": []string{"80"}, "protocol": []string{"TCP"}}},
		"dstInterface":  []any{map[string]any{"interfaceType": "IP", "dstIpAddress": "10.20.0.1"}},
	}
}

func withRule(mut func(r map[string]any, f map[string]any)) map[string]any {
	r := grantedRule("10.20.0.0/24")
	r["state"] = "ACTIVE"
	f := r["trafficFilter"].([]any)[0].(map[string]any)
	mut(r, f)
	return r
}

// TestAppActsOnlyWithinGrant plays the attacks of issue 15 §1 against a real MEP and its
// site DNS: an app that tries to take every UE's traffic, another app's DNS name or service
// gets 403 naming the field, nothing changes on the site, and what stays inside the grant
// (narrowing, toggling, moving the address within the app ranges) still works. The
// operator widens a grant over Mm5 and registers anything.
func TestAppActsOnlyWithinGrant(t *testing.T) {
	s := start(t, mep.Config{DataDir: t.TempDir(), AppAddressRanges: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}})
	s.provision("victim", map[string]any{"appName": "v", "appProvider": "acme", "appDId": "appd-v",
		"appDNSRule":         []any{map[string]any{"dnsRuleId": "d", "domainName": "bank.mec.example", "ipAddressType": "IP_V4", "ipAddress": "10.30.0.2"}},
		"appServiceProduced": []any{map[string]any{"serName": "payments", "version": "1"}},
	})
	spec := map[string]any{"appName": "a", "appProvider": "acme", "appDId": "appd-a",
		"appTrafficRule": []any{grantedRule("10.20.0.0/24")},
		"appDNSRule":     []any{map[string]any{"dnsRuleId": "d", "domainName": "game.mec.example", "ipAddressType": "IP_V4", "ipAddress": "10.20.0.1"}},
		"appServiceProduced": []any{map[string]any{"serName": "scores", "version": "1",
			"serCategory": map[string]any{"href": "http://cat/games", "id": "games", "name": "games", "version": "1"}}},
	}
	tok := s.provision("attacker", spec)
	rules := "/mec_app_support/v1/applications/attacker/traffic_rules/tr1"
	feed := func() string {
		_, b := s.send(opToken, "GET", "/mepm/v1/feeds/traffic_rules?timeout=0", nil)
		var snap struct{ Rules []json.RawMessage }
		require.NoError(t, json.Unmarshal(b, &snap))
		return string(snap.Rules[0])
	}
	before := feed()

	ports := make([]string, 64)
	for i := range ports {
		ports[i] = fmt.Sprint(1000 + i)
	}
	refused := []struct {
		name, field string
		body        map[string]any
	}{
		{"every UE's traffic dropped", "/priority", withRule(func(r, f map[string]any) {
			r["action"], r["priority"] = "DROP", 0
			delete(r, "dstInterface")
			f["dstAddress"] = []string{"0.0.0.0/0", "::/0"}
		})},
		{"every destination", "/trafficFilter/0/dstAddress/0", withRule(func(_, f map[string]any) {
			f["dstAddress"] = []string{"0.0.0.0/0", "::/0"}
		})},
		{"strongest priority", "/priority", withRule(func(r, _ map[string]any) { r["priority"] = 0 })},
		{"filter left open", "/trafficFilter/0/dstAddress", withRule(func(_, f map[string]any) { delete(f, "dstAddress") })},
		{"64 ports for the candidate limit", "/trafficFilter/0/dstPort", withRule(func(_, f map[string]any) { f["dstPort"] = ports })},
		{"other protocol", "/trafficFilter/0/protocol/0", withRule(func(_, f map[string]any) { f["protocol"] = []string{"UDP"} })},
		{"traffic sent to another app", "/dstInterface/0", withRule(func(r, _ map[string]any) {
			r["dstInterface"] = []any{map[string]any{"interfaceType": "IP", "dstIpAddress": "10.30.0.2"}}
		})},
		{"other tunnel scope", "/trafficFilter/0/tag", withRule(func(_, f map[string]any) { f["tag"] = []string{"7"} })},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			st, b := s.send(tok, "PUT", rules, tc.body)
			require.Equal(t, http.StatusForbidden, st, "body %s", b)
			var p struct{ Detail string }
			require.NoError(t, json.Unmarshal(b, &p))
			require.Contains(t, p.Detail, tc.field+":", "the problem must name the field beyond the grant")
			require.Equal(t, before, feed(), "a refused change reached the rule feed")
		})
	}

	t.Run("within the grant", func(t *testing.T) {
		narrower := withRule(func(r, f map[string]any) {
			r["action"], r["priority"], r["state"] = "DROP", 20, "INACTIVE"
			delete(r, "dstInterface")
			f["dstAddress"] = []string{"10.20.0.128/25"}
		})
		st, b := s.send(tok, "PUT", rules, narrower)
		require.Equal(t, http.StatusOK, st, "body %s", b)
		require.Contains(t, feed(), "10.20.0.128/25")
		// Narrowed once, the grant is still the measure: the app may widen back to it.
		st, b = s.send(tok, "PUT", rules, withRule(func(_, _ map[string]any) {}))
		require.Equal(t, http.StatusOK, st, "body %s", b)
	})

	dnsPath := "/mec_app_support/v1/applications/attacker/dns_rules/d"
	dnsRule := func(domain, addr string) map[string]any {
		return map[string]any{"dnsRuleId": "d", "domainName": domain, "ipAddressType": "IP_V4", "ipAddress": addr, "state": "ACTIVE"}
	}
	t.Run("another app's domain", func(t *testing.T) {
		st, b := s.send(tok, "PUT", dnsPath, dnsRule("bank.mec.example", "10.20.0.1"))
		require.Equal(t, http.StatusForbidden, st, "body %s", b)
		require.Contains(t, string(b), "/domainName:")
		require.Equal(t, []string{"10.30.0.2"}, s.resolve("bank.mec.example"), "the site DNS answers the owner's address")
	})
	t.Run("address outside the app ranges", func(t *testing.T) {
		st, b := s.send(tok, "PUT", dnsPath, dnsRule("game.mec.example", "10.30.0.2"))
		require.Equal(t, http.StatusForbidden, st, "body %s", b)
		require.Contains(t, string(b), "/ipAddress:")
		require.Equal(t, []string{"10.20.0.1"}, s.resolve("game.mec.example"))
	})
	t.Run("address moved within the app ranges", func(t *testing.T) {
		st, b := s.send(tok, "PUT", dnsPath, dnsRule("game.mec.example", "10.20.7.7"))
		require.Equal(t, http.StatusOK, st, "body %s", b)
		require.Equal(t, []string{"10.20.7.7"}, s.resolve("game.mec.example"))
	})

	services := "/mec_service_mgmt/v1/applications/attacker/services"
	service := func(name string, cat map[string]any) map[string]any {
		b := serviceBody(name)
		if cat != nil {
			b["serCategory"] = cat
		}
		return b
	}
	games := map[string]any{"href": "http://cat/games", "id": "games", "name": "games", "version": "1"}
	t.Run("services", func(t *testing.T) {
		st, b := s.send(tok, "POST", services, service("payments", nil))
		require.Equal(t, http.StatusForbidden, st, "another app's service: %s", b)
		require.Contains(t, string(b), "/serName:")
		st, b = s.send(tok, "POST", services, service("scores", map[string]any{"href": "h", "id": "banking", "name": "b", "version": "1"}))
		require.Equal(t, http.StatusForbidden, st, "declared name, other category: %s", b)
		require.Contains(t, string(b), "/serCategory:")
		st, b = s.send(tok, "POST", services, service("scores", games))
		require.Equal(t, http.StatusCreated, st, "declared service: %s", b)
		var created struct{ SerInstanceId string }
		require.NoError(t, json.Unmarshal(b, &created))
		st, b = s.send(tok, "PUT", services+"/"+created.SerInstanceId, service("payments", games))
		require.Equal(t, http.StatusForbidden, st, "renamed to another app's service: %s", b)
		st, b = s.send(opToken, "POST", services, service("anything", nil))
		require.Equal(t, http.StatusCreated, st, "the operator registers anything: %s", b)
	})

	t.Run("operator widens the grant", func(t *testing.T) {
		wider := withRule(func(_, f map[string]any) { f["dstAddress"] = []string{"10.20.1.0/24"} })
		st, _ := s.send(tok, "PUT", rules, wider)
		require.Equal(t, http.StatusForbidden, st)
		spec["appTrafficRule"] = []any{grantedRule("10.20.0.0/16")}
		st, b := s.send(opToken, "PUT", "/mepm/v1/app_instances/attacker", spec)
		require.Equal(t, http.StatusOK, st, "body %s", b)
		st, b = s.send(tok, "PUT", rules, wider)
		require.Equal(t, http.StatusOK, st, "body %s", b)
	})
}

// TestGrantsFitDataPlane: the sum of all grants always compiles in the UPGW. Sixteen apps
// granted a rule for any destination fill the data plane's candidates (16 per destination
// prefix); a seventeenth grant is refused over Mm5 (409), and an app whose rule is refused
// at that size over Mm5 never reaches the feed.
func TestGrantsFitDataPlane(t *testing.T) {
	s := start(t, mep.Config{DataDir: t.TempDir(), DNSAddr: "off"})
	spec := func(i int) map[string]any {
		return map[string]any{"appName": "a", "appProvider": "acme", "appDId": "appd",
			"appTrafficRule": []any{map[string]any{"trafficRuleId": "any", "filterType": "FLOW", "priority": i, "action": "DROP",
				"trafficFilter": []any{map[string]any{"protocol": []string{"ICMP"}}}}}}
	}
	for i := range 16 {
		st, b := s.send(opToken, "PUT", fmt.Sprintf("/mepm/v1/app_instances/app-%d", i), spec(i))
		require.Equal(t, http.StatusCreated, st, "app %d: %s", i, b)
	}
	st, b := s.send(opToken, "PUT", "/mepm/v1/app_instances/app-16", spec(16))
	require.Equal(t, http.StatusConflict, st, "body %s", b)
	require.Contains(t, string(b), "candidate filters")
	// Replacing an existing grant by one of the same size is fine.
	st, b = s.send(opToken, "PUT", "/mepm/v1/app_instances/app-3", spec(30))
	require.Equal(t, http.StatusOK, st, "body %s", b)

	// One rule that expands past the data plane's per-rule limit is refused at once, with
	// its field (before, the MEP stored it and the UPGW refused it).
	many := make([]string, 20)
	for i := range many {
		many[i] = fmt.Sprint(2000 + i)
	}
	big := map[string]any{"appName": "a", "appProvider": "acme", "appDId": "appd",
		"appTrafficRule": []any{map[string]any{"trafficRuleId": "big", "filterType": "FLOW", "priority": 1, "action": "DROP",
			"trafficFilter": []any{map[string]any{"dstAddress": []string{"10.9.0.0/16"}, "protocol": []string{"TCP"}, "srcPort": many, "dstPort": many}}}}}
	st, b = s.send(opToken, "PUT", "/mepm/v1/app_instances/big", big)
	require.Equal(t, http.StatusBadRequest, st, "body %s", b)
	require.Contains(t, string(b), "/appTrafficRule/0/trafficFilter")
}

type credentials struct{ ClientId, ClientSecret, TokenEndpoint string }

// creds provisions (or replaces) an app instance over Mm5 and returns its credentials.
func (s *site) creds(id string, spec map[string]any) credentials {
	s.t.Helper()
	st, b := s.send(opToken, "PUT", "/mepm/v1/app_instances/"+id, spec)
	require.Contains(s.t, []int{200, 201}, st, "body %s", b)
	var rec struct{ Credentials credentials }
	require.NoError(s.t, json.Unmarshal(b, &rec))
	return rec.Credentials
}

// tokenFrom asks for a token from a source address (127.0.0.x) and returns the status,
// the Retry-After header and the token.
func (s *site) tokenFrom(src string, c credentials) (int, string, string) {
	s.t.Helper()
	cl := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext}}
	defer cl.CloseIdleConnections()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientId}, "client_secret": {c.ClientSecret}}
	resp, err := cl.PostForm(s.root+"/oauth2/token", form)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		require.NoError(s.t, json.Unmarshal(b, &tok))
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		require.Equal(s.t, "application/problem+json", resp.Header.Get("Content-Type"), "body %s", b)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), tok.AccessToken
}

// TestCredentialsPerIncarnation: credentials are bound to the incarnation of an instance
// id and to its secret generation. After Mm5 DELETE and a new PUT of the same id (here for
// another app), the old token gets 401 and the old secret issues no token; rotating one
// app's secret over Mm5 revokes its secret and tokens and leaves other apps alone; a
// replace keeps the credentials.
func TestCredentialsPerIncarnation(t *testing.T) {
	s := start(t, mep.Config{DataDir: t.TempDir(), DNSAddr: "off"})
	own := func(tok string) int {
		st, _ := s.send(tok, "GET", "/mec_app_support/v1/applications/app-x/traffic_rules", nil)
		return st
	}
	first := s.creds("app-x", appSpec(nil))
	st, _, tok1 := s.tokenFrom("127.0.0.1", first)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, http.StatusOK, own(tok1))
	bystander := s.provision("app-y", appSpec(nil))

	st, b := s.send(opToken, "DELETE", "/mepm/v1/app_instances/app-x?graceful_timeout=0", nil)
	require.Equal(t, http.StatusAccepted, st, "body %s", b)
	require.Equal(t, http.StatusUnauthorized, own(tok1), "a token of a terminated instance")
	second := s.creds("app-x", map[string]any{"appName": "another-app", "appProvider": "other", "appDId": "appd-other"})
	require.NotEqual(t, first.ClientSecret, second.ClientSecret, "a new incarnation got the old secret")
	require.Equal(t, http.StatusUnauthorized, own(tok1), "the old token works again for the new incarnation")
	st, _, _ = s.tokenFrom("127.0.0.1", first)
	require.Equal(t, http.StatusUnauthorized, st, "the old secret issues tokens for the new incarnation")
	st, _, tok2 := s.tokenFrom("127.0.0.1", second)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, http.StatusOK, own(tok2))
	require.Equal(t, second, s.creds("app-x", map[string]any{"appName": "another-app", "appProvider": "other", "appDId": "appd-other"}),
		"a replace must keep the credentials")

	st, b = s.send(opToken, "POST", "/mepm/v1/app_instances/app-x/rotate_secret", nil)
	require.Equal(t, http.StatusOK, st, "body %s", b)
	var rotated struct{ Credentials credentials }
	require.NoError(t, json.Unmarshal(b, &rotated))
	require.NotEqual(t, second.ClientSecret, rotated.Credentials.ClientSecret)
	require.Equal(t, http.StatusUnauthorized, own(tok2), "a token of the rotated secret")
	st, _, _ = s.tokenFrom("127.0.0.1", second)
	require.Equal(t, http.StatusUnauthorized, st, "the rotated secret")
	st, _, tok3 := s.tokenFrom("127.0.0.1", rotated.Credentials)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, http.StatusOK, own(tok3))
	st, _ = s.send(bystander, "GET", "/mec_app_support/v1/applications/app-y/traffic_rules", nil)
	require.Equal(t, http.StatusOK, st, "another app's token after one app's rotation")
	st, _ = s.send(opToken, "POST", "/mepm/v1/app_instances/ghost/rotate_secret", nil)
	require.Equal(t, http.StatusNotFound, st)
	st, _ = s.send(tok3, "POST", "/mepm/v1/app_instances/app-x/rotate_secret", nil)
	require.Equal(t, http.StatusForbidden, st, "an app rotating over Mm5")
}

// TestTokenRateLimit: failed token requests are limited per client id and per source
// address. After 10 failures for one client id from 127.0.0.1, that client id is refused
// from anywhere (429 + Retry-After), even with its right secret, and so is any client id
// from 127.0.0.1; another client id from another address is served.
func TestTokenRateLimit(t *testing.T) {
	s := start(t, mep.Config{DataDir: t.TempDir(), DNSAddr: "off"})
	a := s.creds("app-a", appSpec(nil))
	b := s.creds("app-b", appSpec(nil))
	wrong := a
	wrong.ClientSecret = "guess"
	for i := range 10 {
		st, _, _ := s.tokenFrom("127.0.0.1", wrong)
		require.Equal(t, http.StatusUnauthorized, st, "failure %d", i)
	}
	for _, tc := range []struct {
		name, src string
		c         credentials
		want      int
	}{
		{"guessing on", "127.0.0.1", wrong, http.StatusTooManyRequests},
		{"same client id, right secret, other address", "127.0.0.2", a, http.StatusTooManyRequests},
		{"other client id, same address", "127.0.0.1", b, http.StatusTooManyRequests},
		{"other client id, other address", "127.0.0.3", b, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, retry, _ := s.tokenFrom(tc.src, tc.c)
			require.Equal(t, tc.want, st)
			if tc.want == http.StatusTooManyRequests {
				n, err := strconv.Atoi(retry)
				require.NoError(t, err, "Retry-After %q", retry)
				require.True(t, n >= 1 && n <= 6, "got Retry-After %d; want 1-6 s", n)
			}
		})
	}
}

// TestDataDirLocked: a second MEP on the data dir of a running one is refused with a clear
// message; after the first stopped, the dir is free again.
func TestDataDirLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet") // created on first start
	s := start(t, mep.Config{DataDir: dir, DNSAddr: "off"})
	tel := telemetry(t)
	_, err := mep.New(t.Context(), mep.Config{DataDir: dir, DNSAddr: "off", HTTPAddr: "127.0.0.1:0", OperatorToken: opToken}, tel)
	require.ErrorContains(t, err, "is in use by another MEP")
	s.stop()
	m, err := mep.New(t.Context(), mep.Config{DataDir: dir, DNSAddr: "off", HTTPAddr: "127.0.0.1:0", OperatorToken: opToken}, tel)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.NoError(t, m.Run(ctx))
}

func telemetry(t *testing.T) *obs.Telemetry {
	tel, err := obs.Setup(t.Context(), obs.Options{ServiceName: "mep", LogLevel: "warn", Out: io.Discard})
	require.NoError(t, err)
	return tel
}

// perAppRoutes returns "METHOD path" for every Mp1 route of api/openapi/mp1.yaml whose
// path names an app instance.
func perAppRoutes(t *testing.T) []string {
	t.Helper()
	var out []string
	path := ""
	for _, l := range strings.Split(string(openapi.MP1), "\n") {
		if strings.HasPrefix(l, "  /") && strings.HasSuffix(l, ":") {
			path = strings.TrimSuffix(strings.TrimSpace(l), ":")
			continue
		}
		if m := strings.TrimSuffix(strings.TrimSpace(l), ":"); len(l) > 4 && l[:4] == "    " && l[4] != ' ' &&
			strings.Contains(path, "{appInstanceId}") && slices.Contains([]string{"get", "put", "post", "delete", "patch"}, m) {
			out = append(out, strings.ToUpper(m)+" "+path)
		}
	}
	require.GreaterOrEqual(t, len(out), 20, "the spec parser found too few routes: %v", out)
	return out
}

// TestOtherAppIsNotFound: an app token that names another app instance gets 404 on every
// per-app route of the spec, with the very answer an instance that does not exist gets,
// so the answer does not reveal which instances exist (before: 403 for an existing one).
func TestOtherAppIsNotFound(t *testing.T) {
	s := start(t, mep.Config{DataDir: t.TempDir(), DNSAddr: "off"})
	tok := s.provision("app-a", appSpec(nil))
	s.provision("app-b", appSpec(nil))
	fill := strings.NewReplacer("{serviceId}", "s1", "{subscriptionId}", "sub1", "{trafficRuleId}", "tr1", "{dnsRuleId}", "d1")
	for _, route := range perAppRoutes(t) {
		method, path, _ := strings.Cut(route, " ")
		t.Run(route, func(t *testing.T) {
			answer := func(id string) (int, string) {
				var body any
				if method != "GET" && method != "DELETE" {
					body = map[string]any{}
				}
				st, b := s.send(tok, method, fill.Replace(strings.ReplaceAll(path, "{appInstanceId}", id)), body)
				var p struct{ Title, Detail string }
				require.NoError(t, json.Unmarshal(b, &p), "body %s", b)
				return st, p.Title + "|" + strings.ReplaceAll(p.Detail, id, "ID")
			}
			stOther, other := answer("app-b")
			stGhost, ghost := answer("app-zz")
			require.Equal(t, http.StatusNotFound, stOther, "another existing app: %s", other)
			require.Equal(t, http.StatusNotFound, stGhost, "an unknown app: %s", ghost)
			require.Equal(t, ghost, other, "the answers for an existing and an unknown instance differ")
		})
	}
	t.Run("POST /registrations of another app", func(t *testing.T) {
		for _, id := range []string{"app-b", "app-zz"} {
			st, b := s.send(tok, "POST", "/mec_app_support/v1/registrations", map[string]any{"appName": "x", "appInstanceId": id})
			require.Equal(t, http.StatusNotFound, st, "%s: %s", id, b)
		}
	})
}

// TestPathIDsAuthoritative: on every route whose body repeats an id of the path, a body id
// that differs is ignored and the answer shows the path id (before: the termination
// subscription answered 400).
func TestPathIDsAuthoritative(t *testing.T) {
	s := start(t, mep.Config{DataDir: t.TempDir(), DNSAddr: "off"})
	tok := s.provision("app-a", appSpec(map[string]any{
		"appTrafficRule": []any{map[string]any{"trafficRuleId": "tr1", "filterType": "FLOW", "priority": 1, "action": "DROP",
			"trafficFilter": []any{map[string]any{"dstAddress": []string{"10.1.0.0/16"}}}}},
		"appDNSRule": []any{map[string]any{"dnsRuleId": "d1", "domainName": "a.mec.example", "ipAddressType": "IP_V4", "ipAddress": "10.1.0.1"}},
	}))
	st, b := s.send(tok, "POST", "/mec_service_mgmt/v1/applications/app-a/services", serviceBody("loc"))
	require.Equal(t, http.StatusCreated, st, "body %s", b)
	var svc struct{ SerInstanceId string }
	require.NoError(t, json.Unmarshal(b, &svc))
	reg := map[string]any{"appName": "app", "appInstanceId": "app-a"}
	st, b = s.send(tok, "POST", "/mec_app_support/v1/registrations", reg)
	require.Equal(t, http.StatusCreated, st, "body %s", b)

	tests := []struct {
		name, method, path, field, want string
		body                            map[string]any
	}{
		{"termination subscription", "POST", "/mec_app_support/v1/applications/app-a/subscriptions", "appInstanceId", "app-a",
			map[string]any{"subscriptionType": "AppTerminationNotificationSubscription", "callbackReference": "http://127.0.0.1:9/cb", "appInstanceId": "app-b"}},
		{"traffic rule", "PUT", "/mec_app_support/v1/applications/app-a/traffic_rules/tr1", "trafficRuleId", "tr1",
			map[string]any{"trafficRuleId": "other", "filterType": "FLOW", "priority": 1, "action": "DROP", "state": "INACTIVE",
				"trafficFilter": []any{map[string]any{"dstAddress": []string{"10.1.0.0/16"}}}}},
		{"DNS rule", "PUT", "/mec_app_support/v1/applications/app-a/dns_rules/d1", "dnsRuleId", "d1",
			map[string]any{"dnsRuleId": "other", "domainName": "a.mec.example", "ipAddressType": "IP_V4", "ipAddress": "10.1.0.1", "state": "INACTIVE"}},
		{"service", "PUT", "/mec_service_mgmt/v1/applications/app-a/services/" + svc.SerInstanceId, "serInstanceId", svc.SerInstanceId,
			func() map[string]any { b := serviceBody("loc"); b["serInstanceId"] = "other"; return b }()},
		{"registration", "PUT", "/mec_app_support/v1/registrations/app-a", "appInstanceId", "app-a",
			map[string]any{"appName": "app", "appInstanceId": "app-b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, b := s.send(tok, tc.method, tc.path, tc.body)
			require.Contains(t, []int{http.StatusOK, http.StatusCreated}, st, "body %s", b)
			var got map[string]any
			require.NoError(t, json.Unmarshal(b, &got))
			require.Equal(t, tc.want, got[tc.field], "the answer must show the path id")
		})
	}
}
