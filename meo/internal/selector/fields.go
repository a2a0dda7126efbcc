package selector

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// The attribute selector query parameters of MEC 009 clause 6.18 (NFV-SOL 013 clause 5.3).
const (
	ParamAllFields      = "all_fields"
	ParamFields         = "fields"
	ParamExcludeFields  = "exclude_fields"
	ParamExcludeDefault = "exclude_default"
	ParamFilter         = "filter"
)

// MaxFieldPaths bounds the number of paths in fields plus exclude_fields.
const MaxFieldPaths = 64

// FieldSpec describes the attribute selector behaviour of one resource type. Paths use "/".
type FieldSpec struct {
	// Default lists the complex attributes excluded when no selector or exclude_default is
	// given (the "default exclude set" the resource's API clause defines).
	Default []string
	// Complex lists every complex attribute; fields alone keeps only the listed ones. Nil means
	// Default.
	Complex []string
	// Keep lists attributes never removed (e.g. "id", "_links"); exclude_fields naming one is
	// invalid.
	Keep []string
	// Known, when set, rejects unknown paths in fields and exclude_fields (a 400).
	Known func(attr string) bool
}

// Fields is a parsed attribute selection; Apply prunes documents accordingly. The zero Fields
// keeps everything.
type Fields struct {
	remove   [][]string
	restrict []restriction
}

// restriction keeps only the listed sub-paths of the attribute at path.
type restriction struct {
	path []string
	subs [][]string
}

// All reports whether f keeps every attribute (all_fields, or nothing to exclude).
func (f Fields) All() bool { return len(f.remove) == 0 && len(f.restrict) == 0 }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// ParseFields reads the attribute selector parameters from q. Errors match ErrInvalid.
func ParseFields(q url.Values, spec FieldSpec) (Fields, error) {
	all, err := flag(q, ParamAllFields)
	if err != nil {
		return Fields{}, err
	}
	exDefault, err := flag(q, ParamExcludeDefault)
	if err != nil {
		return Fields{}, err
	}
	incl, err := pathList(q, ParamFields, spec.Known)
	if err != nil {
		return Fields{}, err
	}
	excl, err := pathList(q, ParamExcludeFields, spec.Known)
	if err != nil {
		return Fields{}, err
	}
	if len(incl)+len(excl) > MaxFieldPaths {
		return Fields{}, invalidf("more than %d attribute paths", MaxFieldPaths)
	}
	_, hasIncl := q[ParamFields]
	_, hasExcl := q[ParamExcludeFields]
	// NFV-SOL 013 table 5.3.2-1: all_fields stands alone; fields and exclude_fields exclude each
	// other; exclude_default combines with fields only.
	switch {
	case all && (hasIncl || hasExcl || exDefault):
		return Fields{}, invalidf("all_fields cannot be combined with other attribute selectors")
	case hasIncl && hasExcl:
		return Fields{}, invalidf("fields and exclude_fields cannot be combined")
	case exDefault && hasExcl:
		return Fields{}, invalidf("exclude_default and exclude_fields cannot be combined")
	}
	keep := splitAll(spec.Keep)
	var f Fields
	switch {
	case all:
	case hasExcl:
		for _, p := range excl {
			for _, k := range keep {
				if hasPrefix(k, p) || hasPrefix(p, k) {
					return Fields{}, invalidf("attribute %s cannot be excluded", strings.Join(p, "/"))
				}
			}
		}
		f.remove = excl
	case hasIncl:
		set := spec.Default
		if !exDefault && spec.Complex != nil {
			set = spec.Complex
		}
		for _, p := range splitAll(set) {
			f.include(p, incl, keep)
		}
	default: // exclude_default, or no selector at all
		f.remove = splitAll(spec.Default)
	}
	return f, nil
}

// include decides what to keep of the complex attribute p given the fields list incl.
func (f *Fields) include(p []string, incl, keep [][]string) {
	var subs [][]string
	for _, l := range incl {
		if hasPrefix(p, l) { // l names p or an ancestor: keep all of p
			return
		}
		if hasPrefix(l, p) {
			subs = append(subs, l[len(p):])
		}
	}
	if len(subs) == 0 {
		f.remove = append(f.remove, p)
		return
	}
	for _, k := range keep {
		if len(k) > len(p) && hasPrefix(k, p) {
			subs = append(subs, k[len(p):])
		}
	}
	f.restrict = append(f.restrict, restriction{path: p, subs: subs})
}

