package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

func TestRequireFields(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"all present", `{"a":1,"b":0}`, true},
		{"zero number counts", `{"a":0,"b":false}`, true},
		{"missing", `{"a":1}`, false},
		{"null", `{"a":1,"b":null}`, false},
		{"not an object", `[1]`, false},
		{"not json", `{`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := platform.RequireFields([]byte(tt.body), "X", "a", "b")
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, platform.ErrInvalid)
		})
	}
}

func TestValidDomainName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"example.com", true},
		{"example.com.", true},
		{"*.example.com", true},
		{"a_b.example", true},
		{"x", true},
		{strings.Repeat("a", 63) + ".example", true},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 127) + "a", false}, // 255 bytes
		{"", false},
		{".", false},
		{"a..b", false},
		{"-a.example", false},
		{"a-.example", false},
		{"a.*.example", false},
		{"ex ample.com", false},
		{"exämple.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := platform.ValidDomainName(tt.in)
			require.Equal(t, tt.want, got, "ValidDomainName(%q) = %v; want %v", tt.in, got, tt.want)
		})
	}
}

func TestValidAppInstanceID(t *testing.T) {
	for in, want := range map[string]bool{
		"app-1": true, "A.b_c": true, strings.Repeat("a", 128): true,
		"": false, strings.Repeat("a", 129): false, "a/b": false, "a b": false, "a%2F": false, "ä": false,
	} {
		require.Equal(t, want, platform.ValidAppInstanceID(in), "ValidAppInstanceID(%q); want %v", in, want)
	}
}

func TestCallbackURL(t *testing.T) {
	for in, want := range map[string]bool{
		"http://a/cb": true, "https://a:8443/cb?x=1": true, "http://[::1]:80/": true,
		"": false, "/cb": false, "ftp://a/cb": false, "http://": false, "http//a": false,
		"http://a/" + strings.Repeat("x", 2048): false,
	} {
		err := platform.CallbackURL("cb", in)
		require.Equal(t, want, err == nil, "CallbackURL(%q) = %v; want ok=%v", in, err, want)
	}
}

func TestValidateTrafficRule(t *testing.T) {
	valid := func() mp1api.TrafficRule {
		return mp1api.TrafficRule{TrafficRuleId: "r", FilterType: mp1api.FLOW, Priority: 1, Action: mp1api.DROP,
			State: mp1api.RuleStateACTIVE, TrafficFilter: []mp1api.TrafficFilter{{}}}
	}
	strs := func(s ...string) *[]string { return &s }
	num := func(n int) *int { return &n }
	tests := []struct {
		name string
		mut  func(*mp1api.TrafficRule)
		ok   bool
	}{
		{"minimal", func(*mp1api.TrafficRule) {}, true},
		{"full filter", func(r *mp1api.TrafficRule) {
			r.TrafficFilter[0] = mp1api.TrafficFilter{SrcAddress: strs("10.0.0.1", "10.0.0.0/8", "2001:db8::/32"),
				DstPort: strs("1", "65535", "10-20", " 30 - 40 "), Protocol: strs("tcp", "UDP", "132", "ANY"),
				Tag: strs("0xffffffff", "12"), QCI: num(255), DSCP: num(63), TC: num(0)}
		}, true},
		{"empty id", func(r *mp1api.TrafficRule) { r.TrafficRuleId = "" }, false},
		{"bad filterType", func(r *mp1api.TrafficRule) { r.FilterType = "X" }, false},
		{"missing action", func(r *mp1api.TrafficRule) { r.Action = "" }, false},
		{"missing state", func(r *mp1api.TrafficRule) { r.State = "" }, false},
		{"priority 256", func(r *mp1api.TrafficRule) { r.Priority = 256 }, false},
		{"no filter", func(r *mp1api.TrafficRule) { r.TrafficFilter = nil }, false},
		{"65 filters", func(r *mp1api.TrafficRule) { r.TrafficFilter = make([]mp1api.TrafficFilter, 65) }, false},
		{"bad prefix", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].DstAddress = strs("10.0.0.0/33") }, false},
		{"zoned address", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].SrcAddress = strs("fe80::1%eth0") }, false},
		{"port 0x10", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].SrcPort = strs("0x10") }, false},
		{"port range reversed", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].SrcPort = strs("9-1") }, false},
		{"protocol 256", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].Protocol = strs("256") }, false},
		{"tag too big", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].Tag = strs("4294967296") }, false},
		{"qci negative", func(r *mp1api.TrafficRule) { r.TrafficFilter[0].QCI = num(-1) }, false},
		{"65 addresses", func(r *mp1api.TrafficRule) {
			a := make([]string, 65)
			for i := range a {
				a[i] = "10.0.0.1"
			}
			r.TrafficFilter[0].SrcAddress = &a
		}, false},
		{"tunnel without type", func(r *mp1api.TrafficRule) {
			r.DstInterface = &[]mp1api.DestinationInterface{{InterfaceType: mp1api.TUNNEL, TunnelInfo: &mp1api.TunnelInfo{}}}
		}, false},
		{"interface without type", func(r *mp1api.TrafficRule) { r.DstInterface = &[]mp1api.DestinationInterface{{}} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.mut(&r)
			err := platform.ValidateTrafficRule(&r)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, platform.ErrInvalid)
		})
	}
}

