package httpapi

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/selector"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// TestSelectedMatchesPrunedMap checks that a package's document with an attribute selection
// is the same whether it is served from the typed view (selections that drop whole optional
// attributes) or by pruning the map: the fast path changes no answer.
func TestSelectedMatchesPrunedMap(t *testing.T) {
	h := &handler{cfg: Config{APIRoot: "https://meo.example"}}
	full := &store.Package{ID: "p1", AppDID: "appd-1", AppProvider: "acme", AppName: "app", AppSoftwareVersion: "1.0",
		AppDVersion: "2", AppPkgName: "pkg", AppPkgVersion: "1", Checksum: store.Checksum{Algorithm: "SHA-256", Hash: "ab"},
		SoftwareImages:      []map[string]any{{"id": "img", "name": "x", "size": 3}},
		AdditionalArtifacts: []map[string]any{{"artifactPath": "Artifacts/a.yaml"}},
		OnboardingState:     "ONBOARDED", OperationalState: "ENABLED", UsageState: "NOT_IN_USE",
		UserDefinedData: map[string]any{"k": "v", "n": map[string]any{"a": 1}}}
	failed := &store.Package{ID: "p2", OnboardingState: "ERROR", OperationalState: "DISABLED", UsageState: "NOT_IN_USE",
		OnboardingFailure: &store.Failure{Title: "bad", Detail: "appd: missing"}}
	cases := map[string]url.Values{
		"default":                 {},
		"all_fields":              {"all_fields": {""}},
		"exclude_default":         {"exclude_default": {""}},
		"exclude_fields":          {"exclude_fields": {"appName,checksum"}},
		"exclude failure":         {"exclude_fields": {"onboardingFailureDetails"}},
		"fields nested":           {"fields": {"userDefinedData/k"}},
		"fields top":              {"fields": {"softwareImages"}},
		"exclude nested":          {"exclude_fields": {"userDefinedData/n"}},
		"exclude_default, fields": {"exclude_default": {""}, "fields": {"checksum"}},
	}
	typed := 0
	for name, q := range cases {
		for _, p := range []*store.Package{full, failed} {
			t.Run(name+"/"+p.ID, func(t *testing.T) {
				f, err := selector.ParseFields(q, fieldSpec)
				require.NoError(t, err)
				want := h.info(p)
				f.Apply(want)
				got := h.selected(p, f)
				if _, isMap := got.(map[string]any); !isMap {
					typed++
				}
				wb, err := json.Marshal(want)
				require.NoError(t, err)
				gb, err := json.Marshal(got)
				require.NoError(t, err)
				require.JSONEq(t, string(wb), string(gb))
			})
		}
	}
	require.Positive(t, typed, "no selection took the typed path")
}
