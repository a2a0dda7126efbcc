package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readmeMarker marks the shell block that follows it as one the README test follows
// literally: `<!-- test: NAME -->` on the line before the ```sh fence. NAME names the
// block in the test output.
var readmeMarker = regexp.MustCompile(`^<!-- test: ([A-Za-z0-9 ._-]+) -->$`)

// shellBlock is a marked block of a README.
type shellBlock struct {
	name string
	line int // of the marker
	// cmds are the block's commands: continuation lines joined, comments dropped, split at
	// &&, ||, ; and |.
	cmds []string
}

// markedBlocks returns the marked shell blocks of a Markdown text.
func markedBlocks(text string) ([]shellBlock, error) {
	lines := strings.Split(text, "\n")
	var out []shellBlock
	for i := 0; i < len(lines); i++ {
		m := readmeMarker.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		if i+1 >= len(lines) || !regexp.MustCompile("^```(sh|bash|shell)$").MatchString(strings.TrimSpace(lines[i+1])) {
			return nil, fmt.Errorf("line %d: marker %q is not followed by a ```sh block", i+1, m[1])
		}
		b := shellBlock{name: m[1], line: i + 1}
		var body []string
		j := i + 2
		for ; j < len(lines) && strings.TrimSpace(lines[j]) != "```"; j++ {
			body = append(body, lines[j])
		}
		if j == len(lines) {
			return nil, fmt.Errorf("line %d: block %q never ends", i+1, m[1])
		}
		joined := strings.ReplaceAll(strings.Join(body, "\n"), "\\\n", " ")
		for _, l := range strings.Split(joined, "\n") {
			if c := stripComment(l); c != "" {
				for _, part := range regexp.MustCompile(`&&|\|\||;|\|`).Split(c, -1) {
					if part = strings.TrimSpace(part); part != "" {
						b.cmds = append(b.cmds, strings.Trim(part, "() "))
					}
				}
			}
		}
		out = append(out, b)
		i = j
	}
	return out, nil
}

// stripComment drops a shell comment: a # at the start of a word, outside quotes.
func stripComment(l string) string {
	var q byte
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '\'' || c == '"':
			q = c
		case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return strings.TrimSpace(l[:i])
		}
	}
	return strings.TrimSpace(l)
}

// readmeEnv is what checking a README's blocks needs from the world: the repository root,
// the Makefile's targets, and the flags a binary's --help lists for a command path.
type readmeEnv struct {
	root string
	// created are the files earlier commands made (redirections, go build -o, zip), by
	// base name: they need not be in the repository.
	created map[string]bool
	targets map[string]bool
	// flags returns the flags (without dashes) that the help of bin with args lists, or
	// an error when that is no command.
	flags func(bin string, args []string) (map[string]bool, error)
}

// binaries are the project's commands a README runs, by the names it runs them as.
var binaries = map[string]string{}

func init() {
	for _, b := range []string{"meo", "mep", "upgw", "mecctl"} {
		for _, n := range []string{b, "./" + b, "bin/" + b, "./bin/" + b} {
			binaries[n] = b
		}
	}
}

// wellKnownVars are variables a reader's shell has without the README defining them.
var wellKnownVars = map[string]bool{"HOME": true, "PATH": true, "USER": true, "PWD": true, "XDG_CONFIG_HOME": true}

