package apppkg

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"path"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/edgemec/edgemec/meo/internal/appd"
)

// Read reads and checks the package zip of size bytes in r. It streams every entry once to
// check it (and twice for TOSCA.meta and the manifest, which it reads first), holding only
// the AppD, the metadata and the deployment artefacts in memory, each bounded by lim (zero
// fields take their defaults). Errors about the content are *Error and match ErrInvalid.
func Read(r io.ReaderAt, size int64, lim Limits) (*Package, error) {
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	rd := &reader{lim: lim.withDefaults(), size: max(size, 1)}
	if err := rd.open(r, size); err != nil {
		return nil, err
	}
	// 1. The metadata: TOSCA.meta, the manifest, and from them the AppD's path.
	if err := rd.readMeta(); err != nil {
		return nil, err
	}
	// 2. Which files are deployment artefacts, and that every named file exists.
	if err := rd.planArtifacts(); err != nil {
		return nil, err
	}
	// 3. Stream every entry: sizes, ratios, CRCs, digests; keep what step 4 needs.
	if err := rd.streamAll(); err != nil {
		return nil, err
	}
	// 4. The AppD, then the artefacts against it.
	a, err := appd.Parse(rd.kept[rd.appdPath])
	if err != nil {
		e := &Error{Reason: ReasonAppD, Entry: rd.appdPath, Detail: "invalid AppD", Cause: err}
		var fe *appd.FieldError
		if errors.As(err, &fe) {
			e.Pointer = fe.Pointer
		}
		return nil, e
	}
	format := "yaml"
	if json.Valid(rd.kept[rd.appdPath]) {
		format = "json"
	}
	p := &Package{
		AppD: a, AppDPath: rd.appdPath, AppDRaw: rd.kept[rd.appdPath], AppDFormat: format,
		ToscaMeta: rd.meta, Manifest: rd.manifest, Entries: len(rd.zr.File), Size: rd.total,
	}
	if p.Artifacts, err = rd.buildArtifacts(a); err != nil {
		return nil, err
	}
	if err := rd.checkImage(p); err != nil {
		return nil, err
	}
	return p, nil
}

type reader struct {
	lim   Limits
	size  int64
	zr    *zip.Reader
	files map[string]*zip.File // regular files by name
	dirs  map[string]bool      // every directory, explicit or implied, with a trailing slash

	meta         *ToscaMeta
	manifest     *Manifest
	appdPath     string
	listed       []string        // artefact entries TOSCA.meta or the manifest names
	keep         map[string]bool // entries to hold after streaming
	kept         map[string][]byte
	keptTotal    int64
	total        int64 // bytes decompressed in step 3
	artifactDir  string
	artifactList []string
	buf          []byte // the read buffer, shared by every entry
}

// open reads the central directory and checks every entry's name, type and claimed size.
func (rd *reader) open(r io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are checked below
		return &Error{Reason: ReasonNotZip, Detail: "not a readable zip", Cause: err}
	}
	rd.zr = zr
	if len(zr.File) > rd.lim.MaxEntries {
		return fail(ReasonTooManyEntries, "", "%d entries, more than %d", len(zr.File), rd.lim.MaxEntries)
	}
	rd.files = make(map[string]*zip.File, len(zr.File))
	rd.dirs = map[string]bool{}
	seen := make(map[string]string, len(zr.File)) // nameKey without a trailing slash → name
	var claimed uint64
	for _, f := range zr.File {
		dir := strings.HasSuffix(f.Name, "/")
		if e := checkName(f.Name, dir); e != nil {
			return e
		}
		m := f.Mode()
		if (dir && !m.IsDir()) || (!dir && !m.IsRegular()) {
			return fail(ReasonNotRegular, f.Name, "entry of mode %s is not a regular file or directory", m.Type())
		}
		key := nameKey(strings.TrimSuffix(f.Name, "/"))
		if prev, ok := seen[key]; ok {
			switch {
			case prev == f.Name:
				return fail(ReasonDuplicate, f.Name, "entry appears twice")
			case norm.NFC.String(strings.TrimSuffix(prev, "/")) != strings.TrimSuffix(prev, "/") ||
				norm.NFC.String(strings.TrimSuffix(f.Name, "/")) != strings.TrimSuffix(f.Name, "/"):
				return fail(ReasonDuplicate, f.Name, "entry %+q and entry %+q are the same name after Unicode normalisation (NFC), case and trailing slash aside", f.Name, prev)
			}
			return fail(ReasonDuplicate, f.Name, "entry differs from %q only in case or trailing slash", prev)
		}
		seen[key] = f.Name
		if dir {
			rd.dirs[f.Name] = true
			continue
		}
		if f.UncompressedSize64 > uint64(rd.lim.MaxEntrySize) {
			return fail(ReasonTooLarge, f.Name, "header gives %d bytes, more than %d", f.UncompressedSize64, rd.lim.MaxEntrySize)
		}
		claimed += f.UncompressedSize64
		rd.files[f.Name] = f
	}
	if claimed > uint64(rd.lim.MaxTotalSize) {
		return fail(ReasonTooLarge, "", "headers give %d bytes in all, more than %d", claimed, rd.lim.MaxTotalSize)
	}
	// A file may not also be a directory ("a" and "a/b"), ignoring case like above.
	for name := range rd.files {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if prev, ok := seen[nameKey(d)]; ok && !strings.HasSuffix(prev, "/") {
				return fail(ReasonDuplicate, name, "lies under %q, which is a file", prev)
			}
			rd.dirs[d+"/"] = true
		}
	}
	return nil
}

