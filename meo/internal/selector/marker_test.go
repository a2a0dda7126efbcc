package selector_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/selector"
)

type pageKey struct {
	List string `json:"l"`
	ID   string `json:"id"`
	Seq  int64  `json:"s"`
}

func TestMarkerRoundTrip(t *testing.T) {
	c, err := selector.NewMarkerCodec([]byte("0123456789abcdef0123"))
	require.NoError(t, err)
	in := pageKey{List: "app_packages", ID: "p/1?x&y", Seq: 42}
	m := c.EncodeMarker(in)
	assert.Equal(t, m, url.QueryEscape(m), "marker needs no escaping in a query")
	var out pageKey
	require.NoError(t, c.DecodeMarker(m, &out))
	assert.Equal(t, in, out)
}

func TestMarkerRejects(t *testing.T) {
	c, err := selector.NewMarkerCodec([]byte("0123456789abcdef0123"))
	require.NoError(t, err)
	other, err := selector.NewMarkerCodec([]byte("another-key-of-twenty"))
	require.NoError(t, err)
	good := c.EncodeMarker(pageKey{List: "app_packages", ID: "p1", Seq: 1})
	payload, mac, _ := strings.Cut(good, ".")
	flip := func(s string) string { // change one character, keeping the base64 alphabet
		b := []byte(s)
		if b[1] == 'A' {
			b[1] = 'B'
		} else {
			b[1] = 'A'
		}
		return string(b)
	}
	for _, tt := range []struct {
		name, marker string
		into         any
	}{
		{"empty", "", &pageKey{}},
		{"no mac", payload, &pageKey{}},
		{"payload altered", flip(payload) + "." + mac, &pageKey{}},
		{"mac altered", payload + "." + flip(mac), &pageKey{}},
		{"mac truncated", payload + "." + mac[:10], &pageKey{}},
		{"not base64", "!!!." + mac, &pageKey{}},
		{"other key", other.EncodeMarker(pageKey{List: "app_packages", ID: "p1", Seq: 1}), &pageKey{}},
		{"too long", strings.Repeat("A", selector.MaxMarkerLen+1), &pageKey{}},
		{"key of another shape", c.EncodeMarker(map[string]any{"other": 1}), &pageKey{}},
		{"key of another type", c.EncodeMarker("a string"), &pageKey{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, c.DecodeMarker(tt.marker, tt.into), selector.ErrInvalid)
		})
	}
}

func TestNewMarkerCodecShortKey(t *testing.T) {
	_, err := selector.NewMarkerCodec([]byte("short"))
	require.Error(t, err)
}

func TestNextLink(t *testing.T) {
	for _, tt := range []struct{ name, in, marker, want string }{
		{"adds the marker", "http://meo:8080/app_pkgm/v1/app_packages?filter=(eq,appName,a);(neq,b,%27x%3By%27)", "m1",
			`<http://meo:8080/app_pkgm/v1/app_packages?filter=(eq,appName,a);(neq,b,%27x%3By%27)&nextpage_opaque_marker=m1>; rel="next"`},
		{"replaces the marker", "https://meo/app_lcm/v1/app_instances?nextpage_opaque_marker=old&all_fields&nextpage_opaque_marker=o2", "n+w=",
			`<https://meo/app_lcm/v1/app_instances?all_fields&nextpage_opaque_marker=n%2Bw%3D>; rel="next"`},
		{"no query", "http://meo/app_lcm/v1/app_lcm_op_occs#x", "m",
			`<http://meo/app_lcm/v1/app_lcm_op_occs?nextpage_opaque_marker=m>; rel="next"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, selector.NextLink(u, tt.marker))
			assert.Equal(t, tt.in, u.String(), "request URL unchanged")
		})
	}
}

func TestParseQuery(t *testing.T) {
	for _, tt := range []struct {
		name string
		raw  string
		want url.Values
	}{
		{"semicolon stays in the filter", "filter=(eq,a,b);(in,c,d,e)&all_fields",
			url.Values{"filter": {"(eq,a,b);(in,c,d,e)"}, "all_fields": {""}}},
		{"percent-encoded", "filter=%28eq%2Ca%2C%27x%3By%27%29&fields=a%2Fb", url.Values{"filter": {"(eq,a,'x;y')"}, "fields": {"a/b"}}},
		{"plus is a space", "filter=(eq,a,b+c)", url.Values{"filter": {"(eq,a,b c)"}}},
		{"repeated and empty pairs", "fields=a&&fields=b&", url.Values{"fields": {"a", "b"}}},
		{"empty", "", url.Values{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selector.ParseQuery(tt.raw)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := selector.ParseQuery("filter=%zz")
	require.ErrorIs(t, err, selector.ErrInvalid)
}
