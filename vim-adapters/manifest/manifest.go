// Package manifest decodes Kubernetes manifests (YAML or JSON streams, several documents
// each) into unstructured objects, the one way for the MEO's package check and the
// Kubernetes-family VIM adapters to read what a package deploys. It imports apimachinery
// only, never client-go, so the MEO's package reading stays free of cluster clients.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Limits bound what Decode accepts. Zero fields mean no limit.
type Limits struct {
	// MaxObjects bounds the number of objects, List items counted one by one.
	MaxObjects int
	// MaxBytes bounds each document.
	MaxBytes int
}

// Decode splits YAML or JSON streams into objects:
//   - empty documents are skipped;
//   - a List is expanded into its items (each must be an object);
//   - Helm test hooks (annotation helm.sh/hook: test…) are dropped; other hooks are kept
//     as ordinary objects (there is no release lifecycle to attach them to);
//   - every object needs apiVersion, kind and metadata.name;
//   - no objects at all is an error.
func Decode(docs [][]byte, lim Limits) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	add := func(u *unstructured.Unstructured) error {
		if strings.HasPrefix(u.GetAnnotations()["helm.sh/hook"], "test") {
			return nil
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			return fmt.Errorf("object %d has no apiVersion, kind or name", len(out)+1)
		}
		if lim.MaxObjects > 0 && len(out) >= lim.MaxObjects {
			return fmt.Errorf("more than %d objects", lim.MaxObjects)
		}
		out = append(out, u)
		return nil
	}
	for _, doc := range docs {
		if lim.MaxBytes > 0 && len(doc) > lim.MaxBytes {
			return nil, fmt.Errorf("a manifest exceeds %d bytes", lim.MaxBytes)
		}
		d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(doc), 4096)
		for {
			var m map[string]any
			if err := d.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("decode: %w", err)
			}
			if len(m) == 0 {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			if u.GetKind() != "List" {
				if err := add(u); err != nil {
					return nil, err
				}
				continue
			}
			items, ok := m["items"].([]any)
			if !ok {
				return nil, errors.New("a List without items")
			}
			for _, it := range items {
				im, ok := it.(map[string]any)
				if !ok {
					return nil, errors.New("a List item that is not an object")
				}
				if err := add(&unstructured.Unstructured{Object: im}); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no objects")
	}
	return out, nil
}
