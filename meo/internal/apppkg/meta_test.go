package apppkg_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/apppkg"
)

func TestParseToscaMeta(t *testing.T) {
	m, err := apppkg.ParseToscaMeta([]byte("\xef\xbb\xbfTOSCA-Meta-File-Version: 1.0\r\nCSAR-Version: 1.1\r\nCreated-By: a\n  b\n" +
		"Entry-Definitions: Definitions/appd.yaml\nETSI-Entry-Manifest: app.mf\n\n\nName: Artifacts/x.tgz\nContent-Type: application/gzip\n"))
	require.NoError(t, err)
	assert.Equal(t, "Definitions/appd.yaml", m.EntryDefinitions)
	assert.Equal(t, "app.mf", m.EntryManifest)
	assert.Equal(t, "ab", m.Keys["Created-By"])
	assert.Equal(t, []apppkg.MetaFile{{Name: "Artifacts/x.tgz", Keys: map[string]string{"Content-Type": "application/gzip"}}}, m.Files)

	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"no Entry-Definitions", "CSAR-Version: 1.1\n"},
		{"not key value", "Entry-Definitions a.yaml\n"},
		{"duplicate key", "Entry-Definitions: a.yaml\nEntry-Definitions: b.yaml\n"},
		{"continuation first", " x\nEntry-Definitions: a.yaml\n"},
		{"block without Name", "Entry-Definitions: a.yaml\n\nContent-Type: x\n"},
		{"not UTF-8", "Entry-Definitions: \xff\n"},
		{"line too long", "Entry-Definitions: " + string(make([]byte, 70000)) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apppkg.ParseToscaMeta([]byte(tc.in))
			require.ErrorIs(t, err, apppkg.ErrInvalid)
			assert.Equal(t, apppkg.ReasonToscaMeta, apppkg.ReasonOf(err))
		})
	}
}

func TestParseManifest(t *testing.T) {
	m, err := apppkg.ParseManifest("app.mf", []byte("metadata:\n  app_product_name: a\n  app_provider_id: p\n\n"+
		"Source: appd.yaml\nAlgorithm: SHA-512\nHash: "+string(repeat('A', 128))+"\n\nnon_mano_artifact_sets:\n  tests:\n    Source: Files/t.txt\n\n"+
		"Source: http://x.example/img\n-----BEGIN CMS-----\nxx\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app_product_name": "a", "app_provider_id": "p"}, m.Metadata)
	require.Len(t, m.Sources, 2)
	assert.Equal(t, string(repeat('a', 128)), m.Sources[0].Hash)
	assert.True(t, m.Sources[1].External())

	for _, tc := range []struct{ name, in string }{
		{"hash without algorithm", "Source: a\nHash: 00\n"},
		{"algorithm without source", "Algorithm: SHA-256\n"},
		{"short hash", "Source: a\nAlgorithm: SHA-256\nHash: abcd\n"},
		{"not hex", "Source: a\nAlgorithm: SHA-256\nHash: " + string(repeat('z', 64)) + "\n"},
		{"empty source", "Source:\n"},
		{"duplicate metadata", "metadata:\na: 1\na: 2\n"},
		{"not key value", "metadata:\nnonsense\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apppkg.ParseManifest("app.mf", []byte(tc.in))
			require.ErrorIs(t, err, apppkg.ErrInvalid)
			assert.Equal(t, apppkg.ReasonManifest, apppkg.ReasonOf(err))
		})
	}
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}
