package af_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/free5gc/openapi/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/af"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/test/nef"
)

func num(n int) *int { return &n }

func fwd(id string, prio int, filters ...mp1api.TrafficFilter) mp1api.TrafficRule {
	return mp1api.TrafficRule{TrafficRuleId: id, Action: mp1api.FORWARDDECAPSULATED, FilterType: mp1api.FLOW,
		Priority: prio, State: mp1api.RuleStateACTIVE, TrafficFilter: filters}
}

func TestFlowInfos(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rules   []mp1api.TrafficRule
		want    [][]string // flowDescriptions per FlowInfo, flowId = index+1
		wantErr error
	}{
		{
			name:  "address, port, protocol",
			rules: []mp1api.TrafficRule{fwd("r", 1, mp1api.TrafficFilter{SrcAddress: strs("10.60.0.0/16"), DstAddress: strs("192.0.2.10"), DstPort: strs("80"), Protocol: strs("TCP")})},
			want:  [][]string{{"permit out 6 from 192.0.2.10 80 to 10.60.0.0/16"}},
		},
		{
			name:  "an application protocol does not restrict the IP protocol",
			rules: []mp1api.TrafficRule{fwd("r", 1, mp1api.TrafficFilter{DstAddress: strs("192.0.2.10"), DstPort: strs("443"), Protocol: strs("QUIC")})},
			want:  [][]string{{"permit out 6 from 192.0.2.10 443 to any", "permit out 17 from 192.0.2.10 443 to any"}},
		},
		{
			name:  "empty filter matches everything",
			rules: []mp1api.TrafficRule{fwd("r", 1, mp1api.TrafficFilter{})},
			want:  [][]string{{"permit out ip from any to any"}},
		},
		{
			name:  "ports without protocol mean TCP and UDP",
			rules: []mp1api.TrafficRule{fwd("r", 1, mp1api.TrafficFilter{DstAddress: strs("192.0.2.10"), DstPort: strs("53")})},
			want:  [][]string{{"permit out 6 from 192.0.2.10 53 to any", "permit out 17 from 192.0.2.10 53 to any"}},
		},
		{
			name: "source ports, ranges and several destinations",
			rules: []mp1api.TrafficRule{fwd("r", 1, mp1api.TrafficFilter{
				DstAddress: strs("192.0.2.10", "192.0.2.20-192.0.2.23"), SrcPort: strs("1000-2000"), Protocol: strs("UDP", "17"),
			})},
			want: [][]string{{"permit out 17 from 192.0.2.10 to any 1000-2000", "permit out 17 from 192.0.2.20/30 to any 1000-2000"}},
		},
		{
			name:  "dotted mask",
			rules: []mp1api.TrafficRule{fwd("r", 1, mp1api.TrafficFilter{DstAddress: strs("198.51.100.0/255.255.255.0")})},
			want:  [][]string{{"permit out ip from 198.51.100.0/24 to any"}},
		},
		{
			name: "address families never mix",
			rules: []mp1api.TrafficRule{fwd("r", 1, mp1api.TrafficFilter{
				SrcAddress: strs("10.60.0.0/16", "2001:db8:60::/48"), DstAddress: strs("192.0.2.10", "2001:db8::10"),
			})},
			want: [][]string{{"permit out ip from 192.0.2.10 to 10.60.0.0/16", "permit out ip from 2001:db8::10 to 2001:db8:60::/48"}},
		},
		{
			name: "priority orders rules, then ids; one FlowInfo per filter",
			rules: []mp1api.TrafficRule{
				fwd("b", 9, mp1api.TrafficFilter{DstAddress: strs("192.0.2.2")}),
				fwd("a", 9, mp1api.TrafficFilter{DstAddress: strs("192.0.2.1")}),
				fwd("c", 1, mp1api.TrafficFilter{DstAddress: strs("192.0.2.3")}, mp1api.TrafficFilter{DstAddress: strs("192.0.2.4")}),
			},
			want: [][]string{
				{"permit out ip from 192.0.2.3 to any"}, {"permit out ip from 192.0.2.4 to any"},
				{"permit out ip from 192.0.2.1 to any"}, {"permit out ip from 192.0.2.2 to any"},
			},
		},
		{
			name: "inactive, dropping and passing rules are not steered",
			rules: []mp1api.TrafficRule{
				{TrafficRuleId: "off", Action: mp1api.FORWARDDECAPSULATED, State: mp1api.RuleStateINACTIVE, TrafficFilter: []mp1api.TrafficFilter{{}}},
				{TrafficRuleId: "drop", Action: mp1api.DROP, State: mp1api.RuleStateACTIVE, TrafficFilter: []mp1api.TrafficFilter{{}}},
				{TrafficRuleId: "pass", Action: mp1api.PASSTHROUGH, State: mp1api.RuleStateACTIVE, TrafficFilter: []mp1api.TrafficFilter{{}}},
				{TrafficRuleId: "enc", Action: mp1api.FORWARDENCAPSULATED, TrafficFilter: []mp1api.TrafficFilter{{DstAddress: strs("192.0.2.9")}}},
			},
			want: [][]string{{"permit out ip from 192.0.2.9 to any"}},
		},
		{
			name: "tunnel-only filters are skipped, not widened",
			rules: []mp1api.TrafficRule{fwd("r", 1,
				mp1api.TrafficFilter{TgtTunnelAddress: strs("198.18.0.1"), Tag: strs("0x10")},
				mp1api.TrafficFilter{QCI: num(9)},
				mp1api.TrafficFilter{DstAddress: strs("192.0.2.10"), TgtTunnelAddress: strs("198.18.0.1")},
			)},
			want: [][]string{{"permit out ip from 192.0.2.10 to any"}},
		},
		{
			name:    "nothing to steer",
			rules:   []mp1api.TrafficRule{fwd("r", 1, mp1api.TrafficFilter{Tag: strs("7")})},
			wantErr: af.ErrNoTraffic,
		},
		{
			name:    "no rules",
			wantErr: af.ErrNoTraffic,
		},
		{
			name:    "bad address",
			rules:   []mp1api.TrafficRule{fwd("r", 1, mp1api.TrafficFilter{DstAddress: strs("192.0.2.300")})},
			wantErr: af.ErrInvalid,
		},
		{
			name:    "only mixed families",
			rules:   []mp1api.TrafficRule{fwd("r", 1, mp1api.TrafficFilter{SrcAddress: strs("10.0.0.1"), DstAddress: strs("2001:db8::1")})},
			wantErr: af.ErrInvalid,
		},
		{
			name:    "too many descriptions",
			rules:   []mp1api.TrafficRule{fwd("r", 1, mp1api.TrafficFilter{SrcAddress: strs("10.0.0.0-10.0.0.254"), DstAddress: strs("192.0.2.0-192.0.2.254"), Protocol: strs("TCP", "UDP")})},
			wantErr: af.ErrInvalid,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := af.FlowInfos(tc.rules)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var descs [][]string
			for i, fi := range got {
				assert.Equal(t, int32(i+1), fi.FlowId)
				descs = append(descs, fi.FlowDescriptions)
				for _, d := range fi.FlowDescriptions {
					_, err := nef.ParseFlowDescription(d)
					assert.NoError(t, err, "the NEF refuses %q", d)
				}
			}
			assert.Equal(t, tc.want, descs)
		})
	}
}