// readMeta reads TOSCA.meta and the manifest and settles the AppD's path.
func (rd *reader) readMeta() error {
	if f := rd.files[ToscaMetaPath]; f != nil {
		b, err := rd.readSmall(f)
		if err != nil {
			return err
		}
		if rd.meta, err = ParseToscaMeta(b); err != nil {
			return err
		}
		var e *Error
		if rd.appdPath, e = cleanRef(rd.meta.EntryDefinitions, ToscaMetaPath); e != nil {
			return e
		}
		if rd.files[rd.appdPath] == nil {
			return &Error{Reason: ReasonNoAppD, Entry: rd.appdPath, Detail: "Entry-Definitions names an entry the zip lacks"}
		}
	} else {
		var cands []string
		for _, dir := range []string{".", "Definitions"} {
			for name := range rd.files {
				if path.Dir(name) == dir && isDoc(name) {
					cands = append(cands, name)
				}
			}
			if len(cands) > 0 {
				break
			}
		}
		switch len(cands) {
		case 0:
			return fail(ReasonNoAppD, "", "no %s and no *.yaml or *.json AppD at the root or under Definitions/", ToscaMetaPath)
		case 1:
			rd.appdPath = cands[0]
		default:
			slices.Sort(cands)
			return fail(ReasonNoAppD, "", "several candidate AppDs (%s); name one in %s", strings.Join(cands, ", "), ToscaMetaPath)
		}
	}

	mfPath := ""
	if rd.meta != nil && rd.meta.EntryManifest != "" {
		var e *Error
		if mfPath, e = cleanRef(rd.meta.EntryManifest, ToscaMetaPath); e != nil {
			return e
		}
		if rd.files[mfPath] == nil {
			return fail(ReasonMissingArtifact, mfPath, "the manifest TOSCA.meta names is absent")
		}
	} else {
		var mfs []string
		for name := range rd.files {
			if !strings.Contains(name, "/") && strings.EqualFold(path.Ext(name), ".mf") {
				mfs = append(mfs, name)
			}
		}
		if len(mfs) > 1 {
			slices.Sort(mfs)
			return fail(ReasonManifest, "", "several manifests at the root (%s); name one in %s", strings.Join(mfs, ", "), ToscaMetaPath)
		}
		if len(mfs) == 1 {
			mfPath = mfs[0]
		}
	}
	if mfPath != "" {
		b, err := rd.readSmall(rd.files[mfPath])
		if err != nil {
			return err
		}
		if rd.manifest, err = ParseManifest(mfPath, b); err != nil {
			return err
		}
	}
	return nil
}

