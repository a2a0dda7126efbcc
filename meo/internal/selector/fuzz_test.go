package selector_test

import (
	"net/url"
	"slices"
	"testing"

	"github.com/edgemec/edgemec/meo/internal/selector"
)

// FuzzParseFilter: parsing never panics; a parsed filter prints to a string that parses to the
// same clauses, matches the same documents, and renders to SQL without panicking.
func FuzzParseFilter(f *testing.F) {
	for _, tt := range matchCases {
		f.Add(tt.filter)
	}
	for _, s := range []string{"(eq,a,'it''s')", "(in,a,'',''''),(", "(eq,a/b/c,'a,b')", "((eq,a,b))", "(eq,a,b;c)",
		"(cont,a,'\\')", "(gt,a,2026-01-01T00:00:00Z)", "(eq,a,\xff)", "(eq,a,'x''", ";", "(eq,a,1e999)"} {
		f.Add(s)
	}
	docs := decode(f, true)
	f.Fuzz(func(t *testing.T, s string) {
		e, err := selector.ParseFilter(s)
		if err != nil {
			return
		}
		again, err := selector.ParseFilter(e.String())
		if err != nil {
			t.Fatalf("ParseFilter(%q).String() = %q does not parse: %v", s, e.String(), err)
		}
		if !slices.Equal(clausesStrings(e), clausesStrings(again)) || again.String() != e.String() {
			t.Fatalf("round trip of %q: %q then %q", s, e.String(), again.String())
		}
		for _, d := range docs {
			if e.Match(d) != again.Match(d) {
				t.Fatalf("round trip of %q changes Match", s)
			}
		}
		var args []any
		if _, err := e.SQL("doc", &args); err != nil {
			return
		}
	})
}

func clausesStrings(e selector.Expr) []string {
	var out []string
	for _, c := range e.Clauses() {
		out = append(out, string(c.Op), c.Attr())
		out = append(out, c.Values...)
		out = append(out, "|")
	}
	return out
}

// FuzzParseFields: no panics, and Apply never panics on what parses.
func FuzzParseFields(f *testing.F) {
	for _, s := range []string{"fields=a/b,c", "exclude_fields=softwareImages/size", "all_fields", "exclude_default&fields=x",
		"fields=softwareImages/name/x", "exclude_fields=id"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		spec := pkgSpec
		spec.Known = nil
		fs, err := selector.ParseFields(q, spec)
		if err != nil {
			return
		}
		for _, d := range decode(t, false) {
			fs.Apply(d)
		}
	})
}
