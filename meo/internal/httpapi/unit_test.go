package httpapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNegotiateAppD(t *testing.T) {
	for _, tc := range []struct {
		accept   string
		yaml, ok bool
	}{
		{"", false, true},
		{"*/*", false, true},
		{"application/json", false, true},
		{"application/yaml", true, true},
		{"application/x-yaml", true, true},
		{"text/plain", true, true},
		{"application/yaml, application/json;q=0.5", true, true},
		{"application/yaml;q=0.2, application/json", false, true},
		{"application/yaml, */*;q=0.1", true, true},
		{"image/png", false, false},
		{"application/json;q=0", false, false},
	} {
		y, ok := negotiateAppD(tc.accept)
		assert.Equal(t, tc.ok, ok, "accept %q", tc.accept)
		assert.Equal(t, tc.yaml, y, "accept %q", tc.accept)
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		h        string
		off, n   int64
		ok, fail bool
	}{
		{"bytes=0-9", 0, 10, true, false},
		{"bytes=90-", 90, 10, true, false},
		{"bytes=-3", 97, 3, true, false},
		{"bytes=-300", 0, 100, true, false},
		{"bytes=50-5000", 50, 50, true, false},
		{"bytes=100-", 0, 0, false, true},
		{"bytes=-0", 0, 0, false, true},
		{"bytes=9-1", 0, 0, false, false},
		{"bytes=0-1,5-6", 0, 0, false, false},
		{"bytes=x-1", 0, 0, false, false},
		{"lines=0-1", 0, 0, false, false},
	} {
		off, n, ok, err := parseRange(tc.h, 100)
		assert.Equal(t, tc.fail, err != nil, tc.h)
		assert.Equal(t, tc.ok, ok, tc.h)
		assert.Equal(t, [2]int64{tc.off, tc.n}, [2]int64{off, n}, tc.h)
	}
}
