package selector

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// SQL renders e as a PostgreSQL boolean expression over the jsonb column (or expression) col,
// for a WHERE clause. Parameters are appended to *args and referenced as $n, numbered on from
// len(*args). The empty Expr gives "TRUE". It returns an error matching ErrUnsupported for an
// expression that SQL cannot evaluate like Match (ordering on RFC 3339 timestamps); the caller
// then filters with Match. col is trusted SQL, never client input.
func (e Expr) SQL(col string, args *[]any) (string, error) {
	return e.SQLColumns(col, nil, args)
}

// SQLColumns is SQL with some attribute paths (joined with "/", as in the filter) read from
// real columns instead of the jsonb document, so that their indexes apply. Each mapped column
// is a trusted SQL expression of type text holding the attribute's string value, NULL when the
// attribute is absent (e.g. {"onboardingState": "onboarding_state"}). Text comparisons use
// COLLATE "C", the code point order Match uses.
func (e Expr) SQLColumns(col string, columns map[string]string, args *[]any) (string, error) {
	if len(e.clauses) == 0 {
		return "TRUE", nil
	}
	parts := make([]string, 0, len(e.clauses))
	for i := range e.clauses {
		c := &e.clauses[i]
		if c.Op.ordering() && c.vals[0].isTime {
			return "", fmt.Errorf("clause %d %s: ordering on a timestamp: %w", i+1, c, ErrUnsupported)
		}
		var frag string
		if mapped, ok := columns[c.Attr()]; ok {
			frag = c.columnSQL(mapped, args)
		} else {
			frag = c.jsonbSQL(col, args)
		}
		parts = append(parts, frag)
	}
	return strings.Join(parts, " AND "), nil
}

func addArg(args *[]any, v any) string {
	*args = append(*args, v)
	return "$" + strconv.Itoa(len(*args))
}

// columnSQL compares a text column. NULL (absent) matches no positive operator, so negated
// operators wrap the positive form in NOT COALESCE(..., false).
func (c *Clause) columnSQL(colExpr string, args *[]any) string {
	op, neg := c.Op.negated()
	col := "(" + colExpr + ")"
	var pos string
	switch op {
	case OpEq, OpIn:
		if len(c.Values) == 1 {
			pos = col + " = " + addArg(args, c.Values[0]) + "::text"
		} else {
			pos = col + " = ANY(" + addArg(args, append([]string(nil), c.Values...)) + "::text[])"
		}
	case OpCont:
		ors := make([]string, len(c.Values))
		for i, v := range c.Values {
			ors[i] = "strpos(" + col + ", " + addArg(args, v) + "::text) > 0"
		}
		pos = "(" + strings.Join(ors, " OR ") + ")"
	default:
		sym := map[Op]string{OpGt: ">", OpGte: ">=", OpLt: "<", OpLte: "<="}[op]
		pos = col + ` COLLATE "C" ` + sym + " " + addArg(args, c.Values[0]) + "::text"
	}
	if neg {
		return "NOT COALESCE(" + pos + ", false)"
	}
	return pos
}

// jsonbSQL renders the clause as jsonb_path_exists over the document in lax mode. Each value
// becomes one disjunct per JSON type it can be compared with, guarded by @.type() so that
// comparisons never cross types (and arrays inside arrays are skipped, as in Match). Values
// travel in the vars object; cont needs a literal pattern, quoted for like_regex with flag "q".
func (c *Clause) jsonbSQL(col string, args *[]any) string {
	op, neg := c.Op.negated()
	var path strings.Builder
	path.WriteString("$")
	for _, name := range c.Path {
		path.WriteByte('.')
		path.WriteString(jsonpathString(name))
	}
	vars := map[string]any{}
	var ors []string
	for i := range c.vals {
		v := &c.vals[i]
		switch op {
		case OpCont:
			ors = append(ors, `(@.type() == "string" && @ like_regex `+jsonpathString(v.s)+` flag "q")`)
			continue
		case OpEq, OpIn:
			if v.isBool {
				name := "b" + strconv.Itoa(i)
				vars[name] = v.b
				ors = append(ors, `(@.type() == "boolean" && @ == $`+name+`)`)
			}
		}
		sym := map[Op]string{OpEq: "==", OpIn: "==", OpGt: ">", OpGte: ">=", OpLt: "<", OpLte: "<="}[op]
		name := "s" + strconv.Itoa(i)
		vars[name] = v.s
		ors = append(ors, `(@.type() == "string" && @ `+sym+` $`+name+`)`)
		if v.num != nil {
			name := "n" + strconv.Itoa(i)
			vars[name] = json.Number(v.s)
			ors = append(ors, `(@.type() == "number" && @ `+sym+` $`+name+`)`)
		}
	}
	path.WriteString(" ? (")
	path.WriteString(strings.Join(ors, " || "))
	path.WriteString(")")
	vj, _ := json.Marshal(vars) // strings, bools and valid JSON numbers only
	expr := "COALESCE(jsonb_path_exists(" + col + ", " + addArg(args, path.String()) + "::text::jsonpath, " +
		addArg(args, string(vj)) + "::text::jsonb, true), false)"
	if neg {
		return "NOT " + expr
	}
	return expr
}

// jsonpathString quotes s as an SQL/JSON path string literal (JSON string escapes).
func jsonpathString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
