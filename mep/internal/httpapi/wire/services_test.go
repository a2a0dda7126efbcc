package wire_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/internal/httpapi/wire"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// TestSameShape holds the domain types the MEP stores, serves or sends as they are to the
// generated Mp1 types: the same JSON members in the same order, all the way down. A service's
// ETag hashes its encoding and a notification's body is its encoding, so a member the
// generated types gain must be added to the domain's as well.
func TestSameShape(t *testing.T) {
	for _, tc := range []struct{ wire, domain any }{
		{mp1api.ServiceInfo{}, platform.ServiceInfo{}},
		{mp1api.TransportInfo{}, platform.TransportInfo{}},
		{mp1api.SerAvailabilityNotificationSubscription{}, platform.SerAvailSubscription{}},
		{mp1api.AppTerminationNotificationSubscription{}, platform.AppTermSubscription{}},
		{mp1api.ServiceAvailabilityNotification{}, platform.ServiceAvailabilityNotification{}},
		{mp1api.AppTerminationNotification{}, platform.AppTerminationNotification{}},
		{mp1api.AppInfo{}, platform.AppInfo{}},
	} {
		w, d := reflect.TypeOf(tc.wire), reflect.TypeOf(tc.domain)
		t.Run(w.Name(), func(t *testing.T) { sameShape(t, w.Name(), w, d) })
	}
}

func sameShape(t *testing.T, path string, w, d reflect.Type) {
	t.Helper()
	if w.Kind() != d.Kind() {
		t.Errorf("%s: wire kind %s; domain kind %s", path, w.Kind(), d.Kind())
		return
	}
	switch w.Kind() {
	case reflect.Pointer, reflect.Slice:
		sameShape(t, path+"[]", w.Elem(), d.Elem())
	case reflect.Map:
		sameShape(t, path+"{key}", w.Key(), d.Key())
		sameShape(t, path+"{}", w.Elem(), d.Elem())
	case reflect.Struct:
		if w.NumField() != d.NumField() {
			t.Errorf("%s: wire has %d members; domain %d", path, w.NumField(), d.NumField())
			return
		}
		for i := range w.NumField() {
			wf, df := w.Field(i), d.Field(i)
			if wt, dt := wf.Tag.Get("json"), df.Tag.Get("json"); wt != dt {
				t.Errorf("%s member %d: wire json:%q; domain json:%q", path, i, wt, dt)
				continue
			}
			sameShape(t, path+"."+wf.Tag.Get("json"), wf.Type, df.Type)
		}
	}
}

