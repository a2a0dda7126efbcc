package selector

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on one filter expression (MEC 009 leaves them to the server; these keep parsing and
// matching cheap and the generated SQL small).
const (
	MaxFilterLen = 4096 // bytes
	MaxClauses   = 32
	MaxValues    = 256 // over all clauses
	MaxDepth     = 16  // segments in one attribute path
)

// ErrInvalid is matched (errors.Is) by every error caused by a malformed filter, attribute
// selector or paging marker: the client's fault, a 400.
var ErrInvalid = errors.New("invalid query parameter")

// ErrUnsupported is returned by Expr.SQL for an expression PostgreSQL cannot evaluate with the
// same semantics as Match; the caller then filters with Match.
var ErrUnsupported = errors.New("filter not expressible in sql")

// Error is a syntax or limit error in a filter expression. It matches ErrInvalid.
type Error struct {
	Clause int    // 1-based clause number; 0 when the error concerns the whole filter
	Offset int    // byte offset in the filter string
	Reason string // what is wrong
}

// Error implements error.
func (e *Error) Error() string {
	if e.Clause == 0 {
		return fmt.Sprintf("filter at offset %d: %s", e.Offset, e.Reason)
	}
	return fmt.Sprintf("filter clause %d at offset %d: %s", e.Clause, e.Offset, e.Reason)
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Op is a MEC 009 filter operator.
type Op string

// The operators of MEC 009 table 6.19-1 (NFV-SOL 013 table 5.2.2-1).
const (
	OpEq    Op = "eq"
	OpNeq   Op = "neq"
	OpIn    Op = "in"
	OpNin   Op = "nin"
	OpGt    Op = "gt"
	OpGte   Op = "gte"
	OpLt    Op = "lt"
	OpLte   Op = "lte"
	OpCont  Op = "cont"
	OpNcont Op = "ncont"
)

var ops = map[string]Op{
	"eq": OpEq, "neq": OpNeq, "in": OpIn, "nin": OpNin, "gt": OpGt, "gte": OpGte,
	"lt": OpLt, "lte": OpLte, "cont": OpCont, "ncont": OpNcont,
}

// negated reports whether o is the negation of another operator, and which.
func (o Op) negated() (Op, bool) {
	switch o {
	case OpNeq:
		return OpEq, true
	case OpNin:
		return OpIn, true
	case OpNcont:
		return OpCont, true
	}
	return o, false
}

func (o Op) ordering() bool { return o == OpGt || o == OpGte || o == OpLt || o == OpLte }

// Clause is one simple filter expression "(op,attr/path,value...)".
type Clause struct {
	Op     Op
	Path   []string // attribute names, outermost first
	Values []string // unquoted values
	vals   []value  // Values parsed once for Match
	off    int      // byte offset of the attribute path in the filter
}

// Attr returns the attribute path as written, joined with "/".
func (c Clause) Attr() string { return strings.Join(c.Path, "/") }

// value is a filter value with the typed forms it can take, parsed once.
type value struct {
	s      string
	num    *big.Rat // exact, when s is a JSON number
	f      float64  // same number as float64
	isBool bool
	b      bool
	isTime bool
	t      time.Time
}

// Expr is a parsed filter: the AND of its clauses. The zero Expr matches everything.
type Expr struct {
	clauses []Clause
}

// Clauses returns the clauses of e (shared, do not modify).
func (e Expr) Clauses() []Clause { return e.clauses }

// Empty reports whether e has no clauses.
func (e Expr) Empty() bool { return len(e.clauses) == 0 }

// Check returns an *Error (matching ErrInvalid) for the first clause whose attribute path known
// rejects, so that an unknown attribute gets a 400 as MEC 009 asks. known gets the path joined
// with "/".
func (e Expr) Check(known func(attr string) bool) error {
	for i, c := range e.clauses {
		if !known(c.Attr()) {
			return &Error{Clause: i + 1, Offset: c.off, Reason: fmt.Sprintf("unknown attribute %q", c.Attr())}
		}
	}
	return nil
}

// jsonNumber is the JSON number grammar (RFC 8259): what jsonb stores as a number.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// parseValue records the typed forms of s. Numbers longer than 64 bytes, or beyond float64,
// are treated as strings only, in Match and SQL alike.
func parseValue(s string) value {
	v := value{s: s}
	if len(s) <= 64 && jsonNumber.MatchString(s) {
		if r, ok := new(big.Rat).SetString(s); ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				v.num, v.f = r, f
			}
		}
	}
	switch s {
	case "true":
		v.isBool, v.b = true, true
	case "false":
		v.isBool = true
	}
	v.t, v.isTime = parseTime(s)
	return v
}

// parseTime parses an RFC 3339 timestamp, with a cheap shape check first because it runs on
// every string candidate of an ordering comparison.
func parseTime(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// ParseFilter parses the value of the filter query parameter. An empty string gives the empty
// Expr, which matches everything.
func ParseFilter(s string) (Expr, error) {
	if s == "" {
		return Expr{}, nil
	}
	if len(s) > MaxFilterLen {
		return Expr{}, &Error{Reason: fmt.Sprintf("longer than %d bytes", MaxFilterLen)}
	}
	if !utf8.ValidString(s) {
		return Expr{}, &Error{Offset: invalidUTF8At(s), Reason: "not valid UTF-8"}
	}
	p := parser{s: s}
	var e Expr
	for {
		if len(e.clauses) == MaxClauses {
			return Expr{}, &Error{Clause: MaxClauses + 1, Offset: p.i, Reason: fmt.Sprintf("more than %d clauses", MaxClauses)}
		}
		c, err := p.clause(len(e.clauses) + 1)
		if err != nil {
			return Expr{}, err
		}
		e.clauses = append(e.clauses, c)
		if p.i == len(s) {
			return e, nil
		}
		if s[p.i] != ';' {
			return Expr{}, p.errf(len(e.clauses), "expected ';' or end of filter after clause, found %q", s[p.i])
		}
		p.i++
	}
}

func invalidUTF8At(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			return i
		}
	}
	return 0
}

