package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestImageLayout(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("\x7fELF fake binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	img := Image{Ref: "local/app:dev", Arch: "amd64", User: "65534", Ports: []string{"8080/tcp"}, Binaries: []string{bin}}
	var a, b bytes.Buffer
	if err := img.Write(&a); err != nil {
		t.Fatal(err)
	}
	if err := img.Write(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two writes of the same image differ; want a reproducible tarball")
	}

	files := untar(t, a.Bytes())
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != 1 || manifest[0].RepoTags[0] != "local/app:dev" {
		t.Fatalf("manifest = %+v", manifest)
	}
	m := manifest[0]
	if got, want := m.Config, digest(files[m.Config])+".json"; got != want {
		t.Errorf("config name %s; want its digest %s", got, want)
	}
	zr, err := gzip.NewReader(bytes.NewReader(files[m.Layers[0]]))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Architecture string
		Config       struct {
			Entrypoint   []string
			User         string
			ExposedPorts map[string]struct{}
		}
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		}
	}
	if err := json.Unmarshal(files[m.Config], &cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.RootFS.DiffIDs, []string{"sha256:" + digest(raw)}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("diff_ids %v; want %v", got, want)
	}
	if cfg.Config.Entrypoint[0] != "/app" || cfg.Config.User != "65534" || cfg.Architecture != "amd64" {
		t.Errorf("config %+v", cfg)
	}
	if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("ExposedPorts %v lacks 8080/tcp", cfg.Config.ExposedPorts)
	}
	layer := untar(t, raw)
	for _, name := range []string{"app", "etc/passwd", "etc/group"} {
		if _, ok := layer[name]; !ok {
			t.Errorf("layer lacks %s (has %v)", name, keys(layer))
		}
	}
}

func TestDuplicateBinaryNames(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
		os.WriteFile(filepath.Join(dir, d, "app"), []byte("x"), 0o755)
	}
	img := Image{Ref: "x:y", Arch: "amd64", Binaries: []string{filepath.Join(dir, "a", "app"), filepath.Join(dir, "b", "app")}}
	if err := img.Write(io.Discard); err == nil {
		t.Fatal("two binaries with one name: want an error")
	}
}

func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = data
	}
}

func keys(m map[string][]byte) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}
