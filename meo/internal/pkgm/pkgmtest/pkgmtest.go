// Package pkgmtest builds application packages for the tests of the package-management
// layers (HTTP, binary); the packages it builds pass the real reader (apppkg).
package pkgmtest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
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
