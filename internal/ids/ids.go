// Package ids holds the platform's rule for the identifiers that name resources: app
// instance ids today, and every id the orchestrator assigns. One rule for all of them, so
// that an id the MEP accepts also works as a URL path segment, a store key, and the name of
// a Kubernetes namespace, a KubeVirt VM or a libvirt domain on every VIM.
//
// The rule: an id is a lowercase RFC 1123 label of 1 to 63 characters, that is lowercase
// ASCII letters, digits and '-', starting and ending with a letter or digit. UUIDs in their
// canonical lowercase form qualify. "." and ".." never do, so a Location header built from an
// id cannot normalise to another resource (ETSI GS MEC 011 and 010-2 leave the id syntax to
// the platform).
//
// Rule ids (trafficRuleId, dnsRuleId) are chosen by app descriptors written for any MEC
// platform (the MEC 011 examples use "TrafficRule123") and never name a VIM object, so they
// follow the looser RuleID rule instead.
package ids

import (
	"errors"
	"fmt"
)

// MaxLen is the longest id Validate accepts: the length of a DNS label.
const MaxLen = 63

// MaxRuleIDLen is the longest id ValidateRuleID accepts.
const MaxRuleIDLen = 128

// ErrInvalid is wrapped by every error of this package.
var ErrInvalid = errors.New("invalid id")

// Validate reports whether id is a valid resource id (see the package comment). The error
// wraps ErrInvalid and quotes the id.
func Validate(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(id) > MaxLen {
		return fmt.Errorf("%w: %q is longer than %d characters", ErrInvalid, id, MaxLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(id)-1:
		default:
			return fmt.Errorf("%w: %q is not a lowercase DNS label (a-z, 0-9 and inner '-')", ErrInvalid, id)
		}
	}
	return nil
}

// ValidateRuleID reports whether id is a valid traffic or DNS rule id: 1 to MaxRuleIDLen
// characters of ASCII letters, digits, '-', '_' and '.', and not "." or "..". It is safe as a
// URL path segment and a store key. The error wraps ErrInvalid and quotes the id.
func ValidateRuleID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalid)
	case len(id) > MaxRuleIDLen:
		return fmt.Errorf("%w: %q is longer than %d characters", ErrInvalid, id, MaxRuleIDLen)
	case id == "." || id == "..":
		return fmt.Errorf("%w: %q is a relative path segment", ErrInvalid, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: %q holds a character other than A-Z, a-z, 0-9, '-', '_' and '.'", ErrInvalid, id)
		}
	}
	return nil
}
