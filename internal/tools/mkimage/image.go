package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Image describes a single-layer image made of static binaries.
type Image struct {
	Ref      string   // image reference written into the tarball's RepoTags
	Arch     string   // GOARCH-style architecture
	User     string   // user the entrypoint runs as; empty means root
	Ports    []string // exposed ports, "8080/tcp"
	Env      []string // K=V
	Binaries []string // paths; the first is the entrypoint
}

// epoch is the modification time of every file and of the image itself, so the output only
// depends on the inputs.
var epoch = time.Unix(0, 0).UTC()

// Write writes the image as a docker-save tarball: manifest.json, the config blob and one
// gzip-compressed layer.
func (img Image) Write(w io.Writer) error {
	layer, diffID, err := img.layer()
	if err != nil {
		return err
	}
	config, err := img.config(diffID)
	if err != nil {
		return err
	}
	configName := digest(config) + ".json"
	layerName := digest(layer) + "/layer.tar.gz"
	manifest, err := json.Marshal([]map[string]any{{
		"Config": configName, "RepoTags": []string{img.Ref}, "Layers": []string{layerName},
	}})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, f := range []struct {
		name string
		data []byte
	}{{configName, config}, {layerName, layer}, {"manifest.json", manifest}} {
		if err := writeFile(tw, f.name, 0o644, f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// layer returns the gzip-compressed layer and the digest of its uncompressed tar (the diff id).
func (img Image) layer() (gz []byte, diffID string, err error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	dirs := []struct {
		name string
		mode int64
	}{{"etc/", 0o755}, {"tmp/", 0o1777}}
	for _, d := range dirs {
		h := &tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
	}
	files := []struct {
		name string
		data string
	}{
		{"etc/passwd", "root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"},
		{"etc/group", "root:x:0:\nnogroup:x:65534:\n"},
	}
	for _, f := range files {
		if err := writeFile(tw, f.name, 0o644, []byte(f.data)); err != nil {
			return nil, "", err
		}
	}
	seen := map[string]bool{}
	for _, p := range img.Binaries {
		base := filepath.Base(p)
		if seen[base] {
			return nil, "", fmt.Errorf("two binaries named %s", base)
		}
		seen[base] = true
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, "", err
		}
		if err := writeFile(tw, base, 0o755, b); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	if err != nil {
		return nil, "", err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return out.Bytes(), "sha256:" + digest(raw.Bytes()), nil
}

// config returns the image configuration (OCI image-spec config, which Docker shares).
func (img Image) config(diffID string) ([]byte, error) {
	if len(img.Binaries) == 0 {
		return nil, fmt.Errorf("no binaries")
	}
	c := map[string]any{
		"Entrypoint": []string{"/" + filepath.Base(img.Binaries[0])},
		"Env":        append([]string{"PATH=/"}, img.Env...),
		"WorkingDir": "/",
	}
	if img.User != "" {
		c["User"] = img.User
	}
	if len(img.Ports) > 0 {
		ports := map[string]struct{}{}
		for _, p := range img.Ports {
			ports[p] = struct{}{}
		}
		c["ExposedPorts"] = ports
	}
	return json.Marshal(map[string]any{
		"architecture": img.Arch,
		"os":           "linux",
		"created":      epoch.Format(time.RFC3339),
		"config":       c,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history":      []map[string]any{{"created": epoch.Format(time.RFC3339), "created_by": "mkimage"}},
	})
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
