package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// InputError is an input file that cannot be used: malformed (with the line and column), a
// field the target type does not have, or a value of the wrong type.
type InputError struct {
	// File is the input's name ("<stdin>" for -f -).
	File string
	// Line and Col are 1-based; 0 when unknown.
	Line, Col int
	// Field is the path of the field at fault ("appDNSRule[0].ipAddress"), if any.
	Field string
	// Msg says what is wrong.
	Msg string
}

// Error renders FILE:LINE:COL: FIELD: MESSAGE, as compilers do.
func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// readInput reads FILE, or stdin for "-".
func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("read input: %w", err)}
	}
	return b, nil
}

// readSpec reads file ('-': the command's stdin) and decodes it into v as decodeInput does,
// returning the body to send.
func (o *Options) readSpec(file string, v any, strict bool) ([]byte, error) {
	data, err := readInput(file, o.streams.In)
	if err != nil {
		return nil, err
	}
	return decodeInput(data, file, v, strict, o.streams.ErrOut)
}

// decodeInput decodes a YAML or JSON document into v (a pointer to a struct of the API's
// types) and returns the document as JSON, the body to send: the server, not this decoding,
// has the last word on values (it also takes the V2.1.1 single-object forms the Go types
// cannot hold). A field v's type does not know is an error naming the field and its position;
// with strict false it is a warning written to warn instead. A value of the wrong type is an
// error with its position. Errors are *InputError wrapped in a *UsageError.
func decodeInput(data []byte, name string, v any, strict bool, warn io.Writer) ([]byte, error) {
	if name == "-" {
		name = "<stdin>"
	}
	fail := func(e *InputError) ([]byte, error) { e.File = name; return nil, &UsageError{Err: e} }
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return fail(&InputError{Msg: "empty document"})
	}
	// JSON first when it looks like JSON: its errors carry an exact offset.
	if trimmed[0] == '{' || trimmed[0] == '[' {
		var probe any
		if err := json.Unmarshal(data, &probe); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				l, c := lineCol(data, int(se.Offset))
				return fail(&InputError{Line: l, Col: c, Msg: "malformed JSON: " + strings.TrimPrefix(se.Error(), "json: ")})
			}
			return fail(&InputError{Msg: "malformed JSON: " + err.Error()})
		}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return fail(yamlSyntaxError(data, err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fail(&InputError{Line: extra.Line, Col: extra.Column, Msg: "more than one document; give one"})
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	unknown := checkFields(root, reflect.TypeOf(v), "")
	for _, u := range unknown {
		if strict {
			return fail(u)
		}
		u.File = name
		fmt.Fprintf(warn, "Warning: %s (ignored)\n", u.Error())
	}
	var generic any
	if err := root.Decode(&generic); err != nil {
		return fail(&InputError{Line: root.Line, Col: root.Column, Msg: err.Error()})
	}
	j, err := json.Marshal(generic)
	if err != nil {
		return fail(&InputError{Msg: err.Error()})
	}
	if err := json.Unmarshal(j, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Value == "object" && te.Type.Kind() == reflect.Slice {
			return j, nil // a V2.1.1 single object where V2.2.1 has a list: the server takes it
		}
		if errors.As(err, &te) {
			n := findPath(root, te.Field)
			ie := &InputError{Field: te.Field, Msg: fmt.Sprintf("want %s, not %s", typeWord(te.Type), te.Value)}
			if n != nil {
				ie.Line, ie.Col = n.Line, n.Column
			}
			return fail(ie)
		}
		return fail(&InputError{Msg: err.Error()})
	}
	return j, nil
}

func typeWord(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

func lineCol(data []byte, off int) (int, int) {
	if off > len(data) {
		off = len(data)
	}
	line, col := 1, 1
	for _, b := range data[:off] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	// encoding/json's offset is just past the offending byte.
	if col > 1 {
		col--
	}
	return line, col
}

var (
	yamlLineRE = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)
)

// yamlSyntaxError gives a YAML parse error its position. The YAML library reports only a line,
// and for an unclosed flow collection the line before the one that opened it: there the
// position of the opening bracket is given instead; a tab in the indentation gets its column.
func yamlSyntaxError(data []byte, err error) *InputError {
	e := &InputError{Msg: "malformed YAML: " + yamlErrMsg(err)}
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return e
	}
	e.Line, _ = strconv.Atoi(m[1])
	lines := strings.Split(string(data), "\n")
	line := func(n int) string {
		if n >= 1 && n <= len(lines) {
			return lines[n-1]
		}
		return ""
	}
	msg := yamlErrMsg(err)
	switch {
	case strings.HasPrefix(msg, "did not find expected ',' or"):
		e.Line++
		if i := strings.LastIndexAny(line(e.Line), "[{"); i >= 0 {
			e.Col = i + 1
			e.Msg += " (the collection opened here is not closed)"
		}
	case strings.Contains(msg, "tab character"):
		// The library may name the line before the tab.
		for n := e.Line; n <= e.Line+1; n++ {
			l := line(n)
			if i := strings.IndexByte(l, '\t'); i >= 0 && strings.TrimLeft(l[:i], " ") == "" {
				e.Line, e.Col = n, i+1
				break
			}
		}
	}
	return e
}

func yamlErrMsg(err error) string {
	s := err.Error()
	s = yamlLineRE.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "yaml: : ", "yaml: ")
	return strings.TrimSpace(strings.TrimPrefix(s, "yaml: "))
}

// checkFields walks the document against t and returns the mapping keys t has no field for.
// Types that keep additional properties (a map, an AdditionalProperties field) or take any
// value accept every key.
func checkFields(n *yaml.Node, t reflect.Type, path string) []*InputError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	var out []*InputError
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		fields, open := jsonFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			p := path + "." + k.Value
			if path == "" {
				p = k.Value
			}
			if !ok {
				if !open {
					out = append(out, &InputError{Line: k.Line, Col: k.Column, Field: p,
						Msg: "unknown field" + suggest(k.Value, fields)})
				}
				continue
			}
			out = append(out, checkFields(val, ft, p)...)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.MappingNode {
			return checkFields(n, t.Elem(), path) // a V2.1.1 single object for a list
		}
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			out = append(out, checkFields(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out = append(out, checkFields(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value)...)
		}
	}
	return out
}

// jsonFields maps the JSON names of t's fields to their types; open reports whether t keeps
// keys it does not name (an AdditionalProperties map or a custom decoder).
func jsonFields(t reflect.Type) (map[string]reflect.Type, bool) {
	fields := map[string]reflect.Type{}
	open := reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if f.Name == "AdditionalProperties" && tag == "-" {
			open = true
			continue
		}
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			sub, o := jsonFields(derefType(f.Type))
			for k, v := range sub {
				fields[k] = v
			}
			open = open || o
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields, open
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// suggest names the known field a typo most likely meant.
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for k := range fields {
		if d := distance(strings.ToLower(key), strings.ToLower(k)); d < bestD || (d == bestD && best != "" && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// findPath finds the node at a dotted encoding/json field path ("appDNSRule.ipAddress").
// encoding/json leaves out array indexes, so the first element that has the key is taken.
func findPath(n *yaml.Node, path string) *yaml.Node {
	if path == "" {
		return n
	}
	head, rest, _ := strings.Cut(path, ".")
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 1 {
			return findPath(n.Content[0], path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == head {
				if rest == "" {
					return n.Content[i+1]
				}
				return findPath(n.Content[i+1], rest)
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if f := findPath(c, path); f != nil {
				return f
			}
		}
	}
	return nil
}