// TestServiceInfoKeepsJSON converts a service with every member set: the domain encodes it
// byte for byte as the wire type does (its stored representation, served as is, and its
// ETag do not change), reads the stored wire encoding, and converts back without loss.
func TestServiceInfoKeepsJSON(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"every member", `{"_links":{"self":{"href":"http://mep/s/1"},"liveness":{"href":"http://mep/s/1/liveness"}},
			"consumedLocalOnly":true,"isLocal":false,"livenessInterval":30,"scopeOfLocality":"ZONE",
			"serCategory":{"href":"h","id":"c","name":"n","version":"1"},"serInstanceId":"1","serName":"svc","serializer":"JSON",
			"state":"ACTIVE","version":"2",
			"transportInfo":{"description":"d","id":"t","name":"n","protocol":"HTTP","version":"1.1","type":"REST_HTTP",
				"implSpecificInfo":{"k":[1,"v"]},"endpoint":{"uris":["http://a","http://b<&>"]},
				"security":{"oAuth2Info":{"grantTypes":["OAUTH2_CLIENT_CREDENTIALS","OAUTH2_IMPLICIT_GRANT"],"tokenEndpoint":"http://mep/oauth2/token"}}}}`},
		{"addresses", `{"serName":"s","serializer":"XML","state":"INACTIVE","version":"1",
			"transportInfo":{"id":"t","name":"n","protocol":"p","version":"1","type":"RPC","endpoint":{"addresses":[{"host":"h","port":80}]},"security":{}}}`},
		{"alternative", `{"serName":"s","serializer":"PROTOBUF3","state":"ACTIVE","version":"1",
			"transportInfo":{"id":"t","name":"n","protocol":"p","version":"1","type":"WEBSOCKET","endpoint":{"alternative":{}},"security":{"oAuth2Info":{"grantTypes":[],"tokenEndpoint":""}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w mp1api.ServiceInfo
			require.NoError(t, json.Unmarshal([]byte(tc.in), &w))
			d := wire.ServiceInfo(&w)
			require.Equal(t, jsonOf(t, w), jsonOf(t, d), "byte for byte: the MEP's entity tags hash this encoding")
			var stored platform.ServiceInfo
			require.NoError(t, json.Unmarshal([]byte(jsonOf(t, w)), &stored))
			require.Equal(t, d, stored, "the domain form reads the stored wire JSON")
			require.Equal(t, w, wire.WireServiceInfo(&d))
			require.Equal(t, []mp1api.TransportInfo{w.TransportInfo}, wire.WireTransports([]platform.TransportInfo{d.TransportInfo}))
		})
	}
}

// TestServiceInfoPost: a registration converts member for member.
func TestServiceInfoPost(t *testing.T) {
	const in = `{"consumedLocalOnly":false,"isLocal":true,"livenessInterval":5,"scopeOfLocality":"MEC_HOST",
		"serCategory":{"href":"h","id":"c","name":"n","version":"1"},"serInstanceId":"ignored","serName":"s","serializer":"JSON",
		"state":"ACTIVE","transportId":"rest-http","version":"1",
		"transportInfo":{"id":"t","name":"n","protocol":"p","version":"1","type":"RPC","endpoint":{"uris":["u"]},"security":{}}}`
	var w mp1api.ServiceInfoPost
	require.NoError(t, json.Unmarshal([]byte(in), &w))
	d := wire.ServiceInfoPost(&w)
	// ServiceInfo carries every member of ServiceInfoPost but transportId.
	as := mp1api.ServiceInfo{ConsumedLocalOnly: w.ConsumedLocalOnly, IsLocal: w.IsLocal, LivenessInterval: w.LivenessInterval,
		ScopeOfLocality: w.ScopeOfLocality, SerCategory: w.SerCategory, SerName: w.SerName, Serializer: w.Serializer, State: w.State,
		TransportInfo: *w.TransportInfo, Version: w.Version}
	want := wire.ServiceInfo(&as)
	got := platform.ServiceInfo{ConsumedLocalOnly: d.ConsumedLocalOnly, IsLocal: d.IsLocal, LivenessInterval: d.LivenessInterval,
		ScopeOfLocality: d.ScopeOfLocality, SerCategory: d.SerCategory, SerName: d.SerName, Serializer: d.Serializer, State: d.State,
		TransportInfo: *d.TransportInfo, Version: d.Version}
	require.Equal(t, want, got)
	require.Equal(t, "rest-http", *d.TransportId)
	require.Nil(t, wire.ServiceInfoPost(&mp1api.ServiceInfoPost{}).TransportInfo)
}

// TestSubscriptionsKeepJSON does the same for both kinds of subscription, whose documents
// the MEP stores.
func TestSubscriptionsKeepJSON(t *testing.T) {
	const serAvail = `{"_links":{"self":{"href":"http://mep/sub/1"}},"callbackReference":"http://cb/x",
		"filteringCriteria":{"isLocal":true,"serCategories":[{"href":"h","id":"c","name":"n","version":"1"}],
			"serInstanceIds":["a","b"],"serNames":["n"],"states":["ACTIVE","INACTIVE"]},
		"subscriptionType":"SerAvailabilityNotificationSubscription"}`
	var sa mp1api.SerAvailabilityNotificationSubscription
	require.NoError(t, json.Unmarshal([]byte(serAvail), &sa))
	d := wire.SerAvailSubscription(&sa)
	require.Nil(t, d.AppTerm)
	require.Equal(t, platform.SerAvail, d.Kind())
	require.Equal(t, jsonOf(t, sa), jsonOf(t, d.SerAvail))
	var stored platform.SerAvailSubscription
	require.NoError(t, json.Unmarshal([]byte(jsonOf(t, sa)), &stored))
	require.Equal(t, *d.SerAvail, stored)
	require.Equal(t, &sa, wire.WireSubscription(d))
	bare := mp1api.SerAvailabilityNotificationSubscription{CallbackReference: "http://cb", SubscriptionType: "SerAvailabilityNotificationSubscription"}
	require.Equal(t, &bare, wire.WireSubscription(wire.SerAvailSubscription(&bare)))

	const appTerm = `{"_links":{"self":{"href":"http://mep/sub/2"}},"appInstanceId":"app1","callbackReference":"http://cb/t",
		"subscriptionType":"AppTerminationNotificationSubscription"}`
	var at mp1api.AppTerminationNotificationSubscription
	require.NoError(t, json.Unmarshal([]byte(appTerm), &at))
	d = wire.AppTermSubscription(&at)
	require.Nil(t, d.SerAvail)
	require.Equal(t, platform.AppTerm, d.Kind())
	require.Equal(t, jsonOf(t, at), jsonOf(t, d.AppTerm))
	require.Equal(t, &at, wire.WireSubscription(d))

	l := platform.SubscriptionList{Self: "http://mep/subs", Subscriptions: []platform.SubscriptionRef{
		{Href: "http://mep/subs/1", SubscriptionType: "AppTerminationNotificationSubscription"}}}
	require.JSONEq(t, `{"_links":{"self":{"href":"http://mep/subs"},"subscriptions":[{"href":"http://mep/subs/1",
		"subscriptionType":"AppTerminationNotificationSubscription","rel":"AppTerminationNotificationSubscription"}]}}`,
		jsonOf(t, wire.WireSubscriptionList(&l)))
	require.JSONEq(t, `{"_links":{"self":{"href":"http://mep/subs"},"subscriptions":[]}}`,
		jsonOf(t, wire.WireSubscriptionList(&platform.SubscriptionList{Self: "http://mep/subs"})))
}

// TestNotificationsKeepJSON: the notification bodies the domain queues encode byte for
// byte as the wire types do, which is what the apps' callbacks receive.
func TestNotificationsKeepJSON(t *testing.T) {
	for _, tc := range []struct {
		in           string
		wire, domain any
	}{
		{`{"_links":{"subscription":{"href":"http://mep/sub/1"}},"notificationType":"SerAvailabilityNotification",
			"serviceReferences":[{"changeType":"STATE_CHANGED","link":{"href":"http://mep/s/1"},"serInstanceId":"1","serName":"s","state":"INACTIVE"},
			{"changeType":"ADDED","serInstanceId":"2","serName":"t","state":"ACTIVE"}]}`,
			&mp1api.ServiceAvailabilityNotification{}, &platform.ServiceAvailabilityNotification{}},
		{`{"_links":{"subscription":{"href":""}},"notificationType":"SerAvailabilityNotification","serviceReferences":[]}`,
			&mp1api.ServiceAvailabilityNotification{}, &platform.ServiceAvailabilityNotification{}},
		{`{"_links":{"subscription":{"href":"http://mep/sub/2"},"confirmTermination":{"href":"http://mep/confirm_termination"}},
			"maxGracefulTimeout":10,"notificationType":"AppTerminationNotification","operationAction":"STOPPING"}`,
			&mp1api.AppTerminationNotification{}, &platform.AppTerminationNotification{}},
		{`{"_links":{"subscription":{"href":"x"}},"maxGracefulTimeout":0,"notificationType":"AppTerminationNotification","operationAction":"TERMINATING"}`,
			&mp1api.AppTerminationNotification{}, &platform.AppTerminationNotification{}},
	} {
		require.NoError(t, json.Unmarshal([]byte(tc.in), tc.wire))
		require.NoError(t, json.Unmarshal([]byte(tc.in), tc.domain))
		require.Equal(t, jsonOf(t, tc.wire), jsonOf(t, tc.domain))
	}
}

func TestWireLiveness(t *testing.T) {
	at := time.Date(2026, 12, 2, 11, 0, 0, 123456789, time.UTC)
	got := wire.WireLiveness(platform.Liveness{State: platform.ServiceInactive, Interval: 30, LastHeartbeat: at})
	require.Equal(t, mp1api.ServiceLivenessInfo{State: mp1api.ServiceStateINACTIVE, Interval: 30,
		TimeStamp: mp1api.TimeStamp{Seconds: at.Unix(), NanoSeconds: 123456789}}, got)
}
