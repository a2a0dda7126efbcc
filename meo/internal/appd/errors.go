package appd

import (
	"errors"
	"strings"
)

// ErrInvalid is matched by every error Parse returns: the AppD is malformed or breaks a rule.
var ErrInvalid = errors.New("invalid appd")

// FieldError is an error about one member of an AppD.
type FieldError struct {
	// Pointer is the RFC 6901 JSON pointer of the member ("" for the whole document).
	Pointer string
	// Msg says what is wrong with it.
	Msg string
}

func (e *FieldError) Error() string {
	if e.Pointer == "" {
		return "appd: " + e.Msg
	}
	return e.Pointer + ": " + e.Msg
}

// Is makes FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func fieldErr(ptr, msg string) *FieldError { return &FieldError{Pointer: ptr, Msg: msg} }

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// escape escapes a JSON pointer reference token (RFC 6901 section 3).
func escape(tok string) string {
	if !strings.ContainsAny(tok, "~/") {
		return tok
	}
	return pointerEscaper.Replace(tok)
}
