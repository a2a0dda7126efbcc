package platform_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/ids"
	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// TestValidateAppInstanceID: app instance ids follow the platform id rule (internal/ids).
// The MEP used to accept 128 mixed characters, '.' and '..'.
func TestValidateAppInstanceID(t *testing.T) {
	tests := []struct {
		name, id string
		ok       bool
	}{
		{"label", "app-1", true},
		{"uuid", "3f1c2a9e-0b7d-4c55-9a61-2f0e6d8b1c44", true},
		{"63 chars", strings.Repeat("a", 63), true},
		{"64 chars", strings.Repeat("a", 64), false},
		{"dot", ".", false},
		{"dot dot", "..", false},
		{"mixed case", "A.b_c", false},
		{"empty", "", false},
		{"slash", "a/b", false},
		{"space", "a b", false},
		{"escaped slash", "a%2F", false},
		{"non-ASCII", "ä", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := platform.ValidateAppInstanceID(tt.id)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, platform.ErrInvalid)
			require.ErrorIs(t, err, ids.ErrInvalid)
		})
	}
}

// TestPutAppRefusesWhatUPGWRefuses: a rule the UPGW compiler would refuse is refused at
// Mm5, with the JSON pointer of the field, instead of being stored and never applied.
func TestPutAppRefusesWhatUPGWRefuses(t *testing.T) {
	s := newMEP(t, openStore(t, t.TempDir()), platform.Config{})
	src := []string{"::/0"}
	_, _, err := s.PutApp(t.Context(), "app1", mm5api.AppInstance{AppName: "a", AppProvider: "p", AppDId: "d",
		AppTrafficRule: &[]mp1api.TrafficRule{{TrafficRuleId: "r", FilterType: mp1api.FLOW, Action: mp1api.DROP,
			TrafficFilter: []mp1api.TrafficFilter{{SrcAddress: &src}}}}}, nil)
	require.ErrorIs(t, err, platform.ErrInvalid)
	var fe *mecrule.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "/appTrafficRule/0/trafficFilter/0/srcAddress/0", fe.Pointer)
	_, _, err = s.PutApp(t.Context(), "..", mm5api.AppInstance{AppName: "a", AppProvider: "p", AppDId: "d"}, nil)
	require.ErrorIs(t, err, platform.ErrInvalid, "app instance id ..")
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

func TestValidateAppInstanceDefaults(t *testing.T) {
	a := platform.AppInstance{AppName: "a", AppProvider: "p", AppDId: "d",
		AppTrafficRule: &[]mecrule.TrafficRule{{TrafficRuleId: "r", FilterType: mecrule.FLOW, Action: mecrule.DROP, TrafficFilter: []mecrule.TrafficFilter{{}}}},
		AppDNSRule:     &[]mecrule.DNSRule{{DnsRuleId: "d", DomainName: "x.example", IpAddressType: mecrule.IPV4, IpAddress: "10.0.0.1"}},
	}
	require.NoError(t, platform.ValidateAppInstance(&a))
	require.Equal(t, mecrule.RuleStateACTIVE, (*a.AppTrafficRule)[0].State, "traffic rule state defaults to ACTIVE")
	require.Equal(t, mecrule.RuleStateACTIVE, (*a.AppDNSRule)[0].State, "DNS rule state defaults to ACTIVE")
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
	_, _, err = s.UpdateDNSRule(ctx, platform.Operator, "app1", "d1", "", r)
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
	_, _, _, err := s.RegisterService(ctx, platform.Operator, "ghost", mp1api.ServiceInfoPost{SerName: "a", Version: "1",
		State: mp1api.ServiceStateACTIVE, Serializer: mp1api.JSON, TransportId: restID()})
	require.ErrorIs(t, err, platform.ErrNotFound)
	var de *platform.Error
	require.True(t, errors.As(err, &de))
	require.Contains(t, de.Detail, "ghost")
	_, err = s.GetApp("ghost")
	require.ErrorIs(t, err, platform.ErrNotFound)
}
