package apppkg

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// Manifest is a parsed package manifest (*.mf, GS NFV-SOL 004 clause 4.3.3 as GS MEC 010-2
// uses it): metadata, then Source: entries with optional digests.
type Manifest struct {
	// Path is the manifest's entry name.
	Path string `json:"path"`
	// Metadata are the keys of the metadata: block (app_product_name, app_provider_id, ...).
	Metadata map[string]string `json:"metadata,omitempty"`
	// Sources are the files the manifest lists.
	Sources []Source `json:"sources,omitempty"`
}

// Source is one file a manifest lists.
type Source struct {
	// Path is the entry name, or a URI for a file kept outside the package.
	Path string `json:"path"`
	// Algorithm is SHA-256 or SHA-512 when the manifest gives a digest; Hash is its hex.
	Algorithm string `json:"algorithm,omitempty"`
	Hash      string `json:"hash,omitempty"`
}

// External reports whether the source is a URI rather than a package entry.
func (s Source) External() bool { return strings.Contains(s.Path, "://") }

// ParseManifest parses a manifest. Lines it does not know (signatures, non_mano_artifact_sets
// and their indented members) are skipped; a CMS signature block ends it.
func ParseManifest(path string, data []byte) (*Manifest, error) {
	if !utf8.Valid(data) {
		return nil, fail(ReasonManifest, path, "not UTF-8")
	}
	m := &Manifest{Path: path, Metadata: map[string]string{}}
	var cur *Source
	inMeta := false
	sc := bufio.NewScanner(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimRight(sc.Text(), "\r")
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "-----BEGIN") {
			break
		}
		if line == "" {
			inMeta, cur = false, nil
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return nil, fail(ReasonManifest, path, "line %d: not a \"key: value\" line", n)
		}
		indented := raw[0] == ' ' || raw[0] == '\t'
		switch {
		case k == "metadata" && v == "":
			inMeta = true
		case inMeta && k != "Source":
			if _, dup := m.Metadata[k]; dup {
				return nil, fail(ReasonManifest, path, "line %d: metadata %s given twice", n, k)
			}
			m.Metadata[k] = v
		case k == "Source" && !indented:
			inMeta = false
			if v == "" {
				return nil, fail(ReasonManifest, path, "line %d: empty Source", n)
			}
			m.Sources = append(m.Sources, Source{Path: v})
			cur = &m.Sources[len(m.Sources)-1]
		case (k == "Algorithm" || k == "Hash") && !indented:
			if cur == nil {
				return nil, fail(ReasonManifest, path, "line %d: %s without Source", n, k)
			}
			if k == "Algorithm" {
				cur.Algorithm = v
			} else {
				cur.Hash = strings.ToLower(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fail(ReasonManifest, path, "line %d: %v", n+1, err)
	}
	for _, s := range m.Sources {
		if (s.Algorithm == "") != (s.Hash == "") {
			return nil, fail(ReasonManifest, path, "Source %s: Algorithm and Hash go together", s.Path)
		}
		if s.Algorithm == "" {
			continue
		}
		size := digestSize(s.Algorithm)
		if size == 0 {
			return nil, fail(ReasonManifest, path, "Source %s: algorithm %q is not SHA-256 or SHA-512", s.Path, s.Algorithm)
		}
		if b, err := hex.DecodeString(s.Hash); err != nil || len(b) != size {
			return nil, fail(ReasonManifest, path, "Source %s: hash is not %d hex bytes", s.Path, size)
		}
	}
	return m, nil
}

// digestSize is the digest length of a manifest algorithm name, 0 for an unknown one.
func digestSize(alg string) int {
	switch strings.ToUpper(strings.ReplaceAll(alg, "-", "")) {
	case "SHA256":
		return 32
	case "SHA512":
		return 64
	}
	return 0
}