// FuzzFlowInfos checks that whatever the AF derives from a rule the platform accepts, the
// NEF's IPFilterRule parser accepts too.
func FuzzFlowInfos(f *testing.F) {
	f.Add("10.60.0.0/16", "192.0.2.10", "80", "1000-2000", "TCP")
	f.Add("", "2001:db8::/32", "", "", "")
	f.Add("10.0.0.1-10.0.0.9", "192.0.2.0 255.255.255.0", "53", "", "UDP")
	f.Fuzz(func(t *testing.T, src, dst, dport, sport, proto string) {
		opt := func(s string) *[]string {
			if s == "" {
				return nil
			}
			return &[]string{s}
		}
		rule := fwd("r", 1, mp1api.TrafficFilter{SrcAddress: opt(src), DstAddress: opt(dst), DstPort: opt(dport), SrcPort: opt(sport), Protocol: opt(proto)})
		got, err := af.FlowInfos([]mp1api.TrafficRule{rule})
		if err != nil {
			if !errors.Is(err, af.ErrInvalid) && !errors.Is(err, af.ErrNoTraffic) {
				t.Fatalf("error %v matches neither ErrInvalid nor ErrNoTraffic", err)
			}
			return
		}
		for _, fi := range got {
			for _, d := range fi.FlowDescriptions {
				if _, err := nef.ParseFlowDescription(d); err != nil {
					t.Fatalf("the NEF refuses %q: %v", d, err)
				}
			}
		}
	})
}

