// Package kubetest holds helpers for the integration tests of the Kubernetes-family adapters:
// clients for the test bed's sites (from the env vars test/setup.d/20-testbed.sh exports),
// unique instance ids, chart packing and cleanup.
package kubetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/vim-adapters/vim"
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
