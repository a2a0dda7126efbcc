package selector_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/selector"
)

// pkgSpec is an AppPkgInfo-like spec: softwareImages and additionalArtifacts are excluded by
// default, userDefinedData and checksum are complex too.
var pkgSpec = selector.FieldSpec{
	Default: []string{"softwareImages", "additionalArtifacts"},
	Complex: []string{"softwareImages", "additionalArtifacts", "userDefinedData", "checksum"},
	Keep:    []string{"id", "_links"},
	Known: func(a string) bool {
		switch a {
		case "id", "_links", "_links/self", "appName", "softwareImages", "softwareImages/name", "softwareImages/size",
			"additionalArtifacts", "userDefinedData", "userDefinedData/tier", "checksum", "checksum/hash":
			return true
		}
		return false
	},
}

const pkgDoc = `{"id":"p1","appName":"video",
	"softwareImages":[{"name":"a","size":1,"x":true},{"name":"b","size":2}],
	"additionalArtifacts":[{"path":"x"}],
	"userDefinedData":{"tier":"gold","zone":"z1"},
	"checksum":{"algorithm":"SHA-256","hash":"ab"},
	"_links":{"self":{"href":"/p1"}}}`

func TestFields(t *testing.T) {
	for _, tt := range []struct {
		name  string
		query string
		want  string
	}{
		{"no selector excludes the default set", "",
			`{"id":"p1","appName":"video","userDefinedData":{"tier":"gold","zone":"z1"},
			  "checksum":{"algorithm":"SHA-256","hash":"ab"},"_links":{"self":{"href":"/p1"}}}`},
		{"exclude_default same as none", "exclude_default",
			`{"id":"p1","appName":"video","userDefinedData":{"tier":"gold","zone":"z1"},
			  "checksum":{"algorithm":"SHA-256","hash":"ab"},"_links":{"self":{"href":"/p1"}}}`},
		{"all_fields keeps everything", "all_fields", pkgDoc},
		{"all_fields=true", "all_fields=true", pkgDoc},
		{"fields keeps only listed complex attributes", "fields=softwareImages",
			`{"id":"p1","appName":"video","softwareImages":[{"name":"a","size":1,"x":true},{"name":"b","size":2}],
			  "_links":{"self":{"href":"/p1"}}}`},
		{"fields nested path prunes inside arrays", "fields=softwareImages/name,checksum/hash",
			`{"id":"p1","appName":"video","softwareImages":[{"name":"a"},{"name":"b"}],"checksum":{"hash":"ab"},
			  "_links":{"self":{"href":"/p1"}}}`},
		{"fields repeated parameters merge", "fields=softwareImages/name&fields=userDefinedData",
			`{"id":"p1","appName":"video","softwareImages":[{"name":"a"},{"name":"b"}],
			  "userDefinedData":{"tier":"gold","zone":"z1"},"_links":{"self":{"href":"/p1"}}}`},
		{"exclude_default with fields", "exclude_default&fields=softwareImages/size",
			`{"id":"p1","appName":"video","softwareImages":[{"size":1},{"size":2}],
			  "userDefinedData":{"tier":"gold","zone":"z1"},"checksum":{"algorithm":"SHA-256","hash":"ab"},
			  "_links":{"self":{"href":"/p1"}}}`},
		{"exclude_fields removes listed, keeps the rest", "exclude_fields=userDefinedData/tier,checksum",
			`{"id":"p1","appName":"video","softwareImages":[{"name":"a","size":1,"x":true},{"name":"b","size":2}],
			  "additionalArtifacts":[{"path":"x"}],"userDefinedData":{"zone":"z1"},"_links":{"self":{"href":"/p1"}}}`},
		{"exclude_fields inside arrays", "exclude_fields=softwareImages/size",
			`{"id":"p1","appName":"video","softwareImages":[{"name":"a","x":true},{"name":"b"}],
			  "additionalArtifacts":[{"path":"x"}],"userDefinedData":{"tier":"gold","zone":"z1"},
			  "checksum":{"algorithm":"SHA-256","hash":"ab"},"_links":{"self":{"href":"/p1"}}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			f, err := selector.ParseFields(q, pkgSpec)
			require.NoError(t, err)
			var doc, want map[string]any
			require.NoError(t, json.Unmarshal([]byte(pkgDoc), &doc))
			require.NoError(t, json.Unmarshal([]byte(tt.want), &want))
			f.Apply(doc)
			assert.Equal(t, want, doc)
		})
	}
}

func TestFieldsErrors(t *testing.T) {
	for _, tt := range []struct{ name, query string }{
		{"all_fields with fields", "all_fields&fields=softwareImages"},
		{"all_fields with exclude_fields", "all_fields&exclude_fields=checksum"},
		{"all_fields with exclude_default", "all_fields&exclude_default"},
		{"fields with exclude_fields", "fields=softwareImages&exclude_fields=checksum"},
		{"exclude_default with exclude_fields", "exclude_default&exclude_fields=checksum"},
		{"flag with a value", "exclude_default=yes"},
		{"empty fields", "fields="},
		{"empty item", "fields=softwareImages,,checksum"},
		{"empty segment", "fields=softwareImages//name"},
		{"unknown attribute", "fields=bogus"},
		{"unknown nested attribute", "exclude_fields=checksum/bogus"},
		{"excluding a kept attribute", "exclude_fields=id"},
		{"excluding inside a kept attribute", "exclude_fields=_links/self"},
		{"filter syntax in a path", "fields=(eq,a,b)"},
		{"too many paths", "fields=" + repeatList("appName", selector.MaxFieldPaths+1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			_, err = selector.ParseFields(q, pkgSpec)
			require.ErrorIs(t, err, selector.ErrInvalid)
		})
	}
}

func repeatList(s string, n int) string {
	out := s
	for range n - 1 {
		out += "," + s
	}
	return out
}

func TestFieldsZeroKeepsAll(t *testing.T) {
	var doc, want map[string]any
	require.NoError(t, json.Unmarshal([]byte(pkgDoc), &doc))
	require.NoError(t, json.Unmarshal([]byte(pkgDoc), &want))
	f, err := selector.ParseFields(url.Values{}, selector.FieldSpec{Keep: []string{"id"}})
	require.NoError(t, err)
	require.True(t, f.All(), "a spec without defaults removes nothing")
	f.Apply(doc)
	assert.Equal(t, want, doc)
}
