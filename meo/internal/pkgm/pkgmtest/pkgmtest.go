// Package pkgmtest builds application packages for tests and holds a minimal package
// reader that stands in for the full one in tests of the layers above it.
package pkgmtest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/edgemec/edgemec/meo/internal/pkgm"
)

// AppD returns a minimal valid AppD (YAML) with the id and name.
func AppD(id, name string) string {
	return fmt.Sprintf(`appDId: %s
appName: %s
appProvider: edgemec
appSoftVersion: "1.0"
appDVersion: "1.0"
mecVersion: ["2.2.1"]
appDescription: test app
virtualComputeDescriptor: {virtualComputeDescId: vcd, virtualMemory: {virtualMemSize: 512}, virtualCpu: {numVirtualCpu: 1}}
swImageDescriptor: {id: img, name: %s, version: "1.0", swImage: "registry.example/%s:1.0", containerFormat: DOCKER}
`, id, name, name, name)
}

// Zip builds a zip of the named files, in the order given (name, content, name, ...).
func Zip(files ...string) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		f, err := w.Create(files[i])
		if err != nil {
			panic(err)
		}
		if _, err := io.WriteString(f, files[i+1]); err != nil {
			panic(err)
		}
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Package returns a valid package zip whose AppD has the id and name.
func Package(id, name string) []byte {
	return Zip("TOSCA-Metadata/TOSCA.meta", "TOSCA-Meta-File-Version: 1.0\nEntry-Definitions: Definitions/appd.yaml\n",
		"Definitions/appd.yaml", AppD(id, name))
}

// SHA256 is the hex SHA-256 digest of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Reader is a minimal pkgm.Reader: it takes the first *.yaml or *.json file under
// Definitions/ (or at the root) as the AppD and reads its identifying fields.
func Reader(r io.ReaderAt, size int64) (*pkgm.Parsed, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a zip: %w", err)
	}
	for _, f := range zr.File {
		dir, ext := path.Dir(f.Name), path.Ext(f.Name)
		if (dir != "Definitions" && dir != ".") || (ext != ".yaml" && ext != ".json") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		var d struct {
			AppDID         string `json:"appDId"`
			AppName        string `json:"appName"`
			AppProvider    string `json:"appProvider"`
			AppSoftVersion string `json:"appSoftVersion"`
			AppDVersion    string `json:"appDVersion"`
		}
		if err := json.Unmarshal(js, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if d.AppDID == "" {
			return nil, fmt.Errorf("%s: /appDId is required", f.Name)
		}
		format := "yaml"
		if strings.HasSuffix(f.Name, ".json") {
			format = "json"
		}
		return &pkgm.Parsed{AppDID: d.AppDID, AppName: d.AppName, AppProvider: d.AppProvider, AppSoftVersion: d.AppSoftVersion,
			AppDVersion: d.AppDVersion, AppD: raw, AppDFormat: format, Doc: js,
			SoftwareImages: []map[string]any{{"id": "img", "name": d.AppName}}}, nil
	}
	return nil, errors.New("no AppD in the package")
}
