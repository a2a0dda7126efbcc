// Package kubetest holds helpers for the integration tests of the Kubernetes-family adapters:
// clients for the test bed's sites (from the env vars test/setup.d/20-testbed.sh exports),
// unique instance ids, chart packing, cleanup and the options of the vim.VIM contract suite
// (vimtest.Run) on a test-bed site.
package kubetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

// Env vars exported by the test bed's setup script.
const (
	EnvKubeconfig    = "EDGEMEC_TESTBED_KUBECONFIG"     // site A: kwok cloud + edge nodes
	EnvK3sKubeconfig = "EDGEMEC_TESTBED_K3S_KUBECONFIG" // site B: kwok nodes with K3s labels
)

// RESTConfig loads the kubeconfig named by env var, skipping (failing under CI) when unset.
func RESTConfig(t testing.TB, env string) *rest.Config {
	t.Helper()
	path := testutil.RequireEnv(t, env)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("load kubeconfig %s: %v", path, err)
	}
	return cfg
}

// ID returns a fresh instance id starting with prefix.
func ID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// Cleanup terminates the instance when the test ends, without waiting for the namespace to go
// (namespace deletion takes ~10 s and is not what the tests measure).
func Cleanup(t testing.TB, v vim.VIM, id string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := v.Terminate(ctx, id); err != nil {
			t.Errorf("cleanup terminate %s: %v", id, err)
		}
	})
}

// Context returns the test's context bounded by d.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// PackChart packs the chart directory dir into a .tgz, as `helm package` lays it out (all
// files under a top-level directory named after the chart).
func PackChart(t testing.TB, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	base := filepath.Base(dir)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: base + "/" + filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(b)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		t.Fatalf("pack chart %s: %v", dir, err)
	}
	return buf.Bytes()
}

// Request returns a minimal image-only deploy request for id.
func Request(id, image string) vim.DeployRequest {
	return vim.DeployRequest{
		AppInstanceID: id,
		AppDID:        "appd-" + strings.SplitN(id, "-", 2)[0],
		AppName:       "mec-app",
		Image:         vim.SwImage{Ref: image, ContainerFormat: "docker"},
		Artifacts:     vim.Artifacts{Ports: []vim.Port{{Name: "http", Port: 8080}}},
		MEP:           vim.MEPAccess{Endpoint: "http://10.89.0.1:8080", ClientID: "client-" + id, ClientSecret: "s3cret-" + id},
	}
}

// MissingImage points a request at an image in the reserved .invalid domain, which the test
// bed's kwok (and fakevirt) report as ErrImagePull, as a kubelet does for a registry that
// does not resolve.
func MissingImage(r *vim.DeployRequest) { r.Image.Ref = "registry.invalid/edgemec/nope:1.0" }

// Contract returns the contract suite's options for an adapter of kind on a test-bed site
// reached through c, whose instance namespaces are named by namespace: image-only requests
// of local/mec-app:dev, a missing image in the .invalid domain, and, as the foreign object,
// an unlabelled namespace with the instance's namespace name.
func Contract(kube k8s.Interface, kind vim.Kind, namespace func(id string) string) vimtest.Options {
	return vimtest.Options{
		Request:      func(id string) vim.DeployRequest { return Request(id, "local/mec-app:dev") },
		Kind:         kind,
		NewID:        ID,
		Timeout:      2 * time.Minute, // the first workload after a fresh start takes ~5 s; a loaded CI machine more
		MissingImage: MissingImage,
		Foreign: func(t *testing.T, _ vim.VIM, id string) func() error {
			t.Helper()
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace(id), Labels: map[string]string{"owner": "someone-else"}}}
			if _, err := kube.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create foreign namespace: %v", err)
			}
			t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
			return func() error {
				got, err := kube.CoreV1().Namespaces().Get(context.Background(), ns.Name, metav1.GetOptions{})
				switch {
				case err != nil:
					return err
				case got.DeletionTimestamp != nil:
					return fmt.Errorf("namespace %s is being deleted", ns.Name)
				case len(got.Labels) != 2 || got.Labels["owner"] != "someone-else": // and kubernetes.io/metadata.name
					return fmt.Errorf("namespace %s relabelled: %v", ns.Name, got.Labels)
				}
				secrets, err := kube.CoreV1().Secrets(ns.Name).List(context.Background(), metav1.ListOptions{})
				if err != nil {
					return err
				}
				deps, err := kube.AppsV1().Deployments(ns.Name).List(context.Background(), metav1.ListOptions{})
				if err != nil {
					return err
				}
				if n := len(secrets.Items) + len(deps.Items); n > 0 {
					return fmt.Errorf("the adapter put %d objects into namespace %s", n, ns.Name)
				}
				return nil
			}
		},
	}
}
