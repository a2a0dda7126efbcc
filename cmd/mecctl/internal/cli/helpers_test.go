package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// env is a test's environment: only what it holds is set.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

// newEnv returns an environment with a fresh HOME and config file path.
func newEnv(t *testing.T) env {
	t.Helper()
	home := t.TempDir()
	return env{"HOME": home, "MECCTL_CONFIG": filepath.Join(home, "config.yaml")}
}

type result struct {
	out, err string
	code     int
}

// run runs mecctl in-process.
func run(t *testing.T, e env, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(t.Context(), args, Streams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, Env: e.lookup})
	return result{out: out.String(), err: errOut.String(), code: code}
}

// ok runs mecctl and fails the test unless it exits 0.
func ok(t *testing.T, e env, stdin string, args ...string) string {
	t.Helper()
	r := run(t, e, stdin, args...)
	if r.code != 0 {
		t.Fatalf("mecctl %s: exit %d; want 0\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

var (
	uuidRE  = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timeRE  = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	portRE  = regexp.MustCompile(`(127\.0\.0\.1|localhost):\d{5}`)
	tokenRE = regexp.MustCompile(`"(clientSecret|access_token)": "[^"<]+"`)
	// ageRE is an AGE cell of a few seconds.
	ageRE = regexp.MustCompile(`\b\ds\b`)
	// stampRE is a TimeStamp member in JSON or YAML.
	stampRE = regexp.MustCompile(`((?:nanoSeconds|seconds)"?: )\d+`)
)

// normalizer replaces what changes from run to run by placeholders of the same width, so
// that table alignment stays as printed: ids by the order they first appear in.
type normalizer struct{ ids map[string]string }

func (n *normalizer) normalize(s string) string {
	if n.ids == nil {
		n.ids = map[string]string{}
	}
	s = uuidRE.ReplaceAllStringFunc(s, func(id string) string {
		if p, ok := n.ids[id]; ok {
			return p
		}
		p := fmt.Sprintf("00000000-0000-0000-0000-%012d", len(n.ids)+1)
		n.ids[id] = p
		return p
	})
	s = timeRE.ReplaceAllStringFunc(s, func(ts string) string {
		if len(ts) == 20 {
			return "YYYY-MM-DDTHH:MM:SSZ"
		}
		return "<time>"
	})
	s = portRE.ReplaceAllString(s, "$1:PPPPP")
	s = ageRE.ReplaceAllString(s, "Ns")
	s = stampRE.ReplaceAllString(s, "${1}0")
	return tokenRE.ReplaceAllString(s, `"$1": "<secret>"`)
}

// golden compares got with testdata/golden/NAME.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s: output differs from the golden file (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

var allFormats = []string{FormatTable, FormatWide, FormatJSON, FormatYAML, FormatName}

// goldenFormats runs one command in every output format and compares each with its golden
// file NAME.FORMAT.golden.
func goldenFormats(t *testing.T, e env, n *normalizer, name string, args ...string) {
	t.Helper()
	for _, f := range allFormats {
		t.Run(name+"/"+f, func(t *testing.T) {
			out := ok(t, e, "", append(append([]string{}, args...), "-o", f)...)
			golden(t, name+"."+f, n.normalize(out))
		})
	}
}