func isDoc(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// readSmall reads a metadata entry with the same checks as streamAll.
func (rd *reader) readSmall(f *zip.File) ([]byte, error) {
	var total int64
	b, _, err := rd.stream(f, rd.lim.MaxMetaSize, nil, &total)
	return b, err
}

// streamAll streams every file once, keeping those rd.keep names and checking the manifest's
// digests.
func (rd *reader) streamAll() error {
	digests := map[string][]Source{}
	if rd.manifest != nil {
		for _, s := range rd.manifest.Sources {
			if s.Algorithm != "" && !s.External() {
				digests[s.Path] = append(digests[s.Path], s)
			}
		}
	}
	rd.kept = map[string][]byte{}
	for _, f := range rd.zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		var keep int64
		if rd.keep[f.Name] {
			keep = min(rd.lim.MaxArtifactSize, rd.lim.MaxArtifactsTotal-rd.keptTotal)
			if f.Name == rd.appdPath {
				keep = min(rd.lim.MaxMetaSize, appd.MaxSize)
			}
			if keep <= 0 {
				return fail(ReasonTooLarge, f.Name, "artefacts hold more than %d bytes in all", rd.lim.MaxArtifactsTotal)
			}
		}
		var algs []string
		for _, s := range digests[f.Name] {
			algs = append(algs, s.Algorithm)
		}
		b, sums, err := rd.stream(f, keep, algs, &rd.total)
		if err != nil {
			return err
		}
		for _, s := range digests[f.Name] {
			if got := hex.EncodeToString(sums[s.Algorithm]); got != s.Hash {
				return fail(ReasonChecksum, f.Name, "%s digest %s does not match the manifest's %s", s.Algorithm, got, s.Hash)
			}
		}
		if keep > 0 {
			rd.kept[f.Name] = b
			rd.keptTotal += int64(len(b))
		}
	}
	return nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

var zipMagic = [][]byte{[]byte("PK\x03\x04"), []byte("PK\x05\x06"), []byte("PK\x07\x08")}

// stream decompresses f in full, checking as the bytes come: the entry and running total
// (*total) against the limits, the ratio of bytes out to compressed bytes consumed, the size
// the headers give, and the CRC. It returns the content when keep > 0 (failing past keep
// bytes) and the digests algs ask for.
func (rd *reader) stream(f *zip.File, keep int64, algs []string, total *int64) ([]byte, map[string][]byte, error) {
	if f.Method != zip.Store && f.Method != zip.Deflate {
		return nil, nil, fail(ReasonUnsupported, f.Name, "compression method %d; only store and deflate are read", f.Method)
	}
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, nil, &Error{Reason: ReasonCorrupt, Entry: f.Name, Detail: "unreadable entry", Cause: err}
	}
	in := &countReader{r: raw}
	var src io.Reader = in
	if f.Method == zip.Deflate {
		fr := flate.NewReader(in)
		defer fr.Close()
		src = fr
	}
	crc := crc32.NewIEEE()
	hs := map[string]hash.Hash{}
	for _, a := range algs {
		if digestSize(a) == 64 {
			hs[a] = sha512.New()
		} else {
			hs[a] = sha256.New()
		}
	}
	var kept bytes.Buffer
	var head []byte
	if rd.buf == nil {
		rd.buf = make([]byte, 32<<10)
	}
	buf := rd.buf
	var n int64
	lim := rd.lim
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			b := buf[:k]
			n += int64(k)
			*total += int64(k)
			switch {
			case uint64(n) > f.UncompressedSize64:
				return nil, nil, fail(ReasonSizeMismatch, f.Name, "holds more than the %d bytes its header gives", f.UncompressedSize64)
			case n > lim.MaxEntrySize:
				return nil, nil, fail(ReasonTooLarge, f.Name, "decompresses to more than %d bytes", lim.MaxEntrySize)
			case *total > lim.MaxTotalSize:
				return nil, nil, fail(ReasonTooLarge, f.Name, "the package decompresses to more than %d bytes", lim.MaxTotalSize)
			case n > lim.RatioFloor && n > lim.MaxRatio*max(in.n, 1):
				return nil, nil, fail(ReasonRatio, f.Name, "decompresses more than %d times (%d bytes from %d)", lim.MaxRatio, n, in.n)
			case *total > lim.RatioFloor && *total > lim.MaxRatio*rd.size:
				return nil, nil, fail(ReasonRatio, f.Name, "the package decompresses more than %d times its size", lim.MaxRatio)
			}
			if len(head) < 4 {
				head = append(head, b[:min(len(b), 4-len(head))]...)
				if len(head) == 4 && slices.ContainsFunc(zipMagic, func(m []byte) bool { return bytes.Equal(m, head) }) {
					return nil, nil, fail(ReasonNestedArchive, f.Name, "entry is a zip archive; nested archives are not read")
				}
			}
			crc.Write(b)
			for _, h := range hs {
				h.Write(b)
			}
			if keep > 0 {
				if int64(kept.Len()+k) > keep {
					return nil, nil, fail(ReasonTooLarge, f.Name, "more than the %d bytes read into memory for it", keep)
				}
				kept.Write(b)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			if errors.Is(rerr, io.ErrUnexpectedEOF) && uint64(n) < f.UncompressedSize64 {
				return nil, nil, fail(ReasonSizeMismatch, f.Name, "data ends before the %d bytes its header gives", f.UncompressedSize64)
			}
			return nil, nil, &Error{Reason: ReasonCorrupt, Entry: f.Name, Detail: "bad compressed data", Cause: rerr}
		}
	}
	if uint64(n) != f.UncompressedSize64 {
		return nil, nil, fail(ReasonSizeMismatch, f.Name, "holds %d bytes, its header gives %d", n, f.UncompressedSize64)
	}
	if crc.Sum32() != f.CRC32 {
		return nil, nil, fail(ReasonCorrupt, f.Name, "CRC-32 %08x does not match the header's %08x", crc.Sum32(), f.CRC32)
	}
	sums := make(map[string][]byte, len(hs))
	for a, h := range hs {
		sums[a] = h.Sum(nil)
	}
	return kept.Bytes(), sums, nil
}