func TestNormalizeTrafficRuleJSON(t *testing.T) {
	tests := []struct {
		name, in, wantDst string
		err               bool
	}{
		{"object becomes array", `{"dstInterface":{"interfaceType":"IP"}}`, `[{"interfaceType":"IP"}]`, false},
		{"array unchanged", `{"dstInterface":[{"interfaceType":"IP"}]}`, `[{"interfaceType":"IP"}]`, false},
		{"absent", `{"a":1}`, ``, false},
		{"null kept", `{"dstInterface":null}`, `null`, false},
		{"not an object", `[]`, ``, true},
		{"not json", `{`, ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := platform.NormalizeTrafficRuleJSON([]byte(tt.in))
			if tt.err {
				require.ErrorIs(t, err, platform.ErrInvalid)
				return
			}
			require.NoError(t, err)
			var m map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(out, &m))
			if tt.wantDst == "" {
				require.NotContains(t, m, "dstInterface")
				return
			}
			require.JSONEq(t, tt.wantDst, string(m["dstInterface"]))
		})
	}
}

func TestValidateDNSRule(t *testing.T) {
	valid := func() mp1api.DnsRule {
		return mp1api.DnsRule{DnsRuleId: "d", DomainName: "a.example", IpAddressType: mp1api.IPV4, IpAddress: "10.0.0.1", State: mp1api.RuleStateACTIVE}
	}
	ttl := func(n int) *int { return &n }
	tests := []struct {
		name string
		mut  func(*mp1api.DnsRule)
		ok   bool
	}{
		{"v4", func(*mp1api.DnsRule) {}, true},
		{"v6", func(r *mp1api.DnsRule) { r.IpAddressType, r.IpAddress = mp1api.IPV6, "2001:db8::1" }, true},
		{"v4-mapped as v4", func(r *mp1api.DnsRule) { r.IpAddress = "::ffff:10.0.0.1" }, true},
		{"max ttl", func(r *mp1api.DnsRule) { r.Ttl = ttl(604800) }, true},
		{"ttl too big", func(r *mp1api.DnsRule) { r.Ttl = ttl(604801) }, false},
		{"v6 address typed v4", func(r *mp1api.DnsRule) { r.IpAddress = "2001:db8::1" }, false},
		{"v4 address typed v6", func(r *mp1api.DnsRule) { r.IpAddressType = mp1api.IPV6 }, false},
		{"zone in address", func(r *mp1api.DnsRule) { r.IpAddressType, r.IpAddress = mp1api.IPV6, "fe80::1%eth0" }, false},
		{"no id", func(r *mp1api.DnsRule) { r.DnsRuleId = "" }, false},
		{"bad domain", func(r *mp1api.DnsRule) { r.DomainName = "a b" }, false},
		{"bad state", func(r *mp1api.DnsRule) { r.State = "ON" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.mut(&r)
			err := platform.ValidateDNSRule(&r)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, platform.ErrInvalid)
		})
	}
}

