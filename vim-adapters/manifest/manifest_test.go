package manifest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/vim-adapters/manifest"
)

func TestDecode(t *testing.T) {
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
	}
	for _, tc := range []struct {
		name  string
		docs  []string
		lim   manifest.Limits
		names []string
		err   string
	}{
		{name: "two documents", docs: []string{cm("a") + "---\n" + cm("b")}, names: []string{"a", "b"}},
		{name: "empty documents skipped", docs: []string{"---\n---\n" + cm("a") + "---\n"}, names: []string{"a"}},
		{name: "JSON", docs: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j"}}`}, names: []string{"j"}},
		{name: "several streams", docs: []string{cm("a"), cm("b")}, names: []string{"a", "b"}},
		{name: "List expanded", docs: []string{`{"apiVersion":"v1","kind":"List","items":[` +
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}},{"apiVersion":"v1","kind":"Secret","metadata":{"name":"y"}}]}`}, names: []string{"x", "y"}},
		{name: "test hook dropped", docs: []string{cm("a") + "---\n" + "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n"}, names: []string{"a"}},
		{name: "test hook in a List dropped", docs: []string{`{"apiVersion":"v1","kind":"List","items":[` +
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"t","annotations":{"helm.sh/hook":"test-success"}}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}]}`}, names: []string{"c"}},
		{name: "other hooks kept", docs: []string{"apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: pre\n  annotations:\n    helm.sh/hook: pre-install\n"}, names: []string{"pre"}},
		{name: "no name", docs: []string{"apiVersion: v1\nkind: ConfigMap\n"}, err: "object 1 has no apiVersion, kind or name"},
		{name: "List item without a name", docs: []string{`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap"}]}`}, err: "no apiVersion, kind or name"},
		{name: "List without items", docs: []string{`{"apiVersion":"v1","kind":"List"}`}, err: "a List without items"},
		{name: "List item not an object", docs: []string{`{"apiVersion":"v1","kind":"List","items":[1]}`}, err: "not an object"},
		{name: "too many objects", docs: []string{cm("a") + "---\n" + cm("b") + "---\n" + cm("c")}, lim: manifest.Limits{MaxObjects: 2}, err: "more than 2 objects"},
		{name: "too many List items", docs: []string{`{"apiVersion":"v1","kind":"List","items":[` +
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}},{"apiVersion":"v1","kind":"Secret","metadata":{"name":"y"}}]}`}, lim: manifest.Limits{MaxObjects: 1}, err: "more than 1 objects"},
		{name: "document too large", docs: []string{cm(strings.Repeat("a", 100))}, lim: manifest.Limits{MaxBytes: 64}, err: "exceeds 64 bytes"},
		{name: "nothing", docs: []string{"---\n"}, err: "no objects"},
		{name: "broken YAML", docs: []string{"apiVersion: v1\nkind: [\n"}, err: "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var docs [][]byte
			for _, d := range tc.docs {
				docs = append(docs, []byte(d))
			}
			objs, err := manifest.Decode(docs, tc.lim)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			var names []string
			for _, o := range objs {
				names = append(names, o.GetName())
			}
			assert.Equal(t, tc.names, names)
		})
	}
}
