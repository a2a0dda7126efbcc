package kubernetes

import (
	"context"
	"errors"
	"net"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Wrap classifies a client-go error into a *vim.Error for op on id, for adapters built on
// this one (kubevirt).
func Wrap(op, id string, err error, detail string) error { return wrap(op, id, err, detail) }

// wrap classifies a client-go error into a *vim.Error for op on id.
func wrap(op, id string, err error, detail string) error {
	if err == nil {
		return nil
	}
	var ve *vim.Error
	if errors.As(err, &ve) {
		return err
	}
	return &vim.Error{Op: op, AppInstanceID: id, Err: classify(err), Detail: detail, Cause: err}
}

func classify(err error) error {
	var netErr net.Error
	switch {
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota"):
		return vim.ErrQuota
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return vim.ErrForbidden
	case apierrors.IsNotFound(err):
		return vim.ErrNotFound
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), meta.IsNoMatchError(err):
		return vim.ErrInvalid
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return vim.ErrConflict
	case apierrors.IsServerTimeout(err), apierrors.IsServiceUnavailable(err), apierrors.IsTooManyRequests(err),
		apierrors.IsTimeout(err), apierrors.IsInternalError(err), errors.As(err, &netErr),
		// The caller's deadline, or client-go's own rate limiter refusing to wait past it
		// ("client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context
		// deadline", which wraps nothing): the VIM was not asked, so nothing failed.
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		strings.Contains(err.Error(), "rate limiter Wait returned an error"):
		return vim.ErrUnavailable
	default:
		return vim.ErrFailed
	}
}
