package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/edgemec/edgemec/api/openapi"
	"github.com/edgemec/edgemec/internal/apispec"
	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/internal/mecrule/mp1rule"
	"github.com/edgemec/edgemec/mep/internal/httpapi/wire"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// The fuzz targets feed arbitrary bytes through the same steps the HTTP layer takes for each
// Mp1/Mm5 body (required-field check, JSON decoding, validation, the domain operation) on a
// site over an in-memory store. They must never panic, every rejection must be a domain
// ErrInvalid (a 400), and whatever the MEP accepts and emits must pass its own validation.

const fuzzApp = "fuzz-app"

func fuzzMEP(f *testing.F) *wireMEP {
	f.Helper()
	s := newMEP(f, newMemStore(), platform.Config{})
	_, _, err := s.PutApp(context.Background(), fuzzApp, mm5api.AppInstance{AppName: "f", AppProvider: "p", AppDId: "d",
		AppTrafficRule: &[]mp1api.TrafficRule{{TrafficRuleId: "tr1", FilterType: mp1api.FLOW, Action: mp1api.DROP,
			TrafficFilter: []mp1api.TrafficFilter{{}}}},
		AppDNSRule: &[]mp1api.DnsRule{{DnsRuleId: "dns1", DomainName: "a.example", IpAddressType: mp1api.IPV4, IpAddress: "10.0.0.1"}},
	}, nil)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// spec checks bodies against the Mp1 and Mm5 specifications, as the HTTP layer does.
var spec = func() *apispec.Validator {
	v, err := apispec.New(apispec.Config{Docs: []apispec.Doc{
		{Name: "mp1.yaml", Data: openapi.MP1}, {Name: "mm5.yaml", Data: openapi.MM5, Prefix: "/mepm/v1"},
	}})
	if err != nil {
		panic(err)
	}
	return v
}()

// decode mirrors the HTTP layer: the body is checked against the spec's schema, then decoded.
func decode(b []byte, v any, schema string) bool {
	if !json.Valid(b) || spec.CheckSchema(schema, b) != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

func requireInvalid(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, platform.ErrInvalid) {
		t.Fatalf("got error %v; want nil or ErrInvalid", err)
	}
}

// requireNoError fails on unexpected domain errors; limits and conflicts are expected states.
func requireNoError(t *testing.T, err error, allowed ...error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			return
		}
	}
	t.Fatalf("valid input rejected: %v", err)
}

const transportJSON = `{"id":"t1","name":"n","type":"REST_HTTP","protocol":"HTTP","version":"1.1","endpoint":{"uris":["http://a/"]},"security":{"oAuth2Info":{"grantTypes":["OAUTH2_CLIENT_CREDENTIALS"],"tokenEndpoint":"http://a/t"}}}`

