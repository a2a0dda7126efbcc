package selector

import (
	"encoding/json"
	"math/big"
	"strings"
)

// Match reports whether the JSON-decoded document doc satisfies every clause of e (see the
// package documentation for the semantics). Numbers in doc may be float64 or json.Number.
func (e Expr) Match(doc map[string]any) bool {
	for i := range e.clauses {
		if !e.clauses[i].match(doc) {
			return false
		}
	}
	return true
}

func (c *Clause) match(doc map[string]any) bool {
	op, neg := c.Op.negated()
	found := false
	visit(doc, c.Path, func(cand any) bool {
		for i := range c.vals {
			if compare(op, cand, &c.vals[i]) {
				found = true
				return false
			}
		}
		return true
	})
	return found != neg
}

// visit calls f with every candidate value at path (one array level unwrapped per step and at
// the end, as PostgreSQL's lax SQL/JSON path mode does) until f returns false.
func visit(cur any, path []string, f func(any) bool) bool {
	if len(path) == 0 {
		if a, ok := cur.([]any); ok {
			for _, el := range a {
				if !f(el) {
					return false
				}
			}
			return true
		}
		return f(cur)
	}
	switch v := cur.(type) {
	case map[string]any:
		next, ok := v[path[0]]
		if !ok {
			return true
		}
		return visit(next, path[1:], f)
	case []any:
		for _, el := range v {
			if m, ok := el.(map[string]any); ok {
				if next, ok := m[path[0]]; ok && !visit(next, path[1:], f) {
					return false
				}
			}
		}
	}
	return true
}

// compare evaluates one positive operator (eq, in, cont, gt, gte, lt, lte) on one candidate.
func compare(op Op, cand any, v *value) bool {
	switch c := cand.(type) {
	case string:
		switch op {
		case OpEq, OpIn:
			return c == v.s
		case OpCont:
			return strings.Contains(c, v.s)
		}
		if v.isTime {
			if t, ok := parseTime(c); ok {
				return order(op, t.Compare(v.t))
			}
		}
		return order(op, strings.Compare(c, v.s))
	case float64:
		if v.num == nil || op == OpCont {
			return false
		}
		switch {
		case c < v.f:
			return order(op, -1)
		case c > v.f:
			return order(op, 1)
		}
		return order(op, 0)
	case json.Number:
		if v.num == nil || op == OpCont {
			return false
		}
		r, ok := new(big.Rat).SetString(string(c))
		if !ok {
			return false
		}
		return order(op, r.Cmp(v.num))
	case bool:
		return (op == OpEq || op == OpIn) && v.isBool && c == v.b
	}
	return false
}

// order turns a three-way comparison result into the operator's verdict.
func order(op Op, cmp int) bool {
	switch op {
	case OpEq, OpIn:
		return cmp == 0
	case OpGt:
		return cmp > 0
	case OpGte:
		return cmp >= 0
	case OpLt:
		return cmp < 0
	case OpLte:
		return cmp <= 0
	}
	return false
}