// hasPrefix reports whether prefix is a (non-strict) prefix of p.
func hasPrefix(p, prefix []string) bool {
	return len(prefix) <= len(p) && slices.Equal(p[:len(prefix)], prefix)
}

func splitAll(attrs []string) [][]string {
	out := make([][]string, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, strings.Split(a, "/"))
	}
	return out
}

// flag reads a presence parameter: present with an empty value (or "true") means set.
func flag(q url.Values, name string) (bool, error) {
	vs, ok := q[name]
	if !ok {
		return false, nil
	}
	for _, v := range vs {
		if v != "" && v != "true" {
			return false, invalidf("%s takes no value, got %q", name, v)
		}
	}
	return true, nil
}

// pathList reads a comma separated list of attribute paths from every occurrence of name.
func pathList(q url.Values, name string, known func(string) bool) ([][]string, error) {
	var out [][]string
	for _, v := range q[name] {
		if len(v) > MaxFilterLen {
			return nil, invalidf("%s longer than %d bytes", name, MaxFilterLen)
		}
		for _, item := range strings.Split(v, ",") {
			if len(out) == MaxFieldPaths {
				return nil, invalidf("more than %d attribute paths in %s", MaxFieldPaths, name)
			}
			p := strings.Split(item, "/")
			if len(p) > MaxDepth {
				return nil, invalidf("%s: attribute path %q deeper than %d", name, item, MaxDepth)
			}
			for _, seg := range p {
				if seg == "" || strings.ContainsAny(seg, ";()'") || checkName(seg) != nil {
					return nil, invalidf("%s: malformed attribute path %q", name, item)
				}
			}
			if known != nil && !known(item) {
				return nil, invalidf("%s: unknown attribute %q", name, item)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// TopLevel reports the attributes f removes when it only removes whole top-level attributes
// (no nested path, no restriction), so that a caller can leave them out of a typed document
// instead of pruning a map; ok is false otherwise.
func (f Fields) TopLevel() (names []string, ok bool) {
	if len(f.restrict) > 0 {
		return nil, false
	}
	for _, p := range f.remove {
		if len(p) != 1 {
			return nil, false
		}
		names = append(names, p[0])
	}
	return names, true
}

// Apply prunes doc in place: it deletes the excluded attributes and, of complex attributes
// selected by nested fields paths, everything but those paths. Arrays on the way are entered
// one level, as filter paths are.
func (f Fields) Apply(doc map[string]any) {
	for _, p := range f.remove {
		walk(doc, p[:len(p)-1], func(m map[string]any) { delete(m, p[len(p)-1]) })
	}
	for _, r := range f.restrict {
		last := r.path[len(r.path)-1]
		walk(doc, r.path[:len(r.path)-1], func(m map[string]any) {
			if v, ok := m[last]; ok {
				prune(v, r.subs)
			}
		})
	}
}

// walk calls f with every object at path below cur.
func walk(cur any, path []string, f func(map[string]any)) {
	switch v := cur.(type) {
	case map[string]any:
		if len(path) == 0 {
			f(v)
			return
		}
		if next, ok := v[path[0]]; ok {
			walk(next, path[1:], f)
		}
	case []any:
		for _, el := range v {
			if m, ok := el.(map[string]any); ok {
				walk(m, path, f)
			}
		}
	}
}

// prune keeps in v only the members named by subs (relative paths).
func prune(v any, subs [][]string) {
	switch x := v.(type) {
	case []any:
		for _, el := range x {
			if _, ok := el.(map[string]any); ok {
				prune(el, subs)
			}
		}
	case map[string]any:
		for k, child := range x {
			var deeper [][]string
			whole := false
			for _, s := range subs {
				if s[0] != k {
					continue
				}
				if len(s) == 1 {
					whole = true
					break
				}
				deeper = append(deeper, s[1:])
			}
			switch {
			case whole:
			case deeper != nil:
				prune(child, deeper)
			default:
				delete(x, k)
			}
		}
	}
}