func TestSiteConfigValidate(t *testing.T) {
	ok := site("https://nef.example", staticToken("t"))
	for _, tc := range []struct {
		name   string
		mutate func(s *af.SiteConfig)
		want   string // "" = valid
	}{
		{name: "valid static token", mutate: func(*af.SiteConfig) {}},
		{name: "valid oauth2", mutate: func(s *af.SiteConfig) {
			s.NEF.Token = ""
			s.NEF.OAuth2 = &af.OAuth2Config{TokenURL: "https://nef.example/oauth2/token", ClientID: "a", ClientSecret: "b"}
		}},
		{name: "no site id", mutate: func(s *af.SiteConfig) { s.SiteID = "" }, want: "siteId"},
		{name: "no dnai", mutate: func(s *af.SiteConfig) { s.DNAIs = nil }, want: "dnais"},
		{name: "duplicate dnai", mutate: func(s *af.SiteConfig) { s.DNAIs = []string{"a", "a"} }, want: "listed twice"},
		{name: "dnai with space", mutate: func(s *af.SiteConfig) { s.DNAIs = []string{"a b"} }, want: "dnais/0"},
		{name: "no dnn", mutate: func(s *af.SiteConfig) { s.DNN = "" }, want: "dnn"},
		{name: "sst out of range", mutate: func(s *af.SiteConfig) { s.SNSSAI.SST = 256 }, want: "snssai/sst"},
		{name: "bad sd", mutate: func(s *af.SiteConfig) { s.SNSSAI.SD = "12345g" }, want: "snssai/sd"},
		{name: "relative api root", mutate: func(s *af.SiteConfig) { s.NEF.APIRoot = "nef.example" }, want: "apiRoot"},
		{name: "af id with slash", mutate: func(s *af.SiteConfig) { s.NEF.AFID = "a/b" }, want: "afId"},
		{name: "no credentials", mutate: func(s *af.SiteConfig) { s.NEF.Token = "" }, want: "token or oauth2"},
		{name: "both credentials", mutate: func(s *af.SiteConfig) {
			s.NEF.OAuth2 = &af.OAuth2Config{TokenURL: "https://nef.example/t", ClientID: "a", ClientSecret: "b"}
		}, want: "exclusive"},
		{name: "oauth2 without secret", mutate: func(s *af.SiteConfig) {
			s.NEF.Token = ""
			s.NEF.OAuth2 = &af.OAuth2Config{TokenURL: "https://nef.example/t", ClientID: "a"}
		}, want: "clientSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			s.DNAIs = append([]string(nil), ok.DNAIs...)
			tc.mutate(&s)
			err := s.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, af.ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestBuildSubscription(t *testing.T) {
	s := site("https://nef.example", staticToken("t"))
	s.DNAIs = []string{"dnai-a", "dnai-b"}

	t.Run("afAppId replaces the filters", func(t *testing.T) {
		inst := instance()
		inst.AFAppID = "sample-app-pfd"
		sub, err := af.BuildSubscription(s, inst, af.UETarget{AnyUE: true}, "https://meo.example/n/inst-1/t")
		require.NoError(t, err)
		assert.Equal(t, "sample-app-pfd", sub.AfAppId)
		assert.Empty(t, sub.TrafficFilters)
		p, err := af.BuildPatch(s, inst)
		require.NoError(t, err)
		assert.Empty(t, p.TrafficFilters, "a patch cannot switch an afAppId subscription to filters")
	})
	t.Run("a route per DNAI", func(t *testing.T) {
		inst := instance()
		inst.Address = netip.MustParseAddr("2001:db8::10")
		sub, err := af.BuildSubscription(s, inst, af.UETarget{AnyUE: true}, "https://meo.example/n/inst-1/t")
		require.NoError(t, err)
		require.Len(t, sub.TrafficRoutes, 2)
		for i, d := range []string{"dnai-a", "dnai-b"} {
			assert.Equal(t, d, sub.TrafficRoutes[i].Dnai)
			assert.Equal(t, &models.RouteInformation{Ipv6Addr: "2001:db8::10", PortNumber: 8080}, sub.TrafficRoutes[i].RouteInfo)
		}
		assert.NotSame(t, sub.TrafficRoutes[0].RouteInfo, sub.TrafficRoutes[1].RouteInfo)
	})
	for _, tc := range []struct {
		name   string
		inst   func(i *af.Instance)
		target af.UETarget
	}{
		{"no app address", func(i *af.Instance) { i.Address = netip.Addr{} }, af.UETarget{AnyUE: true}},
		{"no instance id", func(i *af.Instance) { i.AppInstanceID = "" }, af.UETarget{AnyUE: true}},
		{"no target", func(*af.Instance) {}, af.UETarget{}},
		{"group without domain", func(*af.Instance) {}, af.UETarget{ExternalGroupID: "group"}},
		{"ipv6 in the ipv4 target", func(*af.Instance) {}, af.UETarget{IPv4: netip.MustParseAddr("2001:db8::1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := instance()
			tc.inst(&inst)
			_, err := af.BuildSubscription(s, inst, tc.target, "https://meo.example/n/x/t")
			require.ErrorIs(t, err, af.ErrInvalid)
		})
	}
}

func TestRetry(t *testing.T) {
	retryable := &af.NEFError{Op: "create", Status: 503, Retryable: true}
	permanent := &af.NEFError{Op: "create", Status: 400}
	fast := af.Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 4}
	for _, tc := range []struct {
		name     string
		errs     []error // returned by attempt i; nil after the list
		wantN    int
		wantLast error
	}{
		{name: "first try", errs: nil, wantN: 1},
		{name: "after two retryable failures", errs: []error{retryable, retryable}, wantN: 3},
		{name: "permanent stops at once", errs: []error{retryable, permanent}, wantN: 2, wantLast: permanent},
		{name: "attempts run out", errs: []error{retryable, retryable, retryable, retryable, retryable}, wantN: 4, wantLast: retryable},
		{name: "input errors are not retried", errs: []error{af.ErrInvalid}, wantN: 1, wantLast: af.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			err := af.Retry(t.Context(), fast, func(context.Context) error {
				n++
				if n <= len(tc.errs) {
					return tc.errs[n-1]
				}
				return nil
			})
			assert.Equal(t, tc.wantN, n)
			if tc.wantLast == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.wantLast)
			}
		})
	}
	t.Run("context ends the waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		err := af.Retry(ctx, af.Backoff{Initial: time.Hour, Max: time.Hour, Attempts: 3}, func(context.Context) error {
			n++
			cancel()
			return retryable
		})
		assert.Equal(t, 1, n)
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, retryable)
	})
}

