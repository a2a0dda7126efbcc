package selector_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/selector"
)

// matchCases are filters over corpus with the ids they select. The integration test runs the
// same cases through PostgreSQL.
var matchCases = []struct {
	name   string
	filter string
	want   []string
}{
	{"empty filter", "", []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7"}},
	{"eq string", "(eq,onboardingState,ONBOARDED)", []string{"p1", "p3"}},
	{"eq is case sensitive", "(eq,appName,video)", []string{"p1"}},
	{"eq several values", "(eq,appName,video,Video)", []string{"p1", "p2"}},
	{"in", "(in,onboardingState,CREATED,PROCESSING)", []string{"p2", "p4"}},
	{"neq matches absent", "(neq,onboardingState,ONBOARDED)", []string{"p2", "p4", "p5", "p6", "p7"}},
	{"nin", "(nin,onboardingState,ONBOARDED,CREATED)", []string{"p4", "p5", "p6", "p7"}},
	{"nested path", "(eq,instantiatedAppState/operationalState,STARTED)", []string{"p1"}},
	{"nested path absent parent", "(neq,instantiatedAppState/operationalState,STARTED)", []string{"p2", "p3", "p4", "p5", "p6", "p7"}},
	{"path through array of objects", "(eq,softwareImages/name,img-b)", []string{"p1"}},
	{"path through object or array", "(eq,softwareImages/name,img-a)", []string{"p1", "p4"}},
	{"neq through array: no element equal", "(neq,softwareImages/name,img-a)", []string{"p2", "p3", "p5", "p6", "p7"}},
	{"array of scalars any element", "(eq,tags,edge)", []string{"p1"}},
	{"array of arrays not flattened", "(eq,tags,edge);(neq,id,p1)", nil},
	{"scalar where array elsewhere", "(eq,tags,single)", []string{"p3"}},
	{"array inside array skipped in path", "(eq,nested/x,1)", nil},
	{"object in array reached", "(eq,nested/x,3)", []string{"p3"}},
	{"quoted comma value", "(eq,appProvider,'acme,inc')", []string{"p2"}},
	{"escaped quote value", "(eq,appName,'it''s')", []string{"p4"}},
	{"quoted parens and semicolon", "(eq,tags,'a(b);c')", []string{"p5"}},
	{"empty string value", "(eq,appProvider,'')", []string{"p4"}},
	{"quote in attribute name", "(eq,userDefinedData/it's,q)", nil}, // quote ends an attribute name: see errors
	{"key value pairs", "(eq,userDefinedData/tier,gold)", []string{"p1"}},
	{"value compares with numbers and strings", "(eq,size,10)", []string{"p1", "p4"}},
	{"number eq other spelling", "(eq,size,1.0e1)", []string{"p1"}},
	{"number with exponent in doc", "(eq,size,100)", []string{"p5"}},
	{"quoting does not make a value a string", "(eq,size,'10')", []string{"p1", "p4"}},
	{"number gt", "(gt,size,2)", []string{"p1", "p2", "p5", "p7"}},
	{"number gte and string gte", "(gte,size,10)", []string{"p1", "p4", "p5", "p7"}},
	{"number lt negative", "(lt,size,0)", []string{"p3"}},
	{"number lte fraction", "(lte,size,2.5)", []string{"p2", "p3", "p4"}},
	{"string gt lexical", "(gt,appName,b)", []string{"p1", "p4", "p5"}},
	{"string lt upper before lower", "(lt,appName,a)", []string{"p2"}},
	{"string and number ordering", "(gt,size,1)", []string{"p1", "p2", "p4", "p5", "p7"}},
	{"non-ASCII code point order", "(gt,appName,z)", []string{"p5"}},
	{"big integer exact", "(eq,size,12345678901234567890)", []string{"p7"}},
	{"boolean true", "(eq,enabled,true)", []string{"p1", "p5"}},
	{"boolean false", "(eq,enabled,false)", []string{"p2"}},
	{"boolean has no order", "(gt,enabled,false)", []string{"p5"}},
	{"cont substring", "(cont,appName,ide)", []string{"p1", "p2"}},
	{"cont several", "(cont,appName,ide,ai)", []string{"p1", "p2", "p3"}},
	{"cont regex characters literal", "(cont,tags,'(b);')", []string{"p5"}},
	{"cont not on numbers", "(cont,size,1)", []string{"p4"}},
	{"ncont", "(ncont,appName,ide)", []string{"p3", "p4", "p5", "p6", "p7"}},
	{"cont over array", "(cont,tags,dg)", []string{"p1"}},
	{"null matches nothing positive", "(eq,appName,null)", nil},
	{"null is absent for neq", "(neq,appName,null)", []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7"}},
	{"object leaf matches nothing", "(eq,instantiatedAppState,STARTED)", nil},
	{"and of clauses", "(eq,onboardingState,ONBOARDED);(gt,size,0)", []string{"p1"}},
	{"string eq on timestamp is exact", "(eq,created,2026-01-01T00:00:00+00:00)", nil},
	{"timestamp gt compares instants", "(gt,created,2025-12-31T23:00:00Z)", []string{"p1", "p3", "p4", "p7"}},
	{"timestamp lt across offsets", "(lt,created,2025-12-31T23:30:00Z)", []string{"p2"}},
	{"timestamp gte fraction", "(gte,created,2025-12-31T23:59:59.5Z)", []string{"p1", "p3", "p4", "p7"}},
	{"timestamp gte equal instant other offset", "(gte,created,2025-12-31T23:00:00Z)", []string{"p1", "p2", "p3", "p4", "p7"}},
	{"timestamp lte", "(lte,created,2026-01-01T00:00:00Z)", []string{"p1", "p2", "p4"}},
}

func ids(docs []map[string]any, e selector.Expr) []string {
	var out []string
	for _, d := range docs {
		if e.Match(d) {
			out = append(out, fmt.Sprint(d["id"]))
		}
	}
	return out
}

func TestMatch(t *testing.T) {
	for _, numbers := range []struct {
		name      string
		useNumber bool
	}{{"json.Number", true}, {"float64", false}} {
		docs := decode(t, numbers.useNumber)
		for _, tt := range matchCases {
			t.Run(numbers.name+"/"+tt.name, func(t *testing.T) {
				e, err := selector.ParseFilter(tt.filter)
				if tt.name == "quote in attribute name" {
					require.ErrorIs(t, err, selector.ErrInvalid)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tt.want, ids(docs, e), "filter %s", tt.filter)
			})
		}
	}
}

func TestMatchEmptyAndNilDocument(t *testing.T) {
	for _, tt := range []struct {
		filter string
		want   bool
	}{
		{"(eq,a,1)", false},
		{"(neq,a,1)", true},
		{"(ncont,a/b,x)", true},
		{"(gt,a,1)", false},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			e, err := selector.ParseFilter(tt.filter)
			require.NoError(t, err)
			assert.Equal(t, tt.want, e.Match(nil), "nil document")
			assert.Equal(t, tt.want, e.Match(map[string]any{}), "empty document")
		})
	}
}
