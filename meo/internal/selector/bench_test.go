package selector_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/selector"
)

// BenchmarkMatch10k filters 10,000 AppPkgInfo-like documents with three clauses: a top-level
// string, a path through an array of objects, and a number range.
func BenchmarkMatch10k(b *testing.B) {
	docs := make([]map[string]any, 10000)
	for i := range docs {
		state := "ONBOARDED"
		if i%3 == 0 {
			state = "CREATED"
		}
		docs[i] = map[string]any{
			"id": fmt.Sprintf("pkg-%05d", i), "appName": fmt.Sprintf("app-%d", i%100),
			"onboardingState": state, "operationalState": "ENABLED", "size": float64(i),
			"softwareImages": []any{
				map[string]any{"name": fmt.Sprintf("img-%d", i%7), "version": "1.0"},
				map[string]any{"name": "sidecar", "version": "2.0"},
			},
			"_links": map[string]any{"self": map[string]any{"href": "/app_packages/" + fmt.Sprint(i)}},
		}
	}
	e, err := selector.ParseFilter("(eq,onboardingState,ONBOARDED);(in,softwareImages/name,img-3,img-5);(gte,size,100)")
	require.NoError(b, err)
	n := 0
	for _, d := range docs {
		if e.Match(d) {
			n++
		}
	}
	require.Equal(b, 1886, n, "documents matched")
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range docs {
			e.Match(d)
		}
	}
}