func TestValidateAppInstanceDefaults(t *testing.T) {
	a := mm5api.AppInstance{AppName: "a", AppProvider: "p", AppDId: "d",
		AppTrafficRule: &[]mp1api.TrafficRule{{TrafficRuleId: "r", FilterType: mp1api.FLOW, Action: mp1api.DROP, TrafficFilter: []mp1api.TrafficFilter{{}}}},
		AppDNSRule:     &[]mp1api.DnsRule{{DnsRuleId: "d", DomainName: "x.example", IpAddressType: mp1api.IPV4, IpAddress: "10.0.0.1"}},
	}
	require.NoError(t, platform.ValidateAppInstance(&a))
	require.Equal(t, mp1api.RuleStateACTIVE, (*a.AppTrafficRule)[0].State, "traffic rule state defaults to ACTIVE")
	require.Equal(t, mp1api.RuleStateACTIVE, (*a.AppDNSRule)[0].State, "DNS rule state defaults to ACTIVE")
	dup := append(*a.AppTrafficRule, (*a.AppTrafficRule)[0])
	a.AppTrafficRule = &dup
	require.ErrorIs(t, platform.ValidateAppInstance(&a), platform.ErrInvalid)
}

// TestSiteReload: a new Site on the same store rebuilds apps, services, subscriptions, rule
// state and feed versions.
func TestSiteReload(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st := openStore(t, dir)
	s := newMEP(t, st, platform.Config{})
	_, _, err := s.PutApp(ctx, "app1", mm5api.AppInstance{AppName: "a", AppProvider: "p", AppDId: "d",
		AppDNSRule: &[]mp1api.DnsRule{{DnsRuleId: "d1", DomainName: "x.example", IpAddressType: mp1api.IPV4, IpAddress: "10.0.0.1"}}}, nil)
	require.NoError(t, err)
	subscribe(t, s, "app1", "http://cb/x")
	svc := registerService(t, s, "app1", "svc")
	r, _, err := s.DNSRule("app1", "d1")
	require.NoError(t, err)
	r.State = mp1api.RuleStateINACTIVE
	_, _, err = s.UpdateDNSRule(ctx, "app1", "d1", "", r)
	require.NoError(t, err)
	require.NoError(t, s.ConfirmReady(ctx, "app1", mp1api.AppReadyConfirmation{Indication: "READY"}))
	dnsV := s.DNSFeed(ctx, nil, 0).Version
	var before bytes.Buffer
	require.NoError(t, s.Discover(platform.Operator, "", &platform.Filter{}, &before))
	require.NoError(t, st.Close())

	st = openStore(t, dir)
	defer st.Close()
	s = newMEP(t, st, platform.Config{})
	var after bytes.Buffer
	require.NoError(t, s.Discover(platform.Operator, "", &platform.Filter{}, &after))
	require.JSONEq(t, before.String(), after.String())
	require.Contains(t, after.String(), svc)
	subs, err := s.Subscriptions(platform.SerAvail, "app1")
	require.NoError(t, err)
	require.Len(t, *subs.UnderscoreLinks.Subscriptions, 1)
	rec, err := s.GetApp("app1")
	require.NoError(t, err)
	require.Equal(t, mm5api.READY, rec.State)
	require.Equal(t, mp1api.RuleStateINACTIVE, (*rec.AppDNSRule)[0].State)
	require.Equal(t, dnsV, s.DNSFeed(ctx, nil, 0).Version, "feed version went back after a reload")
	// A long poll on the reloaded version still waits.
	start := time.Now()
	s.DNSFeed(ctx, &dnsV, 100*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}

func TestDomainErrorsAreTyped(t *testing.T) {
	st := newMemStore()
	s := newMEP(t, st, platform.Config{})
	ctx := context.Background()
	_, _, _, err := s.RegisterService(ctx, "ghost", mp1api.ServiceInfoPost{SerName: "a", Version: "1",
		State: mp1api.ServiceStateACTIVE, Serializer: mp1api.JSON, TransportId: restID()})
	require.ErrorIs(t, err, platform.ErrNotFound)
	var de *platform.Error
	require.True(t, errors.As(err, &de))
	require.Contains(t, de.Detail, "ghost")
	_, err = s.GetApp("ghost")
	require.ErrorIs(t, err, platform.ErrNotFound)
}
