package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/internal/store"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// TestLoadStoredDocsV1 loads documents as the MEP stored them when its domain kept the
// generated wire types (testdata/store-docs-v1.json: an app with a traffic rule, a DNS rule,
// a registered service and a subscription). A change of the domain's own types must keep
// loading them, or migrate them.
func TestLoadStoredDocsV1(t *testing.T) {
	ctx := context.Background()
	raw, err := os.ReadFile("testdata/store-docs-v1.json")
	require.NoError(t, err)
	var docs []struct {
		Kind string          `json:"kind"`
		ID   string          `json:"id"`
		Body json.RawMessage `json:"body"`
	}
	require.NoError(t, json.Unmarshal(raw, &docs))
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { _ = st.Close() })
	b := &store.Batch{}
	for _, d := range docs {
		b.Put = append(b.Put, store.Doc{Kind: store.Kind(d.Kind), ID: d.ID, Body: d.Body})
	}
	require.NoError(t, st.Apply(ctx, b))

	s := newMEP(t, st, platform.Config{})
	rec, err := s.GetApp("app1")
	require.NoError(t, err)
	require.Equal(t, mm5api.READY, rec.State)
	require.Equal(t, "d", rec.AppDId)

	r, _, err := s.TrafficRule("app1", "tr1")
	require.NoError(t, err)
	require.Equal(t, mp1api.FORWARDDECAPSULATED, r.Action)
	require.Equal(t, 3, r.Priority)
	require.Equal(t, mp1api.RuleStateACTIVE, r.State)
	require.NotNil(t, r.DstInterface)
	require.Len(t, *r.DstInterface, 1)
	require.Equal(t, "10.0.0.9", *(*r.DstInterface)[0].DstIpAddress)
	require.Equal(t, []string{"10.60.0.0/16"}, *r.TrafficFilter[0].SrcAddress)
	feed := s.TrafficFeed(ctx, nil, 0)
	require.Len(t, feed.Rules, 1, "the loaded rule is in the UPGW feed")

	d, _, err := s.DNSRule("app1", "d1")
	require.NoError(t, err)
	require.Equal(t, "x.example", d.DomainName)
	require.Len(t, s.DNSFeed(ctx, nil, 0).Rules, 1)

	var found bytes.Buffer
	require.NoError(t, s.Discover(platform.Operator, "", &platform.Filter{Names: []string{"svc"}}, &found))
	require.Contains(t, found.String(), `"serName":"svc"`)

	subs, err := s.Subscriptions(platform.SerAvail, "app1")
	require.NoError(t, err)
	require.Len(t, *subs.UnderscoreLinks.Subscriptions, 1)

	// What the APIs show of them is what they showed when the documents were written: the
	// service's representation and its ETag (a hash of it) byte for byte, and the
	// subscription's representation.
	svc, etag, err := s.Service(platform.Operator, "", "538f5746-5b8d-4140-87b5-08839c3c03d9")
	require.NoError(t, err)
	require.Equal(t, storedService, string(svc))
	require.Equal(t, storedServiceETag, etag)
	sub, err := s.Subscription(platform.SerAvail, "app1", "613b6234-9f3b-4fda-9a45-86703fb877fd")
	require.NoError(t, err)
	got, err := json.Marshal(sub)
	require.NoError(t, err)
	require.Equal(t, storedSubscription, string(got))
}

// The service and subscription of testdata/store-docs-v1.json as the MEP served them when
// its domain kept the generated wire types, and the service's ETag.
const (
	storedService = `{"_links":{"self":{"href":"http://mep.test/mec_service_mgmt/v1/applications/app1/services/538f5746-5b8d-4140-87b5-08839c3c03d9"}},` +
		`"serInstanceId":"538f5746-5b8d-4140-87b5-08839c3c03d9","serName":"svc","serializer":"JSON","state":"ACTIVE",` +
		`"transportInfo":{"endpoint":{"uris":["http://mep.test"]},"id":"rest-http","name":"REST over HTTP","protocol":"HTTP",` +
		`"security":{"oAuth2Info":{"grantTypes":["OAUTH2_CLIENT_CREDENTIALS"],"tokenEndpoint":"http://mep.test/oauth2/token"}},` +
		`"type":"REST_HTTP","version":"1.1"},"version":"1"}`
	storedServiceETag  = `"7cb1bcfe9b734290625d7aef"`
	storedSubscription = `{"_links":{"self":{"href":"http://mep.test/mec_service_mgmt/v1/applications/app1/subscriptions/613b6234-9f3b-4fda-9a45-86703fb877fd"}},` +
		`"callbackReference":"http://cb/x","subscriptionType":"SerAvailabilityNotificationSubscription"}`
)
