package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// BenchmarkDiscovery measures one ser_name discovery through the whole handler (auth, query
// check, parameter binding, lookup, visibility) with 2,000 services, 10 per name, as an app
// that declared the name as required. make bench has the over-the-wire figure.
func BenchmarkDiscovery(b *testing.B) {
	e := newEnv(b)
	const apps, perApp, names = 2, 1000, 200
	for a := range apps {
		id := fmt.Sprintf("producer-%d", a)
		e.putApp(id, appSpec(id))
		tid := "rest-http"
		for i := range perApp {
			_, _, _, err := e.site.RegisterService(b.Context(), platform.Operator, id, platform.ServiceInfoPost{SerName: fmt.Sprintf("svc-%03d", (a*perApp+i)%names),
				Version: "1", State: platform.ServiceActive, Serializer: "JSON", TransportId: &tid})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	consumer := appSpec("consumer")
	consumer["appServiceRequired"] = []any{map[string]any{"serName": "svc-042", "version": "1"}}
	e.putApp("consumer", consumer)
	tok := e.token("consumer")
	hr := httptest.NewRequest(http.MethodGet, "/mec_service_mgmt/v1/services?ser_name=svc-042", nil)
	hr.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, hr)
	if rec.Code != http.StatusOK || len(serNames(decodeJSON[[]mp1api.ServiceInfo](b, rec))) != 10 {
		b.Fatalf("got %d: %.200s", rec.Code, rec.Body.String())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, hr)
	}
}