func FuzzServiceInfoPost(f *testing.F) {
	for _, s := range []string{
		`{"serName":"a","version":"1","state":"ACTIVE","serializer":"JSON","transportId":"rest-http"}`,
		`{"serName":"a","version":"1","state":"INACTIVE","serializer":"XML","transportInfo":` + transportJSON + `,"livenessInterval":5,"isLocal":true,"scopeOfLocality":"ZONE"}`,
		`{"serName":"a","version":"1","state":"ACTIVE","serializer":"JSON","transportId":"x","transportInfo":` + transportJSON + `}`,
		`{"serName":"a","version":"1","state":"ACTIVE","serializer":"JSON","transportId":"rest-http","serCategory":{"href":"h","id":"i","name":"n","version":"v"}}`,
		`{"serName":"a","version":"1","state":"ACTIVE","serializer":"JSON","transportInfo":{"endpoint":{"addresses":[{"host":"h","port":0}]}}}`,
		`{"serName":null}`, `[]`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	s := fuzzMEP(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p mp1api.ServiceInfoPost
		if !decode(b, &p, "ServiceInfoPost") {
			return
		}
		dp := wire.ServiceInfoPost(&p)
		verr := platform.ValidateServiceInfoPost(&dp)
		requireInvalid(t, verr)
		out, etag, loc, err := s.RegisterService(context.Background(), platform.Operator, fuzzApp, p)
		if verr != nil {
			requireInvalid(t, err) // an unknown transportId is only found by the domain
			if err == nil {
				t.Fatalf("invalid body registered: %v", verr)
			}
			return
		}
		requireInvalid(t, err)
		if err != nil {
			return
		}
		if etag == "" || loc == "" {
			t.Fatalf("registration without ETag or Location")
		}
		var info mp1api.ServiceInfo
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatalf("representation does not decode: %v", err)
		}
		own := wire.ServiceInfo(&info)
		if err := platform.ValidateServiceInfo(&own); err != nil {
			t.Fatalf("own representation fails validation: %v\n%s", err, out)
		}
		if err := s.DeleteService(context.Background(), fuzzApp, *info.SerInstanceId); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzServiceInfo(f *testing.F) {
	for _, s := range []string{
		`{"serName":"a","version":"2","state":"ACTIVE","serializer":"JSON","transportInfo":` + transportJSON + `}`,
		`{"serInstanceId":"x","serName":"b","version":"2","state":"INACTIVE","serializer":"PROTOBUF3","transportInfo":` + transportJSON + `,"livenessInterval":86400,"_links":{"self":{"href":"x"}}}`,
		`{"serName":"a","version":"2","state":"ACTIVE","serializer":"JSON","transportInfo":{"id":"t","name":"n","type":"RPC","protocol":"p","version":"1","endpoint":{"alternative":{}},"security":{}}}`,
		`{"serName":"a","version":"2","state":"ACTIVE","serializer":"JSON","transportInfo":{}}`,
	} {
		f.Add([]byte(s))
	}
	s := fuzzMEP(f)
	ctx := context.Background()
	_, _, loc, err := s.RegisterService(ctx, platform.Operator, fuzzApp, mp1api.ServiceInfoPost{SerName: "a", Version: "1",
		State: mp1api.ServiceStateACTIVE, Serializer: mp1api.JSON, TransportId: restID()})
	if err != nil {
		f.Fatal(err)
	}
	id := loc[len(loc)-36:]
	f.Fuzz(func(t *testing.T, b []byte) {
		var info mp1api.ServiceInfo
		if !decode(b, &info, "ServiceInfo") {
			return
		}
		d := wire.ServiceInfo(&info)
		verr := platform.ValidateServiceInfo(&d)
		requireInvalid(t, verr)
		out, _, err := s.UpdateService(ctx, platform.Operator, fuzzApp, id, "", info)
		if (verr == nil) != (err == nil) {
			t.Fatalf("validation %v but update %v", verr, err)
		}
		if err != nil {
			return
		}
		var got mp1api.ServiceInfo
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if *got.SerInstanceId != id {
			t.Fatalf("got serInstanceId %q; want path id %q", *got.SerInstanceId, id)
		}
		own := wire.ServiceInfo(&got)
		if err := platform.ValidateServiceInfo(&own); err != nil {
			t.Fatalf("own representation fails validation: %v", err)
		}
	})
}

func FuzzSerAvailabilityNotificationSubscription(f *testing.F) {
	for _, s := range []string{
		`{"subscriptionType":"SerAvailabilityNotificationSubscription","callbackReference":"http://cb/x"}`,
		`{"subscriptionType":"SerAvailabilityNotificationSubscription","callbackReference":"https://cb:8443/x?y=1","filteringCriteria":{"serNames":["a","b"],"states":["ACTIVE"],"isLocal":true}}`,
		`{"subscriptionType":"SerAvailabilityNotificationSubscription","callbackReference":"http://cb/x","filteringCriteria":{"serCategories":[{"href":"h","id":"i","name":"n","version":"v"}]}}`,
		`{"subscriptionType":"SerAvailabilityNotificationSubscription","callbackReference":"http://cb/x","filteringCriteria":{"serNames":["a"],"serInstanceIds":["b"]}}`,
		`{"subscriptionType":"x","callbackReference":"::"}`,
	} {
		f.Add([]byte(s))
	}
	s := fuzzMEP(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, b []byte) {
		var sub mp1api.SerAvailabilityNotificationSubscription
		if !decode(b, &sub, "SerAvailabilityNotificationSubscription") {
			return
		}
		v, loc, err := s.Subscribe(ctx, fuzzApp, &sub)
		requireInvalid(t, err)
		if err != nil {
			return
		}
		got := v.(*mp1api.SerAvailabilityNotificationSubscription)
		if got.UnderscoreLinks == nil || got.UnderscoreLinks.Self.Href != loc {
			t.Fatalf("self link %v; want %q", got.UnderscoreLinks, loc)
		}
		if err := platform.ValidateSerAvailSubscription(wire.SerAvailSubscription(got).SerAvail); err != nil {
			t.Fatalf("own representation fails validation: %v", err)
		}
		// Service changes run the subscription's filter.
		svc := registerService(t, s, fuzzApp, "a")
		if err := s.DeleteService(ctx, fuzzApp, svc[len(svc)-36:]); err != nil {
			t.Fatal(err)
		}
		if err := s.Unsubscribe(ctx, platform.SerAvail, fuzzApp, loc[len(loc)-36:]); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzAppTerminationNotificationSubscription(f *testing.F) {
	for _, s := range []string{
		`{"subscriptionType":"AppTerminationNotificationSubscription","callbackReference":"http://cb/t","appInstanceId":"fuzz-app"}`,
		`{"subscriptionType":"AppTerminationNotificationSubscription","callbackReference":"http://cb/t","appInstanceId":"other"}`,
		`{"subscriptionType":"AppTerminationNotificationSubscription","callbackReference":"file:///etc/passwd","appInstanceId":"fuzz-app"}`,
	} {
		f.Add([]byte(s))
	}
	s := fuzzMEP(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, b []byte) {
		var sub mp1api.AppTerminationNotificationSubscription
		if !decode(b, &sub, "AppTerminationNotificationSubscription") {
			return
		}
		v, loc, err := s.Subscribe(ctx, fuzzApp, &sub)
		requireInvalid(t, err)
		if err != nil {
			return
		}
		if got := v.(*mp1api.AppTerminationNotificationSubscription); got.AppInstanceId != fuzzApp {
			t.Fatalf("subscription accepted on %q for %q", fuzzApp, got.AppInstanceId)
		}
		if err := s.Unsubscribe(ctx, platform.AppTerm, fuzzApp, loc[len(loc)-36:]); err != nil {
			t.Fatal(err)
		}
	})
}

// trafficRuleSeeds are TrafficRule bodies in both dstInterface forms.
var trafficRuleSeeds = []string{
	`{"trafficRuleId":"tr1","filterType":"FLOW","priority":1,"trafficFilter":[{"srcAddress":["10.0.0.0/8"],"dstPort":["80","1000-2000"],"protocol":["TCP","17"]}],"action":"DROP","state":"ACTIVE"}`,
	`{"trafficRuleId":"tr1","filterType":"PACKET","priority":255,"trafficFilter":[{"tag":["0x10","7"],"qCI":9,"dSCP":46,"tC":1}],"action":"FORWARD_ENCAPSULATED","state":"INACTIVE","dstInterface":{"interfaceType":"TUNNEL","tunnelInfo":{"tunnelType":"GTP_U","tunnelDstAddress":"1.2.3.4"}}}`,
	`{"trafficRuleId":"tr1","filterType":"FLOW","priority":0,"trafficFilter":[{}],"action":"PASSTHROUGH","state":"ACTIVE","dstInterface":[{"interfaceType":"IP","dstIpAddress":"::1"},{"interfaceType":"MAC","dstMacAddress":"02:00:00:00:00:01"}]}`,
	`{"trafficRuleId":"tr1","filterType":"FLOW","trafficFilter":[{}],"action":"DROP","state":"ACTIVE"}`,
	`{"trafficRuleId":"tr1","filterType":"FLOW","priority":1,"trafficFilter":[{"srcPort":["65536"]}],"action":"DROP","state":"ACTIVE","dstInterface":null}`,
	`{"dstInterface":{}}`, `{"dstInterface":[]}`, `{"dstInterface":"x"}`,
}

func FuzzTrafficRule(f *testing.F) {
	for _, s := range trafficRuleSeeds {
		f.Add([]byte(s))
	}
	s := fuzzMEP(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		n, err := mp1api.NormalizeTrafficRuleJSON(b)
		requireInvalid(t, err)
		if err != nil {
			return
		}
		var r mp1api.TrafficRule
		if !decode(n, &r, "TrafficRule") {
			return
		}
		if verr := mp1rule.ValidateTrafficRule(&r); verr != nil && !errors.Is(verr, mecrule.ErrInvalid) {
			t.Fatalf("validation error %v is not mecrule.ErrInvalid", verr)
		}
		got, etag, err := s.UpdateTrafficRule(ctx, platform.Operator, fuzzApp, "tr1", "", r)
		requireInvalid(t, err)
		if err != nil {
			return
		}
		if got.TrafficRuleId != "tr1" || etag == "" {
			t.Fatalf("got id %q etag %q", got.TrafficRuleId, etag)
		}
		// What the MEP emits decodes and validates again, through the same normalisation.
		out, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if out, err = mp1api.NormalizeTrafficRuleJSON(out); err != nil {
			t.Fatal(err)
		}
		var back mp1api.TrafficRule
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if err := mp1rule.ValidateTrafficRule(&back); err != nil {
			t.Fatalf("own representation fails validation: %v\n%s", err, out)
		}
	})
}

func FuzzDnsRule(f *testing.F) {
	for _, s := range []string{
		`{"dnsRuleId":"dns1","domainName":"svc.example","ipAddressType":"IP_V4","ipAddress":"10.1.2.3","ttl":60,"state":"ACTIVE"}`,
		`{"dnsRuleId":"dns1","domainName":"*.svc.example.","ipAddressType":"IP_V6","ipAddress":"2001:db8::1","state":"INACTIVE"}`,
		`{"dnsRuleId":"dns1","domainName":"svc.example","ipAddressType":"IP_V4","ipAddress":"::ffff:10.1.2.3","state":"ACTIVE"}`,
		`{"dnsRuleId":"dns1","domainName":"a..b","ipAddressType":"IP_V4","ipAddress":"10.1.2.3","state":"ACTIVE"}`,
		`{"dnsRuleId":"dns1","domainName":"svc.example","ipAddressType":"IP_V6","ipAddress":"10.1.2.3","state":"ACTIVE","ttl":-5}`,
	} {
		f.Add([]byte(s))
	}
	s := fuzzMEP(f)
	var active []platform.ActiveDNSRule
	s.OnDNSChange(func(rs []platform.ActiveDNSRule) { active = rs })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, b []byte) {
		var r mp1api.DnsRule
		if !decode(b, &r, "DnsRule") {
			return
		}
		got, _, err := s.UpdateDNSRule(ctx, platform.Operator, fuzzApp, "dns1", "", r)
		requireInvalid(t, err)
		if err != nil {
			return
		}
		if err := mp1rule.ValidateDNSRule(&got); err != nil {
			t.Fatalf("own representation fails validation: %v", err)
		}
		want := 0
		if got.State == mp1api.RuleStateACTIVE {
			want = 1
		}
		if len(active) != want {
			t.Fatalf("got %d active DNS rules; want %d", len(active), want)
		}
		if want == 1 && !active[0].Addr.IsValid() {
			t.Fatalf("active rule without an address: %+v", active[0])
		}
	})
}

