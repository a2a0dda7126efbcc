package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/mm5api"
)

func TestDecodeInput(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		strict     bool
		err        string
		warn       string
	}{
		{name: "yaml", file: "testdata/cache.yaml", strict: true},
		{name: "json", file: "testdata/cache2.json", strict: true},
		{name: "unknown field named with its position", file: "testdata/typo.yaml", strict: true,
			err: `testdata/typo.yaml:4:1: appDNSRules: unknown field (did you mean "appDNSRule"?)`},
		{name: "unknown nested field", file: "testdata/typo-nested.json", strict: true,
			err: `testdata/typo-nested.json:6:59: appDNSRule[0].ipAddresType: unknown field (did you mean "ipAddressType"?)`},
		{name: "not strict warns", file: "testdata/typo.yaml", strict: false,
			warn: `Warning: testdata/typo.yaml:4:1: appDNSRules: unknown field (did you mean "appDNSRule"?) (ignored)`},
		{name: "malformed json", file: "testdata/malformed.json", strict: true,
			err: `testdata/malformed.json:4:3: malformed JSON: invalid character '"' after object key:value pair`},
		{name: "malformed yaml", file: "testdata/malformed.yaml", strict: true,
			err: `testdata/malformed.yaml:3:9: malformed YAML: did not find expected ',' or ']' (the collection opened here is not closed)`},
		{name: "tab in yaml", file: "testdata/tab.yaml", strict: true,
			err: `testdata/tab.yaml:3:1: malformed YAML: found a tab character that violates indentation`},
		{name: "wrong type", file: "testdata/wrongtype.yaml", strict: true,
			err: `testdata/wrongtype.yaml:7:15: appTrafficRule.priority: want an integer, not string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			require.NoError(t, err)
			var warn bytes.Buffer
			var v mm5api.AppInstance
			body, err := decodeInput(data, tc.file, &v, tc.strict, &warn)
			if tc.err != "" {
				require.Error(t, err)
				assert.Equal(t, tc.err, err.Error())
				assert.Equal(t, ExitUsage, ExitCode(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "cache", v.AppName)
			assert.True(t, bytes.HasPrefix(body, []byte("{")), "%s", body)
			assert.Equal(t, tc.warn, strings.TrimSpace(warn.String()))
		})
	}
}

// Through the command: a typo'd field stops provisioning (exit 2, nothing sent), or with
// --strict=false is a warning and the rest is provisioned.
func TestProvisionStrict(t *testing.T) {
	e, _ := siteEnv(t)
	r := run(t, e, "", "site", "provision", "edge-1", "typo", "-f", "testdata/typo.yaml")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.err, `appDNSRules: unknown field (did you mean "appDNSRule"?)`)
	assert.NotContains(t, r.err, "--help", "an input error is not a usage error of the command line")
	r = run(t, e, "", "site", "apps", "edge-1", "typo")
	assert.Equal(t, ExitNotFound, r.code, "nothing was sent")

	r = run(t, e, "", "site", "provision", "edge-1", "typo", "-f", "testdata/typo.yaml", "--strict=false", "-o", "name")
	assert.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.err, "Warning: testdata/typo.yaml:4:1: appDNSRules: unknown field")
	assert.Equal(t, "appinstance/typo\n", r.out)

	data, err := os.ReadFile("testdata/malformed.json")
	require.NoError(t, err)
	r = run(t, e, string(data), "site", "provision", "edge-1", "bad", "-f", "-")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.err, "<stdin>:4:3: malformed JSON")
}
