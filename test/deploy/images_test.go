//go:build integration

package deploy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestImages runs `make images` (deploy/images/build.sh) and checks every tarball: the
// reference each chart names by default, the entrypoint, the user, and a static binary for the
// image's architecture that runs (`-h` lists its flags).
func TestImages(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("bash", "../../deploy/images/build.sh")
	cmd.Env = append(os.Environ(), "OUT="+out, "IMAGE_TAG=dev")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))

	chartImage := func(chart string) string {
		b, err := os.ReadFile(filepath.Join(charts[chart], "values.yaml"))
		require.NoError(t, err)
		var v struct {
			Image struct{ Repository, Tag string }
		}
		require.NoError(t, yaml.Unmarshal(b, &v))
		return v.Image.Repository + ":" + v.Image.Tag
	}
	for _, tc := range []struct {
		name, ref, user, helpWant string
	}{
		{name: "meo", ref: chartImage("meo"), user: "65532", helpWant: "-operator-token-file"},
		{name: "mep", ref: chartImage("site"), user: "65532", helpWant: "-dns-addr"},
		{name: "upgw", ref: chartImage("upgw"), helpWant: "-gnb-if"},
		{name: "mecctl", ref: "local/edgemec-mecctl:dev", user: "65532"},
		{name: "mecapp", ref: "local/mecapp:dev", user: "65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := untarFile(t, filepath.Join(out, tc.name+".tar"))
			var manifest []struct {
				Config   string
				RepoTags []string
				Layers   []string
			}
			require.NoError(t, json.Unmarshal(files["manifest.json"], &manifest))
			require.Len(t, manifest, 1)
			require.Equal(t, []string{tc.ref}, manifest[0].RepoTags)
			var cfg struct {
				Architecture string
				Config       struct {
					Entrypoint []string
					User       string
				}
			}
			require.NoError(t, json.Unmarshal(files[manifest[0].Config], &cfg))
			require.Equal(t, runtime.GOARCH, cfg.Architecture)
			require.Equal(t, []string{"/" + tc.name}, cfg.Config.Entrypoint)
			require.Equal(t, tc.user, cfg.Config.User)

			require.Len(t, manifest[0].Layers, 1)
			zr, err := gzip.NewReader(bytes.NewReader(files[manifest[0].Layers[0]]))
			require.NoError(t, err)
			layer, err := io.ReadAll(zr)
			require.NoError(t, err)
			bin := untar(t, layer)[tc.name]
			require.NotEmpty(t, bin, "no /%s in the layer", tc.name)
			f, err := elf.NewFile(bytes.NewReader(bin))
			require.NoError(t, err)
			for _, p := range f.Progs {
				require.NotEqual(t, elf.PT_INTERP, p.Type, "dynamically linked; the image has no libc")
			}
			if tc.helpWant == "" {
				return
			}
			exe := filepath.Join(t.TempDir(), tc.name)
			require.NoError(t, os.WriteFile(exe, bin, 0o755))
			help, _ := exec.Command(exe, "-h").CombinedOutput()
			require.Contains(t, string(help), tc.helpWant)
		})
	}
}

func untarFile(t *testing.T, path string) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return untar(t, b)
}

// untar returns the regular files of a tar archive by name.
func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		require.NoError(t, err)
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			files[h.Name] = data
		}
	}
}