func FuzzAppReadyConfirmation(f *testing.F) {
	for _, s := range []string{`{"indication":"READY"}`, `{"indication":"ready"}`, `{"indication":""}`, `{"indication":1}`} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	s := fuzzMEP(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var c mp1api.AppReadyConfirmation
		if !decode(b, &c, "AppReadyConfirmation") {
			return
		}
		err := s.ConfirmReady(ctx, fuzzApp, c)
		if c.Indication != "READY" {
			requireInvalid(t, err)
			if err == nil {
				t.Fatalf("indication %q accepted", c.Indication)
			}
			return
		}
		requireNoError(t, err, platform.ErrConflict) // only the first READY is accepted
	})
}

func FuzzAppTerminationConfirmation(f *testing.F) {
	for _, s := range []string{`{"operationAction":"TERMINATING"}`, `{"operationAction":"STOPPING"}`, `{"operationAction":"x"}`} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	s := fuzzMEP(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var c mp1api.AppTerminationConfirmation
		if !decode(b, &c, "AppTerminationConfirmation") {
			return
		}
		err := s.ConfirmTermination(ctx, fuzzApp, c)
		if !c.OperationAction.Valid() {
			requireInvalid(t, err)
			if err == nil {
				t.Fatalf("operationAction %q accepted", c.OperationAction)
			}
			return
		}
		// Nothing is pending: every valid confirmation is a conflict.
		if !errors.Is(err, platform.ErrConflict) {
			t.Fatalf("got %v; want ErrConflict", err)
		}
	})
}

