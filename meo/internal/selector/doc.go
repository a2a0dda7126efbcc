// Package selector implements the query parameters that ETSI GS MEC 009 (clauses 6.18 and 6.19,
// which follow ETSI GS NFV-SOL 013 clause 5) gives every Mm1 list resource: attribute-based
// filtering (filter), attribute selectors (all_fields, fields, exclude_fields, exclude_default)
// and paging (nextpage_opaque_marker with a Link rel="next" header).
//
// # Filter grammar
//
//	filter       = clause *( ";" clause )                  ; clauses are ANDed
//	clause       = "(" op "," attrPath 1*( "," value ) ")"
//	op           = "eq" / "neq" / "in" / "nin" / "gt" / "gte" / "lt" / "lte" / "cont" / "ncont"
//	attrPath     = attrName *( "/" attrName )              ; "/" descends into objects
//	attrName     = 1*( any character except , ; ( ) ' / and control characters )
//	value        = quoted / unquoted
//	quoted       = "'" *( any character except "'" / "''" ) "'"   ; "''" is one "'"
//	unquoted     = 1*( any character except , ) ' and control characters )
//
// A value that contains a comma, a closing parenthesis or a single quote, or that is empty, is
// written quoted, a quote inside doubled:
//
//	(eq,appInstanceName,'a,b')    the value a,b
//	(eq,appInstanceName,'it''s')  the value it's
//	(eq,appInstanceName,'')       the empty string; (eq,appInstanceName,) is an error
//
// Expr.String also quotes values holding "(" or ";". Nothing is trimmed: spaces belong to
// names and values. gt, gte, lt and lte take exactly one value; the other operators take one
// or more (eq with several values means "equal to one of them", like in). A filter is at most
// 4 KiB, 32 clauses, 256 values and 16 path segments, valid UTF-8 without control characters.
// Violations are *Error values that match ErrInvalid and name the clause and byte offset,
// ready for a 400 ProblemDetails. Expr.Check rejects attributes the resource does not have.
//
// # Match semantics
//
// A path is resolved against the JSON document one name at a time. When the current value is
// an array, the step applies to each of its elements (one level deep, arrays of arrays are not
// looked into), and at the end of the path an array stands for its elements. This yields a set
// of candidate values; a clause holds when:
//
//   - eq, in: some candidate equals some value;
//   - gt, gte, lt, lte: some candidate compares as asked with the value;
//   - cont: some string candidate contains some value as a substring;
//   - neq, nin, ncont: the positive form (eq, in, cont) does not hold. So an absent attribute
//     matches neq and an array matches neq only when no element equals any value.
//
// A candidate compares with a value by the candidate's JSON type: a number compares
// numerically when the value is a JSON number (json.Number exactly, float64 as float64); a
// string compares byte-wise (Unicode code point order), except that for gt, gte, lt and lte a
// value and a candidate that both parse as RFC 3339 timestamps compare as instants; a boolean
// equals "true" or "false" and has no order. null, objects, and arrays inside arrays match
// nothing. Equality on strings is always exact.
//
// # SQL
//
// Expr.SQL renders the same expression as a PostgreSQL WHERE fragment over a jsonb column,
// using jsonb_path_exists in lax mode with a type guard per comparison, which gives exactly the
// semantics above (the integration test checks every operator against Match). Ordering on
// RFC 3339 timestamps has no safe equivalent in SQL/JSON path (datetime() neither accepts "Z"
// nor stays silent on every bad input), so SQL returns ErrUnsupported for such clauses and
// the caller filters with Match instead. Expr.SQLColumns maps chosen attribute paths to real
// text columns so that indexes apply.
//
// # Attribute selectors
//
// ParseFields reads all_fields, fields, exclude_fields and exclude_default. The valid forms are
// those of NFV-SOL 013 table 5.3.2-1: none (same as exclude_default), all_fields alone, fields
// alone, exclude_fields alone, exclude_default alone, and exclude_default with fields. Fields
// lists are comma separated paths with "/"; naming a nested path under a complex attribute keeps
// only that part of it.
//
// # Reading the query
//
// net/url treats a query pair holding an unencoded ";" as malformed and drops it, so
// url.URL.Query and echo's QueryParam lose "filter=(eq,a,b);(eq,c,d)". Handlers read their
// parameters with ParseQuery(req.URL.RawQuery), which splits on "&" only.
//
// # Paging
//
// MarkerCodec turns the key of the last item of a page into an opaque, HMAC-protected
// nextpage_opaque_marker and back; NextLink builds the Link header for the next page.
package selector
