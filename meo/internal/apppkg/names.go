package apppkg

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxNameLen bounds an entry name.
const maxNameLen = 1024

// checkName checks one zip entry name (see the package documentation). dir reports a
// directory entry, whose name ends in "/".
func checkName(name string, dir bool) *Error {
	if !utf8.ValidString(name) {
		return fail(ReasonBadName, strings.ToValidUTF8(name, "\uFFFD"), "name is not UTF-8")
	}
	if len(name) > maxNameLen {
		return fail(ReasonBadName, strings.ToValidUTF8(name[:64], "")+"...", "name is longer than %d bytes", maxNameLen)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fail(ReasonBadName, name, "name holds a control character")
		}
	}
	switch {
	case strings.Contains(name, `\`):
		return fail(ReasonPathEscape, name, "name holds a backslash")
	case strings.HasPrefix(name, "/"):
		return fail(ReasonPathEscape, name, "name is an absolute path")
	case len(name) >= 2 && name[1] == ':' && (name[0]|0x20 >= 'a' && name[0]|0x20 <= 'z'):
		return fail(ReasonPathEscape, name, "name starts with a drive letter")
	}
	p := name
	if dir {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "" {
		return fail(ReasonBadName, name, "empty name")
	}
	for _, el := range strings.Split(p, "/") {
		switch el {
		case "..":
			return fail(ReasonPathEscape, name, "name climbs out with ..")
		case ".", "":
			return fail(ReasonBadName, name, "name has an empty or . element")
		}
	}
	return nil
}

// nameKey is what two entry names must differ in to be distinct: names equal after Unicode
// normalisation (NFC: "é" as one code point or as "e" and a combining accent, which
// macOS and Windows file systems treat as one file) and lower-casing are duplicates, since
// a file system that unpacks the package, or a tool that compares names, may merge them.
func nameKey(name string) string {
	return norm.NFC.String(strings.ToLower(norm.NFC.String(name)))
}

// cleanRef resolves a path a document names (TOSCA.meta, the manifest) to an entry name,
// with the same rules as entry names.
func cleanRef(ref, from string) (string, *Error) {
	ref = strings.TrimPrefix(ref, "./")
	if err := checkName(ref, false); err != nil {
		err.Detail = "names " + ref + ": " + err.Detail
		err.Entry = from
		return "", err
	}
	return ref, nil
}