type parser struct {
	s     string
	i     int
	nvals int // values so far, over all clauses
}

func (p *parser) errf(clause int, format string, args ...any) *Error {
	return &Error{Clause: clause, Offset: p.i, Reason: fmt.Sprintf(format, args...)}
}

func (p *parser) clause(n int) (Clause, error) {
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		if p.i >= len(p.s) {
			return Clause{}, p.errf(n, "expected '(' but the filter ends")
		}
		return Clause{}, p.errf(n, "expected '(', found %q", p.s[p.i])
	}
	p.i++
	start := p.i
	name := p.token()
	op, ok := ops[name]
	if !ok {
		p.i = start
		if name == "" {
			return Clause{}, p.errf(n, "missing operator")
		}
		return Clause{}, p.errf(n, "unknown operator %q", name)
	}
	if err := p.expect(n, ','); err != nil {
		return Clause{}, err
	}
	c := Clause{Op: op, off: p.i}
	for {
		start = p.i
		seg := p.token()
		if seg == "" {
			return Clause{}, p.errf(n, "empty attribute name")
		}
		if err := checkName(seg); err != nil {
			p.i = start
			return Clause{}, p.errf(n, "attribute name %q: %v", seg, err)
		}
		c.Path = append(c.Path, seg)
		if len(c.Path) > MaxDepth {
			return Clause{}, p.errf(n, "attribute path deeper than %d", MaxDepth)
		}
		if p.i < len(p.s) && p.s[p.i] == '/' {
			p.i++
			continue
		}
		break
	}
	for {
		if p.i >= len(p.s) {
			return Clause{}, p.errf(n, "missing ')'")
		}
		if p.s[p.i] == ')' {
			p.i++
			break
		}
		if p.nvals == MaxValues {
			return Clause{}, p.errf(n, "more than %d values in the filter", MaxValues)
		}
		if err := p.expect(n, ','); err != nil {
			return Clause{}, err
		}
		v, err := p.value(n)
		if err != nil {
			return Clause{}, err
		}
		c.Values = append(c.Values, v)
		p.nvals++
	}
	switch {
	case len(c.Values) == 0:
		return Clause{}, p.errf(n, "operator %s needs a value", op)
	case op.ordering() && len(c.Values) != 1:
		return Clause{}, p.errf(n, "operator %s takes exactly one value, got %d", op, len(c.Values))
	}
	c.vals = make([]value, len(c.Values))
	for i, v := range c.Values {
		c.vals[i] = parseValue(v)
	}
	return c, nil
}

func (p *parser) expect(n int, b byte) error {
	if p.i >= len(p.s) {
		return p.errf(n, "expected %q but the filter ends", b)
	}
	if p.s[p.i] != b {
		return p.errf(n, "expected %q, found %q", b, p.s[p.i])
	}
	p.i++
	return nil
}

// token reads up to the next delimiter of an operator or attribute name.
func (p *parser) token() string {
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(",;()'/", rune(p.s[p.i])) {
		p.i++
	}
	return p.s[start:p.i]
}

func checkName(s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("control character")
		}
	}
	return nil
}

// value reads one quoted or unquoted value.
func (p *parser) value(n int) (string, error) {
	if p.i < len(p.s) && p.s[p.i] == '\'' {
		open := p.i
		p.i++
		var b strings.Builder
		for {
			j := strings.IndexByte(p.s[p.i:], '\'')
			if j < 0 {
				p.i = open
				return "", p.errf(n, "unterminated quoted value")
			}
			b.WriteString(p.s[p.i : p.i+j])
			p.i += j + 1
			if p.i < len(p.s) && p.s[p.i] == '\'' { // '' is an escaped quote
				b.WriteByte('\'')
				p.i++
				continue
			}
			break
		}
		if p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != ')' {
			return "", p.errf(n, "unexpected %q after quoted value", p.s[p.i])
		}
		v := b.String()
		if err := checkValue(v); err != nil {
			p.i = open
			return "", p.errf(n, "value: %v", err)
		}
		return v, nil
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != ')' {
		if p.s[p.i] == '\'' {
			return "", p.errf(n, "quote inside unquoted value (quote the whole value and double the quote)")
		}
		p.i++
	}
	v := p.s[start:p.i]
	if v == "" {
		return "", p.errf(n, "empty value (write '' for the empty string)")
	}
	if err := checkValue(v); err != nil {
		p.i = start
		return "", p.errf(n, "value: %v", err)
	}
	return v, nil
}

// checkValue rejects what a jsonb string cannot hold (NUL) and other control characters.
func checkValue(s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("control character")
		}
	}
	return nil
}

// String returns e in canonical filter syntax; ParseFilter(e.String()) yields e again.
func (e Expr) String() string {
	var b strings.Builder
	for i, c := range e.clauses {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(c.String())
	}
	return b.String()
}

// String returns c in filter syntax, quoting values where needed.
func (c Clause) String() string {
	var b strings.Builder
	b.WriteByte('(')
	b.WriteString(string(c.Op))
	b.WriteByte(',')
	b.WriteString(c.Attr())
	for _, v := range c.Values {
		b.WriteByte(',')
		if v == "" || strings.ContainsAny(v, ",;()'") {
			b.WriteByte('\'')
			b.WriteString(strings.ReplaceAll(v, "'", "''"))
			b.WriteByte('\'')
		} else {
			b.WriteString(v)
		}
	}
	b.WriteByte(')')
	return b.String()
}
