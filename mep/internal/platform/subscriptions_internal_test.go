package platform

import (
	"encoding/json"
	"testing"
)

// FuzzJSONStringContent: a spliced link is byte for byte what json.Marshal would have put in
// the body.
func FuzzJSONStringContent(f *testing.F) {
	for _, s := range []string{"", "http://mep.test/mec_service_mgmt/v1/applications/a/subscriptions/1",
		`a"b\c`, "<&>", "tab\there", "é", "\u2028\u2029", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := jsonStringContent(s), string(b[1:len(b)-1]); got != want {
			t.Errorf("jsonStringContent(%q) = %q; want %q", s, got, want)
		}
	})
}

func TestIfMatchOK(t *testing.T) {
	const cur = `"abc"`
	for in, want := range map[string]bool{
		``:                  true,
		`*`:                 true,
		`"abc"`:             true,
		` "abc" `:           true,
		`"x", "abc"`:        true,
		`"x","abc"`:         true,
		`"x"`:               false,
		`W/"abc"`:           false, // strong comparison: a weak tag never matches
		`"x", W/"abc"`:      false,
		`abc`:               false,
		`"abc", "y", W/"z"`: true,
	} {
		if got := ifMatchOK(in, cur); got != want {
			t.Errorf("ifMatchOK(%q, %q) = %v; want %v", in, cur, got, want)
		}
	}
}
