package selector_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/selector"
)

func TestSQLShape(t *testing.T) {
	for _, tt := range []struct {
		name     string
		filter   string
		columns  map[string]string
		want     string
		wantArgs []any
	}{
		{"empty filter", "", nil, "TRUE", []any{"x"}},
		{"jsonb clause numbers on from existing args", "(eq,a/b,v)", nil,
			`COALESCE(jsonb_path_exists(doc, $2::text::jsonpath, $3::text::jsonb, true), false)`,
			[]any{"x", `$."a"."b" ? ((@.type() == "string" && @ == $s0))`, `{"s0":"v"}`}},
		{"number and boolean disjuncts", "(in,a,1,true)", nil,
			`COALESCE(jsonb_path_exists(doc, $2::text::jsonpath, $3::text::jsonb, true), false)`,
			[]any{"x", `$."a" ? ((@.type() == "string" && @ == $s0) || (@.type() == "number" && @ == $n0) || ` +
				`(@.type() == "boolean" && @ == $b1) || (@.type() == "string" && @ == $s1))`,
				`{"b1":true,"n0":1,"s0":"1","s1":"true"}`}},
		{"negation and quoting in names", `(ncont,we"ird\,x"y)`, nil,
			`NOT COALESCE(jsonb_path_exists(doc, $2::text::jsonpath, $3::text::jsonb, true), false)`,
			[]any{"x", `$."we\"ird\\" ? ((@.type() == "string" && @ like_regex "x\"y" flag "q"))`, `{}`}},
		{"mapped column eq", "(eq,onboardingState,ONBOARDED)", map[string]string{"onboardingState": "onboarding_state"},
			`(onboarding_state) = $2::text`, []any{"x", "ONBOARDED"}},
		{"mapped column nin", "(nin,onboardingState,A,B)", map[string]string{"onboardingState": "onboarding_state"},
			`NOT COALESCE((onboarding_state) = ANY($2::text[]), false)`, []any{"x", []string{"A", "B"}}},
		{"mapped column order", "(gte,appName,m)", map[string]string{"appName": "app_name"},
			`(app_name) COLLATE "C" >= $2::text`, []any{"x", "m"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := selector.ParseFilter(tt.filter)
			require.NoError(t, err)
			args := []any{"x"}
			got, err := e.SQLColumns("doc", tt.columns, &args)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantArgs, args)
		})
	}
}

func TestSQLUnsupported(t *testing.T) {
	for _, f := range []string{"(gt,created,2026-01-01T00:00:00Z)", "(eq,a,b);(lte,t,2026-01-01T00:00:00.5+02:00)"} {
		t.Run(f, func(t *testing.T) {
			e, err := selector.ParseFilter(f)
			require.NoError(t, err)
			var args []any
			_, err = e.SQL("doc", &args)
			require.ErrorIs(t, err, selector.ErrUnsupported)
		})
	}
	// Equality on a timestamp is exact string equality, which SQL can do.
	e, err := selector.ParseFilter("(eq,created,2026-01-01T00:00:00Z)")
	require.NoError(t, err)
	var args []any
	_, err = e.SQL("doc", &args)
	require.NoError(t, err)
}
