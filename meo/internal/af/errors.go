package af

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/free5gc/openapi/models"
)

// Sentinels. A *NEFError matches exactly one of ErrRetryable and ErrPermanent, and
// ErrNotFound when the NEF answered 404.
var (
	// ErrInvalid is matched by errors in the AF's own input: a bad SiteConfig, Instance or
	// UETarget. Retrying does not help.
	ErrInvalid = errors.New("invalid traffic influence input")
	// ErrNoTraffic is returned when an instance gives nothing to steer: no afAppId and no
	// active forwarding traffic rule that an IP flow description can express. The caller
	// skips the subscription; it is not a failure of the NEF.
	ErrNoTraffic = errors.New("no traffic to steer")
	// ErrRetryable is matched by failures that may pass on a later attempt: the NEF or its
	// token endpoint unreachable or timing out, 5xx, 408 and 429, and a 401 after which the
	// cached OAuth 2.0 token was dropped.
	ErrRetryable = errors.New("retryable nef failure")
	// ErrPermanent is matched by failures that repeat until something changes: the NEF's
	// other 4xx answers (a refused subscription, bad credentials) and answers that do not
	// follow the API.
	ErrPermanent = errors.New("permanent nef failure")
	// ErrNotFound is matched when the NEF does not know the subscription (404).
	ErrNotFound = errors.New("nef subscription not found")
)

// NEFError is a failed exchange with the NEF.
type NEFError struct {
	// Op is the operation: "create", "update", "delete", "get".
	Op string
	// Status is the HTTP status the NEF (or its token endpoint, when Token is set) answered;
	// 0 when no answer came.
	Status int
	// Token is set when the failure was at the OAuth 2.0 token endpoint.
	Token bool
	// Problem is the NEF's ProblemDetails, if it sent one; its Detail and InvalidParams say
	// what the NEF refused.
	Problem *models.ProblemDetails
	// Retryable says whether a later attempt may succeed.
	Retryable bool
	// Err is the underlying cause, if any (a transport error, a decoding error).
	Err error
}

// Error reads "nef create: 400 Bad Request: /afAppId: exactly one of ...".
func (e *NEFError) Error() string {
	var b strings.Builder
	b.WriteString("nef ")
	b.WriteString(e.Op)
	if e.Token {
		b.WriteString(": token endpoint")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Problem != nil && e.Problem.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Problem.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *NEFError) Unwrap() error { return e.Err }

// Is matches ErrRetryable or ErrPermanent by Retryable, and ErrNotFound on 404.
func (e *NEFError) Is(target error) bool {
	switch target {
	case ErrRetryable:
		return e.Retryable
	case ErrPermanent:
		return !e.Retryable
	case ErrNotFound:
		return e.Status == http.StatusNotFound && !e.Token
	}
	return false
}

// IsRetryable reports whether err is worth another attempt.
func IsRetryable(err error) bool { return errors.Is(err, ErrRetryable) }

// retryableStatus reports whether an HTTP status may pass on a later attempt.
func retryableStatus(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}
