package mp1api_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/mp1api"
)

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
			out, err := mp1api.NormalizeTrafficRuleJSON([]byte(tt.in))
			if tt.err {
				require.ErrorIs(t, err, mp1api.ErrNotObject)
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
