package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/strvals"
)

// shellWords splits a command line as sh does for the quoting deploy/helm/README.md uses:
// single quotes keep everything, double quotes keep everything, words split on blanks.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(line[i+1:], c)
			require.GreaterOrEqual(t, j, 0, "unbalanced quote in %q", line)
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// TestHelmREADMEInstalls renders every `helm install` command of deploy/helm/README.md as
// written (command substitutions replaced by values of their shape): each names a chart in
// the repo and its --set values pass the schema and the templates.
func TestHelmREADMEInstalls(t *testing.T) {
	b, err := os.ReadFile("../../deploy/helm/README.md")
	require.NoError(t, err)
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	rand := regexp.MustCompile(`\$\(openssl rand -hex ([0-9]+)\)`)
	text = rand.ReplaceAllStringFunc(text, func(m string) string {
		var n int
		_, _ = fmt.Sscanf(rand.FindStringSubmatch(m)[1], "%d", &n)
		return strings.Repeat("a1", n)
	})
	n := 0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "helm install ") {
			continue
		}
		n++
		words := shellWords(t, line)
		t.Run(words[2], func(t *testing.T) {
			require.GreaterOrEqual(t, len(words), 4)
			release, dir := words[2], words[3]
			ns, vals := "default", map[string]any{}
			for i := 4; i < len(words); i++ {
				switch words[i] {
				case "-n", "--namespace":
					i++
					ns = words[i]
				case "--set":
					i++
					require.NoError(t, strvals.ParseInto(words[i], vals), words[i])
				default:
					t.Fatalf("unexpected argument %q", words[i])
				}
			}
			objs, err := renderDir(t, filepath.Join("..", "..", dir), release, ns, vals)
			require.NoError(t, err, line)
			require.NotEmpty(t, workloads(objs))
		})
	}
	require.Equal(t, 3, n, "helm install commands in the README")
}
