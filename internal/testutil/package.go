package testutil

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// SamplePackage zips the repository's sample app package (test/testdata/packages/mecapp)
// with fixed times, so its checksum is the same on every run. A non-empty appDId renames
// its AppD, so one database can hold several onboarded copies. The image it names,
// local/mecapp:dev, is the sample app the real node runs.
func SamplePackage(t testing.TB, appDId string) []byte {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "test", "testdata", "packages", "mecapp")
	var files []string
	if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		rel, err := filepath.Rel(dir, f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if appDId != "" && rel == filepath.Join("Definitions", "mecapp.yaml") {
			b = bytes.Replace(b, []byte("appDId: mecapp\n"), []byte("appDId: "+appDId+"\n"), 1)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: filepath.ToSlash(rel), Method: zip.Deflate,
			Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