func TestTargetFromParams(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   af.UETarget
		bad    bool
	}{
		{name: "none means any UE", params: nil, want: af.UETarget{AnyUE: true}},
		{name: "other params ignored", params: map[string]any{"replicas": 2}, want: af.UETarget{AnyUE: true}},
		{name: "any UE", params: map[string]any{"anyUe": true}, want: af.UETarget{AnyUE: true}},
		{name: "group", params: map[string]any{"ueExternalGroupId": "g@op.example"}, want: af.UETarget{ExternalGroupID: "g@op.example"}},
		{name: "gpsi", params: map[string]any{"ueGpsi": "msisdn-4917012"}, want: af.UETarget{GPSI: "msisdn-4917012"}},
		{name: "both addresses of one UE", params: map[string]any{"ueIpv4Addr": "10.60.0.7", "ueIpv6Addr": "2001:db8::7"},
			want: af.UETarget{IPv4: netip.MustParseAddr("10.60.0.7"), IPv6: netip.MustParseAddr("2001:db8::7")}},
		{name: "group and gpsi", params: map[string]any{"ueExternalGroupId": "g@op.example", "ueGpsi": "msisdn-4917012"}, bad: true},
		{name: "any UE and gpsi", params: map[string]any{"anyUe": true, "ueGpsi": "msisdn-4917012"}, bad: true},
		{name: "address not a string", params: map[string]any{"ueIpv4Addr": 10}, bad: true},
		{name: "bad address", params: map[string]any{"ueIpv4Addr": "10.60.0"}, bad: true},
		{name: "v6 as v4", params: map[string]any{"ueIpv4Addr": "2001:db8::7"}, bad: true},
		{name: "anyUe not a bool", params: map[string]any{"anyUe": "yes"}, bad: true},
		{name: "anyUe false names no UE", params: map[string]any{"anyUe": false}, bad: true},
		{name: "anyUe false and one UE", params: map[string]any{"anyUe": false, "ueGpsi": "msisdn-4917012"},
			want: af.UETarget{GPSI: "msisdn-4917012"}},
		{name: "group without domain", params: map[string]any{"ueExternalGroupId": "edge-users"}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := af.TargetFromParams(tc.params)
			if tc.bad {
				require.ErrorIs(t, err, af.ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
