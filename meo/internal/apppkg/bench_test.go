package apppkg_test

import (
	"archive/zip"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/apppkg/apppkgtest"
)

// writeBigPackage writes a valid package of about size bytes to a file: the test AppD and
// incompressible filler under Files/ in 1 MiB entries, streamed so the test holds none of it.
func writeBigPackage(tb testing.TB, size int64) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "big.zip")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	w, err := zw.Create("appd.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.WriteString(w, apppkgtest.AppD("big", "registry.example/big:1")); err != nil {
		tb.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := int64(0); i*int64(len(chunk)) < size; i++ {
		if _, err := rand.Read(chunk); err != nil {
			tb.Fatal(err)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "Files/blob/" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Method: zip.Store})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(chunk); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkRead50MB reads a 50 MB package from a file, reporting throughput and the heap
// the read allocates per package (the zip itself is never held).
func BenchmarkRead50MB(b *testing.B) {
	p := writeBigPackage(b, 50<<20)
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := apppkg.Read(f, st.Size(), apppkg.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReadBigPackageHeap checks that reading a 50 MB package does not hold it: the live heap
// grows by far less than the package.
func TestReadBigPackageHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50 MB")
	}
	p := writeBigPackage(t, 50<<20)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pkg, err := apppkg.Read(f, st.Size(), apppkg.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if pkg.Size < 50<<20 {
		t.Fatalf("read %d bytes; want the whole 50 MB", pkg.Size)
	}
	// TotalAlloc counts every allocation during Read, freed or not.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("Read allocated %d bytes for a %d byte package; want < 8 MiB", alloc, st.Size())
	}
}
