package selector_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// corpus holds documents shaped like Mm1 resources, with the awkward cases: nested objects,
// arrays of objects and scalars, arrays of arrays, absent and null attributes, mixed types
// under one name, timestamps, quotes and commas, non-ASCII text and big numbers.
var corpus = []string{
	`{"id":"p1","appName":"video","appProvider":"acme","onboardingState":"ONBOARDED","operationalState":"ENABLED",
	  "size":10,"enabled":true,"created":"2026-01-01T00:00:00Z",
	  "instantiatedAppState":{"operationalState":"STARTED"},
	  "softwareImages":[{"name":"img-a","size":100},{"name":"img-b","size":5}],"tags":["edge","video"],
	  "userDefinedData":{"tier":"gold","it's":"q"},"_links":{"self":{"href":"/p1"}}}`,
	`{"id":"p2","appName":"Video","appProvider":"acme,inc","onboardingState":"CREATED","operationalState":"DISABLED",
	  "size":2.5,"enabled":false,"created":"2026-01-01T01:00:00+02:00",
	  "instantiatedAppState":{"operationalState":"STOPPED"},
	  "softwareImages":[],"tags":[],"userDefinedData":{},"_links":{"self":{"href":"/p2"}}}`,
	`{"id":"p3","appName":"ai","onboardingState":"ONBOARDED","size":-1,"created":"not a time",
	  "softwareImages":[{"name":"img-c"}],"tags":"single","userDefinedData":null,"nested":[[{"x":1}],[2],{"x":3}]}`,
	`{"id":"p4","appName":"it's","appProvider":"","onboardingState":"PROCESSING","size":"10",
	  "created":"2025-12-31T23:59:59.5Z","softwareImages":{"name":"img-a"},"tags":[["edge"]]}`,
	`{"id":"p5","appName":"é-app","size":1e2,"size2":100.0,"enabled":"true","tags":["a(b);c"]}`,
	`{"id":"p6"}`,
	`{"id":"p7","appName":null,"size":12345678901234567890,"created":"2026-02-30T00:00:00Z"}`,
}

// decode parses the corpus with json.Number (useNumber) or float64 numbers.
func decode(t testing.TB, useNumber bool) []map[string]any {
	t.Helper()
	docs := make([]map[string]any, len(corpus))
	for i, s := range corpus {
		d := json.NewDecoder(bytes.NewReader([]byte(s)))
		if useNumber {
			d.UseNumber()
		}
		require.NoError(t, d.Decode(&docs[i]), "corpus[%d]", i)
	}
	return docs
}
