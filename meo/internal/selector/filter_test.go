package selector_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/selector"
)

type clause struct {
	op     selector.Op
	attr   string
	values []string
}

func clausesOf(e selector.Expr) []clause {
	var out []clause
	for _, c := range e.Clauses() {
		out = append(out, clause{c.Op, c.Attr(), c.Values})
	}
	return out
}

func TestParseFilter(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want []clause
	}{
		{"empty filter matches all", "", nil},
		{"one clause", "(eq,onboardingState,ONBOARDED)", []clause{{selector.OpEq, "onboardingState", []string{"ONBOARDED"}}}},
		{"nested path", "(eq,instantiatedAppState/operationalState,STARTED)",
			[]clause{{selector.OpEq, "instantiatedAppState/operationalState", []string{"STARTED"}}}},
		{"in with list", "(in,appName,a,b,c)", []clause{{selector.OpIn, "appName", []string{"a", "b", "c"}}}},
		{"and of clauses", "(eq,a,1);(neq,b,2);(cont,c,x)", []clause{
			{selector.OpEq, "a", []string{"1"}}, {selector.OpNeq, "b", []string{"2"}}, {selector.OpCont, "c", []string{"x"}}}},
		{"every operator", "(eq,a,1);(neq,a,1);(in,a,1);(nin,a,1);(gt,a,1);(gte,a,1);(lt,a,1);(lte,a,1);(cont,a,1);(ncont,a,1)", []clause{
			{"eq", "a", []string{"1"}}, {"neq", "a", []string{"1"}}, {"in", "a", []string{"1"}}, {"nin", "a", []string{"1"}},
			{"gt", "a", []string{"1"}}, {"gte", "a", []string{"1"}}, {"lt", "a", []string{"1"}}, {"lte", "a", []string{"1"}},
			{"cont", "a", []string{"1"}}, {"ncont", "a", []string{"1"}}}},
		{"quoted comma", "(eq,appName,'a,b')", []clause{{"eq", "appName", []string{"a,b"}}}},
		{"quoted parens and semicolon", "(eq,appName,'f(x);y')", []clause{{"eq", "appName", []string{"f(x);y"}}}},
		{"escaped quote", "(eq,appName,'it''s')", []clause{{"eq", "appName", []string{"it's"}}}},
		{"only an escaped quote", "(eq,appName,'''')", []clause{{"eq", "appName", []string{"'"}}}},
		{"quoted empty value", "(eq,appName,'')", []clause{{"eq", "appName", []string{""}}}},
		{"mixed quoted and plain", "(in,appName,'a,b',c,'')", []clause{{"in", "appName", []string{"a,b", "c", ""}}}},
		{"spaces are kept", "(eq,app Name, x )", []clause{{"eq", "app Name", []string{" x "}}}},
		{"unicode value", "(eq,appName,Ünïcødé)", []clause{{"eq", "appName", []string{"Ünïcødé"}}}},
		{"slash, open paren and semicolon in plain value", "(eq,a,x/y(z;w)", []clause{{"eq", "a", []string{"x/y(z;w"}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := selector.ParseFilter(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, clausesOf(e))
			// String is canonical: parsing it again gives the same clauses.
			again, err := selector.ParseFilter(e.String())
			require.NoError(t, err, "reparse %q", e.String())
			assert.Equal(t, tt.want, clausesOf(again))
		})
	}
}

func TestParseFilterErrors(t *testing.T) {
	many := func(n int, s string) string { return strings.TrimSuffix(strings.Repeat(s+";", n), ";") }
	for _, tt := range []struct {
		name   string
		in     string
		clause int
		offset int
		reason string
	}{
		{"no parens", "eq,a,b", 1, 0, "expected '('"},
		{"missing close paren", "(eq,a,b", 1, 7, "missing ')'"},
		{"extra close paren", "(eq,a,b))", 1, 8, "expected ';' or end"},
		{"unknown operator", "(like,a,b)", 1, 1, `unknown operator "like"`},
		{"upper case operator", "(EQ,a,b)", 1, 1, `unknown operator "EQ"`},
		{"missing operator", "(,a,b)", 1, 1, "missing operator"},
		{"no value", "(eq,a)", 1, 6, "needs a value"},
		{"empty plain value", "(eq,a,)", 1, 6, "empty value"},
		{"empty value in list", "(in,a,x,,y)", 1, 8, "empty value"},
		{"empty attribute", "(eq,,b)", 1, 4, "empty attribute name"},
		{"empty path segment", "(eq,a//b,c)", 1, 6, "empty attribute name"},
		{"trailing slash", "(eq,a/,c)", 1, 6, "empty attribute name"},
		{"unterminated quote", "(eq,a,'abc)", 1, 6, "unterminated quoted value"},
		{"garbage after quote", "(eq,a,'x'y)", 1, 9, `unexpected 'y' after quoted value`},
		{"quote inside plain value", "(eq,a,x'y)", 1, 7, "quote inside unquoted value"},
		{"two values for gt", "(gt,a,1,2)", 1, 10, "exactly one value"},
		{"trailing semicolon", "(eq,a,b);", 2, 9, "filter ends"},
		{"double semicolon", "(eq,a,b);;(eq,c,d)", 2, 9, "expected '('"},
		{"space between clauses", "(eq,a,b); (eq,c,d)", 2, 9, "expected '('"},
		{"control character in value", "(eq,a,x\ty)", 1, 6, "control character"},
		{"NUL in quoted value", "(eq,a,'x\x00')", 1, 6, "control character"},
		{"invalid UTF-8", "(eq,a,\xff)", 0, 6, "not valid UTF-8"},
		{"too long", "(eq,a," + strings.Repeat("x", selector.MaxFilterLen) + ")", 0, 0, "longer than 4096 bytes"},
		{"too many clauses", many(selector.MaxClauses+1, "(eq,a,b)"), 33, 288, "more than 32 clauses"},
		{"too many values", "(in,a" + strings.Repeat(",v", selector.MaxValues+1) + ")", 1, 517, "more than 256 values"},
		{"too many values over clauses", many(2, "(in,a"+strings.Repeat(",v", 200)+")"), 2, 524, "more than 256 values"},
		{"path too deep", "(eq," + strings.Repeat("a/", selector.MaxDepth) + "a,b)", 1, 37, "deeper than 16"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := selector.ParseFilter(tt.in)
			require.Error(t, err)
			require.ErrorIs(t, err, selector.ErrInvalid)
			var fe *selector.Error
			require.True(t, errors.As(err, &fe), "got %T; want *selector.Error", err)
			assert.Equal(t, tt.clause, fe.Clause, "clause of %v", err)
			assert.Equal(t, tt.offset, fe.Offset, "offset of %v", err)
			assert.Contains(t, fe.Reason, tt.reason)
			assert.Contains(t, err.Error(), "offset")
		})
	}
}

func TestCheck(t *testing.T) {
	e, err := selector.ParseFilter("(eq,appName,x);(eq,bogus/attr,y)")
	require.NoError(t, err)
	known := func(a string) bool { return a == "appName" }
	err = e.Check(known)
	require.ErrorIs(t, err, selector.ErrInvalid)
	assert.Contains(t, err.Error(), `clause 2 at offset 19`)
	assert.Contains(t, err.Error(), `"bogus/attr"`)
	ok, err := selector.ParseFilter("(eq,appName,x)")
	require.NoError(t, err)
	assert.NoError(t, ok.Check(known))
}
