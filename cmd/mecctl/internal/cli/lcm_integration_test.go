//go:build integration

package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The app LCM commands against a real MEO with no site registered: create, list and get an
// instance, then instantiate it, which the MEO places nowhere, so the op occurrence ends
// FAILED with the placement's reason: the whole path of --wait and --watch without a site.
func TestAppCommandsGolden(t *testing.T) {
	e, _ := meoEnv(t)
	n := &normalizer{}
	ok(t, e, "", "package", "onboard", "-f", writeFile(t, "mecapp.zip", samplePackage(t, "mecapp")), "--wait")

	r := run(t, e, "", "app", "create", "--appd-id", "mecapp", "--name", "mecapp-1", "-o", "yaml")
	require.Equal(t, 0, r.code, r.err)
	golden(t, "app-create.yaml", n.normalize(r.out))
	id := strings.TrimSpace(strings.TrimPrefix(ok(t, e, "", "app", "list", "-o", "name"), "app/"))
	require.Regexp(t, `^[0-9a-f-]{36}$`, id)

	goldenFormats(t, e, n, "app-list", "app", "list")
	goldenFormats(t, e, n, "app-get", "app", "get", id)

	r = run(t, e, "", "app", "instantiate", id, "--tac", "00a1", "--wait", "--timeout", "20s")
	assert.Equal(t, ExitRefused, r.code, r.err)
	assert.Regexp(t, `INSTANTIATE op occurrence \S+ ended FAILED`, r.err)
	assert.Contains(t, r.err, "no site")
	assert.Contains(t, r.err, "placement: no site chosen")

	r = run(t, e, "", "app", "instantiate", id, "--watch", "--timeout", "20s")
	assert.Equal(t, ExitRefused, r.code, r.err)
	assert.Regexp(t, `(?m)^opocc/\S+ (STARTING|PROCESSING)$`, r.err)
	assert.Regexp(t, `(?m)^opocc/\S+ FAILED$`, r.err)

	r = run(t, e, "", "app", "create", "--name", "x")
	assert.Equal(t, ExitUsage, r.code, r.err)
	r = run(t, e, "", "app", "create", "--appd-id", "ghost")
	assert.NotEqual(t, 0, r.code, r.err)
	assert.Contains(t, r.err, "create app instance of ghost failed")
	r = run(t, e, "", "app", "get", "nope")
	assert.Equal(t, ExitNotFound, r.code, r.err)
	r = run(t, e, "", "app", "operate", id, "--state", "RUNNING")
	assert.Equal(t, ExitUsage, r.code, r.err)

	goldenFormats(t, e, n, "opocc-list", "opocc", "list", "--app", id)
	ops := strings.Fields(ok(t, e, "", "opocc", "list", "--app", id, "-o", "name"))
	require.Len(t, ops, 2)
	op := strings.TrimPrefix(ops[0], "opocc/")
	for _, f := range []string{FormatTable, FormatYAML, FormatName} {
		r := run(t, e, "", "opocc", "get", op, "-o", f)
		require.Equal(t, 0, r.code, r.err)
		golden(t, "opocc-get."+f, n.normalize(r.out))
	}
	r = run(t, e, "", "opocc", "fail", op)
	assert.Equal(t, ExitRefused, r.code, "a FAILED op occurrence cannot fail again: %s", r.err)
	assert.Contains(t, r.err, "fail op occurrence "+op+" failed: 409")
	r = run(t, e, "", "opocc", "get", "nope")
	assert.Equal(t, ExitNotFound, r.code, r.err)

	out := ok(t, e, "", "app", "delete", id, "-o", "name")
	assert.Equal(t, "app/"+id+"\n", out)
	assert.Equal(t, ExitNotFound, run(t, e, "", "app", "get", id).code)
}
