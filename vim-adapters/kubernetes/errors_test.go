package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

func TestClassify(t *testing.T) {
	gr := schema.GroupResource{Resource: "deployments"}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{name: "not found", err: apierrors.NewNotFound(gr, "x"), want: vim.ErrNotFound},
		{name: "too many requests", err: apierrors.NewTooManyRequests("slow down", 1), want: vim.ErrUnavailable},
		{name: "caller's deadline", err: fmt.Errorf("get: %w", context.DeadlineExceeded), want: vim.ErrUnavailable},
		{name: "caller cancelled", err: fmt.Errorf("get: %w", context.Canceled), want: vim.ErrUnavailable},
		{name: "client-go rate limiter refuses to wait past the deadline",
			err: errors.New("client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context deadline"), want: vim.ErrUnavailable},
		{name: "anything else failed", err: errors.New("boom"), want: vim.ErrFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err); !errors.Is(got, tc.want) {
				t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