// checkBlocks follows the blocks as a reader would and returns every problem: a make target
// the Makefile lacks, a repository path that does not exist, a `go build` of a package that
// does not exist, a flag or subcommand a binary does not have, a variable used before the
// blocks define it.
func checkBlocks(env readmeEnv, blocks []shellBlock) []string {
	var problems []string
	env.created = map[string]bool{}
	defined := map[string]bool{}
	varUse := regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
	assign := regexp.MustCompile(`^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=`)
	for _, b := range blocks {
		bad := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("%s (README line %d): ", b.name, b.line)+fmt.Sprintf(format, args...))
		}
		for _, c := range b.cmds {
			for _, m := range varUse.FindAllStringSubmatch(c, -1) {
				if !defined[m[1]] && !wellKnownVars[m[1]] {
					bad("$%s is used but not defined before", m[1])
				}
			}
			if m := assign.FindStringSubmatch(c); m != nil {
				defined[m[1]] = true
				continue
			}
			words := strings.Fields(c)
			// Redirections: the target of < must exist; the target of > is created.
			var args []string
			for i := 0; i < len(words); i++ {
				w := words[i]
				switch {
				case w == "<" && i+1 < len(words):
					i++
					checkPath(env, words[i], bad)
				case strings.HasPrefix(w, "<") && len(w) > 1:
					checkPath(env, w[1:], bad)
				case (w == ">" || w == ">>") && i+1 < len(words):
					i++
					env.created[filepath.Base(words[i])] = true
				case w == "2>":
					i++
				case strings.HasPrefix(w, ">"):
					env.created[filepath.Base(strings.TrimLeft(w, ">"))] = true
				case strings.HasPrefix(w, "2>"):
				default:
					args = append(args, strings.Trim(w, `"'`))
				}
			}
			if len(args) == 0 {
				continue
			}
			switch cmd := args[0]; {
			case cmd == "make":
				for _, t := range args[1:] {
					if !strings.HasPrefix(t, "-") && !strings.Contains(t, "=") && !env.targets[t] {
						bad("make target %q does not exist", t)
					}
				}
			case cmd == "zip":
				for _, a := range args[1:] {
					if !strings.HasPrefix(a, "-") {
						env.created[filepath.Base(a)] = true
						break
					}
				}
			case cmd == "go" && len(args) > 1 && (args[1] == "build" || args[1] == "run" || args[1] == "install"):
				for i, a := range args[2:] {
					if a == "-o" && i+3 < len(args) {
						env.created[filepath.Base(args[i+3])] = true
					}
					if strings.HasPrefix(a, "./") {
						if _, err := os.Stat(filepath.Join(env.root, strings.TrimSuffix(a, "/..."))); err != nil {
							bad("go %s %s: no such package", args[1], a)
						}
					}
				}
			case binaries[cmd] != "":
				checkBinary(env, binaries[cmd], args[1:], bad)
			default:
				for _, a := range args[1:] {
					if looksLikeRepoPath(a) {
						checkPath(env, a, bad)
					}
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// looksLikeRepoPath reports whether a word names a file or directory of the repository:
// relative, with a slash, not a URL, a variable or an option.
func looksLikeRepoPath(w string) bool {
	if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "/") || strings.Contains(w, "://") || strings.ContainsAny(w, "$=:{}*") {
		return false
	}
	return strings.Contains(w, "/")
}

func checkPath(env readmeEnv, p string, bad func(string, ...any)) {
	p = strings.Trim(p, `"'`)
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "$") || p == "-" || env.created[filepath.Base(p)] {
		return
	}
	if _, err := os.Stat(filepath.Join(env.root, p)); err != nil {
		bad("%s does not exist in the repository", p)
	}
}

// fileFlags are the flags whose value is an input file that must exist.
var fileFlags = map[string]bool{"f": true, "filename": true}

// checkBinary checks one run of a project binary: its subcommand path (mecctl) exists and
// every flag it is given is one the help of that command lists; input files exist.
func checkBinary(env readmeEnv, bin string, args []string, bad func(string, ...any)) {
	var path []string
	if bin == "mecctl" {
		for _, a := range args {
			if strings.HasPrefix(a, "-") {
				break
			}
			path = append(path, a)
		}
	}
	what := strings.Join(append([]string{bin}, path...), " ")
	flags, err := env.flags(bin, path)
	if err != nil {
		bad("%s: %v", what, err)
		return
	}
	for i, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !flags[name] {
			bad("%s: no flag --%s", what, name)
			continue
		}
		if fileFlags[name] && !hasValue && i+1 < len(args) {
			checkPath(env, args[i+1], bad)
		}
	}
}

// makeTargets returns the targets of the repository's Makefile.
func makeTargets(t *testing.T, root string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-zA-Z0-9_.-]+):`).FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	return out
}

// TestReadmeBlockChecker runs the checker on testdata/readme.md, whose blocks follow the
// rules but one per kind of mistake, with fixed flag sets in place of the binaries' help.
func TestReadmeBlockChecker(t *testing.T) {
	b, err := os.ReadFile("testdata/readme.md")
	require.NoError(t, err)
	blocks, err := markedBlocks(string(b))
	require.NoError(t, err)
	var names []string
	for _, bl := range blocks {
		names = append(names, bl.name)
	}
	require.Equal(t, []string{"first lines", "server", "cli", "mistakes"}, names, "the unmarked block is not followed")
	env := readmeEnv{root: "../..", targets: map[string]bool{"demo": true, "test": true},
		flags: func(bin string, args []string) (map[string]bool, error) {
			switch {
			case bin == "meo":
				return map[string]bool{"http-addr": true, "database-url": true, "operator-token-file": true}, nil
			case bin == "mecctl" && strings.Join(args, " ") == "package onboard":
				return map[string]bool{"f": true, "wait": true, "o": true}, nil
			case bin == "mecctl" && strings.Join(args, " ") == "site list":
				return map[string]bool{"o": true}, nil
			}
			return nil, fmt.Errorf("unknown command")
		}}
	got := checkBlocks(env, blocks)
	want := []string{
		"mistakes (README line 30): $UNSET is used but not defined before",
		"mistakes (README line 30): deploy/helm/edgemec-nothing does not exist in the repository",
		"mistakes (README line 30): go build ./cmd/nothing: no such package",
		"mistakes (README line 30): make target \"dmeo\" does not exist",
		"mistakes (README line 30): mecctl package onbaord: unknown command",
		"mistakes (README line 30): mecctl site list: no flag --outptu",
		"mistakes (README line 30): meo: no flag --operator-token",
		"mistakes (README line 30): missing.zip does not exist in the repository",
		"mistakes (README line 30): not-made.token does not exist in the repository",
	}
	require.Equal(t, want, got)

	_, err = markedBlocks("<!-- test: x -->\ntext\n")
	require.ErrorContains(t, err, "not followed by a ```sh block")
}
