package pkgm

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/store"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"AppPackageOnBoarding": OnBoarding, "AppPacakgeOperationChange": OperationChange,
		"AppPackageOperationChange": OperationChange, "AppPackageDeletion": Deletion, "Nope": "",
	} {
		assert.Equal(t, want, NormalizeSubscriptionType(in), in)
	}
	for in, want := range map[string]string{
		"AppPacakgeEnabled": store.AppPackageEnabled, "AppPacakgeDisabled": store.AppPackageDisabled,
		"AppPackageEnabled": store.AppPackageEnabled, "AppPackageOnBoarded": store.AppPackageOnBoarded,
		"AppPackageDeleted": store.AppPackageDeleted, "x": "",
	} {
		assert.Equal(t, want, NormalizeNotificationType(in), in)
	}
}

func TestRouter(t *testing.T) {
	filter := func(fs ...Filter) json.RawMessage {
		b, _ := json.Marshal(fs)
		return b
	}
	subs := []*store.Subscription{
		{ID: "onb", SubscriptionType: OnBoarding, CallbackURI: "http://a/onb"},
		{ID: "op", SubscriptionType: OperationChange, CallbackURI: "http://a/op"},
		{ID: "del", SubscriptionType: Deletion, CallbackURI: "http://a/del"},
		{ID: "onb-acme", SubscriptionType: OnBoarding, CallbackURI: "http://a/x", Filter: filter(Filter{AppProvider: []string{"acme"}})},
		{ID: "op-enabled-d1", SubscriptionType: OperationChange, CallbackURI: "http://a/y",
			Filter: filter(Filter{AppDID: []string{"d1"}, NotificationTypes: []string{store.AppPackageEnabled}})},
		{ID: "any-of", SubscriptionType: Deletion, CallbackURI: "http://a/z",
			Filter: filter(Filter{AppPkgID: []string{"p9"}}, Filter{AppName: []string{"n1"}})},
	}
	at := time.Unix(1700000000, 5)
	ev := func(typ string) store.Event {
		return store.Event{Type: typ, PackageID: "p1", AppDID: "d1", AppProvider: "other", AppName: "n1", OperationalState: "ENABLED", Time: at}
	}
	for _, tc := range []struct {
		name  string
		event store.Event
		want  []string
	}{
		{"onboarded", ev(store.AppPackageOnBoarded), []string{"onb"}},
		{"enabled", ev(store.AppPackageEnabled), []string{"op", "op-enabled-d1"}},
		{"disabled", ev(store.AppPackageDisabled), []string{"op"}},
		{"deleted", ev(store.AppPackageDeleted), []string{"del", "any-of"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := Router("http://meo")(subs, []store.Event{tc.event})
			var got []string
			for _, d := range ds {
				got = append(got, d.SubscriptionID)
				var n map[string]any
				require.NoError(t, json.Unmarshal(d.Body, &n))
				assert.Equal(t, tc.event.Type, n["notificationType"])
				assert.Equal(t, d.SubscriptionID, n["subscriptionId"])
				assert.Equal(t, "p1", n["appPkgId"])
				assert.Equal(t, "d1", n["appDId"])
				assert.Equal(t, map[string]any{"seconds": 1700000000.0, "nanoSeconds": 5.0}, n["timeStamp"])
				assert.Equal(t, "http://meo/app_pkgm/v1/subscriptions/"+d.SubscriptionID,
					n["_links"].(map[string]any)["subscription"].(map[string]any)["href"])
				assert.NotEmpty(t, n["id"])
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestChecksumInput(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"SHA-256", "SHA-256", true}, {"sha256", "SHA-256", true}, {"Sha-512", "SHA-512", true},
		{"SHA512", "SHA-512", true}, {"MD5", "", false}, {"", "", false},
	} {
		got, _, ok := normalizeAlgorithm(tc.in)
		assert.Equal(t, tc.ok, ok, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}
