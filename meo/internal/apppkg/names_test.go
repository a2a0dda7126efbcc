package apppkg_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/apppkg/apppkgtest"
)

// TestReadUnicodeDuplicates: two entries whose names are equal after Unicode normalisation
// (NFC "é" U+00E9 and NFD "e" U+0301, which macOS and Windows treat as one file) are
// duplicates; the refusal names both, escaped so that they read apart. Names that only look
// alike are distinct.
func TestReadUnicodeDuplicates(t *testing.T) {
	const (
		nfc = "Files/caf\u00e9.txt"  // é precomposed
		nfd = "Files/cafe\u0301.txt" // e + combining acute accent
	)
	appdYAML := apppkgtest.AppD("app1", "registry.example/app:1")
	with := func(names ...string) []byte {
		es := []apppkgtest.Entry{{Name: "appd.yaml", Data: []byte(appdYAML)}}
		for _, n := range names {
			e := apppkgtest.Entry{Name: n, Data: []byte("x")}
			if strings.HasSuffix(n, "/") {
				e.Data = nil
			}
			es = append(es, e)
		}
		return apppkgtest.ZipEntries(t, es...)
	}
	for _, tc := range []struct {
		name   string
		zip    []byte
		entry  string // "" reads
		detail []string
	}{
		{"NFC then NFD", with(nfc, nfd), nfd, []string{`"Files/cafe\u0301.txt"`, `"Files/caf\u00e9.txt"`, "Unicode normalisation"}},
		{"NFD then NFC", with(nfd, nfc), nfc, []string{`"Files/caf\u00e9.txt"`, `"Files/cafe\u0301.txt"`, "Unicode normalisation"}},
		{"NFD, NFC upper-case", with(nfd, strings.ToUpper(nfc)), strings.ToUpper(nfc), []string{`"FILES/CAF\u00c9.TXT"`, "Unicode normalisation"}},
		{"directory NFC, file NFD", with("Files/caf\u00e9/", "Files/cafe\u0301"), "Files/cafe\u0301", []string{"Unicode normalisation"}},
		{"file under a directory spelt NFD", with("Files/x\u00e9", "Files/xe\u0301/a"), "Files/xe\u0301/a", []string{"is a file"}},
		{"Hangul NFC and NFD", with("Files/\uD55C", "Files/\u1112\u1161\u11AB"), "Files/\u1112\u1161\u11AB", []string{"Unicode normalisation"}},
		{"look-alikes are distinct", with("Files/caf\u00e9.txt", "Files/caf\u0435.txt"), "", nil}, // Cyrillic е
		{"compatibility forms are distinct", with("Files/\uFB01le", "Files/file"), "", nil},       // ﬁ ligature: NFKC only
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read(t, tc.zip, apppkg.Limits{})
			if tc.entry == "" {
				require.NoError(t, err)
				return
			}
			var pe *apppkg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, apppkg.ReasonDuplicate, pe.Reason, "error %v", err)
			assert.Equal(t, tc.entry, pe.Entry)
			for _, d := range tc.detail {
				assert.Contains(t, pe.Detail, d)
			}
		})
	}
}
