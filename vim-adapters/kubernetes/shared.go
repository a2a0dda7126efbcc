package kubernetes

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Helpers shared with the adapters built on this one's conventions (kubevirt).

// InstanceLabels returns the labels put on every object of an instance.
func InstanceLabels(req *vim.DeployRequest) map[string]string { return instanceLabels(req) }

// Apply server-side applies u (namespaced when u has a namespace) with force as manager.
func Apply(ctx context.Context, c *Clients, gvr schema.GroupVersionResource, u *unstructured.Unstructured, manager string) error {
	r := c.Dynamic.Resource(gvr)
	if ns := u.GetNamespace(); ns != "" {
		_, err := r.Namespace(ns).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: manager, Force: true})
		return err
	}
	_, err := r.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: manager, Force: true})
	return err
}

// Wrap classifies a client-go error into a *vim.Error for op on id.
func Wrap(op, id string, err error, detail string) error { return wrap(op, id, err, detail) }

// NodeReady reports whether a node's Ready condition is True.
var NodeReady = nodeReady

// Mp1SecretName is the Secret holding an instance's Mp1 access.
const Mp1SecretName = mp1SecretName

// NamespaceOf reports whether namespace ns exists, and fails with ErrConflict when it does
// but carries no label for instance id: a namespace someone else made, which the adapters
// never deploy into, stop, start or delete.
func NamespaceOf(ctx context.Context, c *Clients, op, ns, id string) (exists bool, err error) {
	got, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, wrap(op, id, err, "namespace "+ns)
	}
	if got.Labels[LabelInstance] != id {
		return true, vim.Errorf(op, id, vim.ErrConflict, "namespace %s exists but is not labelled %s=%s", ns, LabelInstance, id)
	}
	return true, nil
}

// ClaimNamespace checks, before a deploy, that namespace ns is free for instance id: it does
// not exist yet, or it is the instance's (see NamespaceOf).
func ClaimNamespace(ctx context.Context, c *Clients, op, ns, id string) error {
	_, err := NamespaceOf(ctx, c, op, ns, id)
	return err
}
