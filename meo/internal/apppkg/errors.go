package apppkg

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched by every error Read returns about the package's content.
var ErrInvalid = errors.New("invalid app package")

// Reason classifies why a package was refused.
type Reason string

// Reasons a package is refused.
const (
	ReasonNotZip          Reason = "not-zip"           // not a readable zip
	ReasonBadName         Reason = "bad-name"          // not UTF-8, control characters, too long
	ReasonPathEscape      Reason = "path-escape"       // .., absolute, drive letter, backslash
	ReasonNotRegular      Reason = "not-regular"       // symlink, device, ...
	ReasonDuplicate       Reason = "duplicate"         // same name, also ignoring case, or file vs directory
	ReasonTooManyEntries  Reason = "too-many-entries"  // more entries than Limits.MaxEntries
	ReasonTooLarge        Reason = "too-large"         // an entry, the total or an artefact over its limit
	ReasonRatio           Reason = "compression-ratio" // decompresses beyond Limits.MaxRatio
	ReasonSizeMismatch    Reason = "size-mismatch"     // headers lie about the size
	ReasonCorrupt         Reason = "corrupt"           // bad CRC or compressed data
	ReasonUnsupported     Reason = "unsupported"       // a compression method other than store and deflate
	ReasonNestedArchive   Reason = "nested-archive"    // an entry that is a zip
	ReasonToscaMeta       Reason = "tosca-meta"        // TOSCA.meta malformed
	ReasonManifest        Reason = "manifest"          // the .mf manifest malformed
	ReasonChecksum        Reason = "checksum"          // a manifest digest does not match
	ReasonNoAppD          Reason = "no-appd"           // no AppD, or several candidates
	ReasonAppD            Reason = "appd"              // the AppD does not parse or check
	ReasonMissingArtifact Reason = "missing-artifact"  // named by TOSCA.meta, manifest or AppD but absent
	ReasonChart           Reason = "chart"             // a Helm chart that does not load or render
	ReasonRenderBudget    Reason = "render-budget"     // a Helm chart over its render time or size budget (render.go)
	ReasonManifests       Reason = "manifests"         // Kubernetes manifests that do not decode
	ReasonClusterScoped   Reason = "cluster-scoped"    // a cluster-scoped object
	ReasonArtifacts       Reason = "artifacts"         // several charts, chart and manifests, none at all
)

// Error is why a package was refused.
type Error struct {
	Reason Reason
	// Entry is the zip entry at fault, if one is.
	Entry string
	// Pointer is the JSON pointer of the AppD member at fault, if one is.
	Pointer string
	// Detail says what is wrong.
	Detail string
	// Cause is the underlying error, if any (an *appd.FieldError for AppD errors).
	Cause error
}

func (e *Error) Error() string {
	s := "app package"
	if e.Entry != "" {
		s += fmt.Sprintf(" entry %q", e.Entry)
	}
	if e.Pointer != "" {
		s += " " + e.Pointer
	}
	s += ": " + e.Detail
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Is makes Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

func fail(r Reason, entry, format string, args ...any) *Error {
	return &Error{Reason: r, Entry: entry, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the Reason of a package error, or "" when err is not one.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
