package kubernetes

// An instance's namespace is the adapter's only when it carries the instance label with the
// instance's id. The adapters of this family (and KubeVirt) never deploy into, stop, start or
// delete a namespace someone else made: that is vim.ErrConflict.

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// NamespaceOf reports whether namespace ns exists, and fails with ErrConflict when it does
// but carries no label for instance id: a namespace someone else made, which the adapters
// never deploy into, stop, start or delete.
func NamespaceOf(ctx context.Context, c *Clients, op, ns, id string) (exists bool, err error) {
	got, err := namespaceOf(ctx, c, op, ns, id)
	return got != nil, err
}

// namespaceOf is NamespaceOf returning the namespace (nil when it does not exist).
func namespaceOf(ctx context.Context, c *Clients, op, ns, id string) (*corev1.Namespace, error) {
	got, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(op, id, err, "namespace "+ns)
	}
	if got.Labels[LabelInstance] != id {
		return got, vim.Errorf(op, id, vim.ErrConflict, "namespace %s exists but is not labelled %s=%s", ns, LabelInstance, id)
	}
	return got, nil
}

// ClaimNamespace checks, before a deploy, that namespace ns is free for instance id: it does
// not exist yet, or it is the instance's (see NamespaceOf).
func ClaimNamespace(ctx context.Context, c *Clients, op, ns, id string) error {
	_, err := NamespaceOf(ctx, c, op, ns, id)
	return err
}

// owned checks that the instance's namespace exists and is the adapter's.
func (a *Adapter) owned(ctx context.Context, c *Clients, id string) error {
	ns := a.Namespace(id)
	exists, err := NamespaceOf(ctx, c, "get", ns, id)
	if err == nil && !exists {
		return vim.Errorf("get", id, vim.ErrNotFound, "namespace %s not found", ns)
	}
	return err
}
