package apppkg

import (
	"bufio"
	"bytes"
	"strings"
	"unicode/utf8"
)

// ToscaMetaPath is where a CSAR keeps its metadata.
const ToscaMetaPath = "TOSCA-Metadata/TOSCA.meta"

// ToscaMeta is a parsed TOSCA.meta (TOSCA Simple Profile 1.3 clause 6.2, GS NFV-SOL 004
// clause 4.3.2).
type ToscaMeta struct {
	// EntryDefinitions is the path of the AppD.
	EntryDefinitions string `json:"entryDefinitions"`
	// EntryManifest is the path of the manifest (ETSI-Entry-Manifest), if any.
	EntryManifest string `json:"entryManifest,omitempty"`
	// Keys are all keys of the first block as given (TOSCA-Meta-File-Version, CSAR-Version,
	// Created-By, ...).
	Keys map[string]string `json:"keys"`
	// Files are the Name: entries of the later blocks, with their other keys.
	Files []MetaFile `json:"files,omitempty"`
}

// MetaFile is a Name: block of TOSCA.meta.
type MetaFile struct {
	Name string            `json:"name"`
	Keys map[string]string `json:"keys,omitempty"`
}

// ParseToscaMeta parses TOSCA.meta: blocks of "Key: value" lines separated by blank lines,
// a line starting with a space continuing the previous value. The first block must give
// Entry-Definitions. Errors are *Error with ReasonToscaMeta.
func ParseToscaMeta(data []byte) (*ToscaMeta, error) {
	blocks, err := parseBlocks(data, ToscaMetaPath, ReasonToscaMeta)
	if err != nil {
		return nil, err
	}
	if len(blocks) == 0 {
		return nil, fail(ReasonToscaMeta, ToscaMetaPath, "empty")
	}
	m := &ToscaMeta{Keys: blocks[0].keys}
	m.EntryDefinitions = m.Keys["Entry-Definitions"]
	if m.EntryDefinitions == "" {
		return nil, fail(ReasonToscaMeta, ToscaMetaPath, "Entry-Definitions is required")
	}
	m.EntryManifest = m.Keys["ETSI-Entry-Manifest"]
	if m.EntryManifest == "" {
		m.EntryManifest = m.Keys["Entry-Manifest"]
	}
	for _, b := range blocks[1:] {
		name := b.keys["Name"]
		if name == "" {
			return nil, fail(ReasonToscaMeta, ToscaMetaPath, "line %d: a block without Name", b.line)
		}
		delete(b.keys, "Name")
		m.Files = append(m.Files, MetaFile{Name: name, Keys: b.keys})
	}
	return m, nil
}

type block struct {
	line int
	keys map[string]string
}

// parseBlocks reads "Key: value" blocks. It is shared by TOSCA.meta and the manifest.
func parseBlocks(data []byte, entry string, r Reason) ([]block, error) {
	if !utf8.Valid(data) {
		return nil, fail(r, entry, "not UTF-8")
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var blocks []block
	var cur *block
	var last string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(line) == "":
			cur, last = nil, ""
			continue
		case line[0] == ' ' || line[0] == '\t':
			if cur == nil || last == "" {
				return nil, fail(r, entry, "line %d: continuation without a key", n)
			}
			cur.keys[last] += strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fail(r, entry, "line %d: not a \"Key: value\" line", n)
		}
		if cur == nil {
			blocks = append(blocks, block{line: n, keys: map[string]string{}})
			cur = &blocks[len(blocks)-1]
		}
		if _, dup := cur.keys[k]; dup {
			return nil, fail(r, entry, "line %d: %s given twice", n, k)
		}
		cur.keys[k] = v
		last = k
	}
	if err := sc.Err(); err != nil {
		return nil, fail(r, entry, "line %d: %v", n+1, err)
	}
	return blocks, nil
}
