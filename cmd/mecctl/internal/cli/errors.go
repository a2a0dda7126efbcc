package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"syscall"
)

// Exit codes of mecctl. Scripts may rely on them; README.md lists them.
const (
	// ExitOK: the command did what was asked.
	ExitOK = 0
	// ExitError: any other failure (a 5xx answer, an unreadable answer, a local I/O error).
	ExitError = 1
	// ExitUsage: bad flags or arguments, an invalid input file, a context or site that is
	// not configured.
	ExitUsage = 2
	// ExitNotFound: the server answered 404 (the object does not exist).
	ExitNotFound = 3
	// ExitRefused: the server answered another 4xx (invalid, conflict, unauthorised,
	// forbidden), or an operation followed with --wait ended in failure.
	ExitRefused = 4
	// ExitUnreachable: no connection (refused, no route, name not resolved, TLS failure).
	ExitUnreachable = 5
	// ExitTimeout: --request-timeout or a --wait timeout ran out.
	ExitTimeout = 6
)

// UsageError is a mistake on the command line or in an input file (exit 2).
type UsageError struct{ Err error }

// Error implements error.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Problem is an RFC 7807 ProblemDetails answer, with its extension members kept.
type Problem struct {
	Type     string         `json:"type,omitempty"`
	Title    string         `json:"title,omitempty"`
	Status   int            `json:"status,omitempty"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Extra    map[string]any `json:"-"`
}

// APIError is an answer outside 2xx.
type APIError struct {
	// Op names what was asked ("get package p1").
	Op string
	// Status is the HTTP status code.
	Status int
	// Problem is the decoded ProblemDetails, nil when the body was not one.
	Problem *Problem
	// Body is the raw body when it was not ProblemDetails (trimmed).
	Body string
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if p := e.Problem; p != nil {
		if p.Detail != "" {
			b.WriteString(": " + p.Detail)
		} else if p.Title != "" {
			b.WriteString(": " + p.Title)
		}
	} else if e.Body != "" {
		b.WriteString(": " + e.Body)
	}
	return b.String()
}

// fieldRE finds the JSON pointer a validation detail names ("request body: /appProvider is
// required").
var fieldRE = regexp.MustCompile(`(?:^|\s|:)(/[A-Za-z0-9_./~\-\[\]]*[A-Za-z0-9_\]])`)

// Describe renders the error for a person: status, title, detail, the field and a hint.
func (e *APIError) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s failed: %d %s\n", e.Op, e.Status, http.StatusText(e.Status))
	if p := e.Problem; p != nil {
		if p.Title != "" && p.Title != http.StatusText(e.Status) {
			fmt.Fprintf(&b, "  title:    %s\n", p.Title)
		}
		if p.Detail != "" {
			fmt.Fprintf(&b, "  detail:   %s\n", p.Detail)
		}
		if m := fieldRE.FindStringSubmatch(p.Detail); m != nil {
			fmt.Fprintf(&b, "  field:    %s\n", m[1])
		}
		if p.Instance != "" {
			fmt.Fprintf(&b, "  instance: %s\n", p.Instance)
		}
		keys := make([]string, 0, len(p.Extra))
		for k := range p.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, _ := json.Marshal(p.Extra[k])
			fmt.Fprintf(&b, "  %s: %s\n", k, v)
		}
	} else if e.Body != "" {
		fmt.Fprintf(&b, "  body:     %s\n", e.Body)
	}
	if h := statusHint(e.Status); h != "" {
		fmt.Fprintf(&b, "  hint:     %s\n", h)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func statusHint(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "check the token (--token, --token-file, MECCTL_TOKEN or the context's token)"
	case http.StatusForbidden:
		return "the token may not do this (a viewer token only reads)"
	case http.StatusConflict:
		return "the object is not in a state that allows this; get it and check its state"
	case http.StatusPreconditionFailed:
		return "the object changed meanwhile; get it again and retry"
	}
	return ""
}

// checkResponse returns nil for a 2xx answer and an *APIError otherwise.
func checkResponse(op string, res *http.Response, body []byte) error {
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return nil
	}
	e := &APIError{Op: op, Status: res.StatusCode}
	var raw map[string]any
	if json.Unmarshal(body, &raw) == nil && raw != nil {
		p := &Problem{Extra: map[string]any{}}
		_ = json.Unmarshal(body, p)
		for k, v := range raw {
			switch k {
			case "type", "title", "status", "detail", "instance":
			default:
				p.Extra[k] = v
			}
		}
		e.Problem = p
	} else {
		s := strings.TrimSpace(string(body))
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		e.Body = s
	}
	return e
}

// TimeoutError is a --wait that ran out of time.
type TimeoutError struct {
	What string
	Last string
}

// Error implements error.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("timed out waiting for %s (last state %s)", e.What, e.Last)
}

// FailedError is an operation followed with --wait that ended in failure.
type FailedError struct {
	What    string
	State   string
	Problem *Problem
}

// Error implements error.
func (e *FailedError) Error() string {
	s := fmt.Sprintf("%s ended %s", e.What, e.State)
	if e.Problem != nil && e.Problem.Detail != "" {
		s += ": " + e.Problem.Detail
	}
	return s
}

// transportError wraps an error of the HTTP client with what was asked and a hint.
func transportError(op, target string, err error) error {
	return &ConnError{Op: op, Target: target, Err: err}
}

// ConnError is a request that got no answer.
type ConnError struct {
	Op, Target string
	Err        error
}

// Error implements error.
func (e *ConnError) Error() string {
	cause := e.Err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err // the URL is in Target already
	}
	s := fmt.Sprintf("%s: %s: %v", e.Op, e.Target, cause)
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var rec tls.RecordHeaderError
	switch {
	case errors.As(e.Err, &ua):
		s += " (give the CA with --ca-file, or --insecure-skip-verify for a test site)"
	case errors.As(e.Err, &hn):
		s += " (the certificate does not name this host)"
	case errors.As(e.Err, &rec):
		s += " (the server does not speak TLS: use an http:// URL)"
	}
	return s
}

// Unwrap returns the cause.
func (e *ConnError) Unwrap() error { return e.Err }

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ExitCode maps an error to the documented exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var (
		ue *UsageError
		ae *APIError
		te *TimeoutError
		fe *FailedError
		ce *ConnError
	)
	switch {
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &te):
		return ExitTimeout
	case errors.As(err, &fe):
		return ExitRefused
	case errors.As(err, &ae):
		switch {
		case ae.Status == http.StatusNotFound:
			return ExitNotFound
		case ae.Status >= 400 && ae.Status < 500:
			return ExitRefused
		}
		return ExitError
	case errors.As(err, &ce):
		if isTimeout(ce.Err) {
			return ExitTimeout
		}
		return ExitUnreachable
	case isTimeout(err):
		return ExitTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ExitUnreachable
	}
	return ExitError
}

// printError writes err for a person.
func printError(w io.Writer, err error) {
	var ae *APIError
	if errors.As(err, &ae) {
		fmt.Fprintln(w, "Error: "+ae.Describe())
		return
	}
	var fe *FailedError
	if errors.As(err, &fe) && fe.Problem != nil {
		fmt.Fprintln(w, "Error: "+fe.Error())
		if fe.Problem.Title != "" {
			fmt.Fprintf(w, "  title:    %s\n", fe.Problem.Title)
		}
		if fe.Problem.Status != 0 {
			fmt.Fprintf(w, "  status:   %d\n", fe.Problem.Status)
		}
		return
	}
	fmt.Fprintln(w, "Error: "+err.Error())
}