func FuzzServiceLivenessUpdate(f *testing.F) {
	for _, s := range []string{`{"state":"ACTIVE"}`, `{"state":"INACTIVE"}`, `{"state":"SUSPENDED"}`, `{"state":null}`} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	s := fuzzMEP(f)
	iv := 30
	_, _, loc, err := s.RegisterService(ctx, platform.Operator, fuzzApp, mp1api.ServiceInfoPost{SerName: "hb", Version: "1",
		State: mp1api.ServiceStateACTIVE, Serializer: mp1api.JSON, TransportId: restID(), LivenessInterval: &iv})
	if err != nil {
		f.Fatal(err)
	}
	id := loc[len(loc)-36:]
	f.Fuzz(func(t *testing.T, b []byte) {
		var u mp1api.ServiceLivenessUpdate
		if !decode(b, &u, "ServiceLivenessUpdate") {
			return
		}
		l, err := s.Heartbeat(ctx, fuzzApp, id, u)
		requireInvalid(t, err)
		if err != nil {
			if u.State.Valid() {
				t.Fatalf("valid state %q rejected: %v", u.State, err)
			}
			return
		}
		if l.State != u.State || l.Interval != iv {
			t.Fatalf("got %+v after %q", l, u.State)
		}
	})
}

func FuzzAppInfo(f *testing.F) {
	for _, s := range []string{
		`{"appName":"a","appInstanceId":"fuzz-app"}`,
		`{"appName":"a","appInstanceId":"fuzz-app","endpoint":{"uris":["http://x/"]},"appServiceRequired":[{"serName":"s","version":"1"}],"isInsByMec":true,"appProfile":{"k":[1,2]}}`,
		`{"appName":"a","appInstanceId":"fuzz-app","endpoint":{"addresses":[{"host":"h","port":70000}]}}`,
		`{"appName":"a","appInstanceId":"nobody"}`,
		`{"appName":"a"}`,
	} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	s := fuzzMEP(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var info mp1api.AppInfo
		if !decode(b, &info, "AppInfo") {
			return
		}
		out, err := s.Register(ctx, info, true)
		if err != nil {
			if !errors.Is(err, platform.ErrInvalid) && !errors.Is(err, platform.ErrNotFound) {
				t.Fatalf("got %v; want ErrInvalid or ErrNotFound", err)
			}
			return
		}
		if *out.AppInstanceId != fuzzApp {
			t.Fatalf("registered unknown app %q", *out.AppInstanceId)
		}
		if _, err := s.Register(ctx, info, false); err != nil {
			t.Fatalf("update of an accepted registration: %v", err)
		}
		// Discovery runs the registration's dependencies.
		var buf bytes.Buffer
		if err := s.Discover(fuzzApp, "", &platform.Filter{}, &buf); err != nil {
			t.Fatal(err)
		}
		if err := s.Deregister(ctx, fuzzApp); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzAppInstance(f *testing.F) {
	for _, s := range []string{
		`{"appName":"a","appProvider":"p","appDId":"d"}`,
		`{"appName":"a","appProvider":"p","appDId":"d","appTrafficRule":[` + trafficRuleSeeds[0] + `],"appDNSRule":[{"dnsRuleId":"d1","domainName":"x.example","ipAddressType":"IP_V4","ipAddress":"10.0.0.1"}]}`,
		`{"appName":"a","appProvider":"p","appDId":"d","appServiceRequired":[{"serName":"s","version":"1","serCategory":{"href":"h","id":"i","name":"n","version":"v"}}],"appServiceProduced":[{"serName":"s","version":"1"}]}`,
		`{"appName":"a","appProvider":"p","appDId":"d","appDNSRule":[{"dnsRuleId":"d1","domainName":"x","ipAddressType":"IP_V4","ipAddress":"10.0.0.1"},{"dnsRuleId":"d1","domainName":"x","ipAddressType":"IP_V4","ipAddress":"10.0.0.1"}]}`,
	} {
		f.Add([]byte(s), "app-1")
	}
	f.Add([]byte(`{"appName":"a","appProvider":"p","appDId":"d"}`), "bad/id")
	ctx := context.Background()
	s := fuzzMEP(f)
	f.Fuzz(func(t *testing.T, b []byte, id string) {
		var spec mm5api.AppInstance
		if !decode(b, &spec, "AppInstance") {
			return
		}
		if id == fuzzApp {
			return
		}
		rec, _, err := s.PutApp(ctx, id, spec, nil)
		requireInvalid(t, err)
		if err != nil {
			return
		}
		if platform.ValidateAppInstanceID(rec.AppInstanceId) != nil {
			t.Fatalf("accepted app instance id %q", rec.AppInstanceId)
		}
		for _, r := range deref(rec.AppTrafficRule) {
			if err := mp1rule.ValidateTrafficRule(&r); err != nil {
				t.Fatalf("stored traffic rule fails validation: %v", err)
			}
		}
		for _, r := range deref(rec.AppDNSRule) {
			if err := mp1rule.ValidateDNSRule(&r); err != nil {
				t.Fatalf("stored DNS rule fails validation: %v", err)
			}
		}
		_ = s.TrafficFeed(ctx, nil, 0)
		_ = s.DNSFeed(ctx, nil, 0)
		if _, err := s.StartTermination(ctx, id, 0); err != nil { // no subscriber: gone at once
			t.Fatal(err)
		}
		if s.Exists(id) {
			t.Fatalf("app %q still exists after termination", id)
		}
	})
}

func deref[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}
