package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every command answers -h, --help and `help CMD` on stdout with exit 0, and lists every
// flag with its default, and the global ones with their environment variable.
func TestHelpEveryCommand(t *testing.T) {
	var walk func(c *cobra.Command) []*cobra.Command
	walk = func(c *cobra.Command) []*cobra.Command {
		out := []*cobra.Command{c}
		for _, s := range c.Commands() {
			out = append(out, walk(s)...)
		}
		return out
	}
	root := NewRootCommand(&Options{})
	cmds := walk(root)
	require.Greater(t, len(cmds), 30)
	e := newEnv(t)
	for _, c := range cmds {
		path := strings.Fields(c.CommandPath())[1:]
		t.Run(strings.Join(append([]string{"mecctl"}, path...), " "), func(t *testing.T) {
			forms := [][]string{append(append([]string{}, path...), "-h"), append(append([]string{}, path...), "--help")}
			if len(path) > 0 && c.Name() != "help" {
				forms = append(forms, append([]string{"help"}, path...))
			}
			for _, args := range forms {
				r := run(t, e, "", args...)
				require.Equal(t, 0, r.code, "%v: %s", args, r.err)
				assert.Empty(t, r.err, "%v", args)
				assert.Contains(t, r.out, "Usage:", "%v", args)
				c.Flags().VisitAll(func(f *pflag.Flag) {
					if f.Hidden {
						return
					}
					assert.Regexp(t, `--`+f.Name+`\b[^\n]*\(default [^)]*\)`, r.out, "%v: flag --%s without its default", args, f.Name)
				})
			}
			r := run(t, e, "", append(append([]string{}, path...), "--help")...)
			if c.HasAvailableInheritedFlags() || c == root {
				for _, v := range []string{"MECCTL_MEO", "MECCTL_TOKEN", "MECCTL_OUTPUT", "MECCTL_REQUEST_TIMEOUT", "MECCTL_CONTEXT"} {
					assert.Contains(t, r.out, "[$"+v+"]")
				}
			}
		})
	}
}

func TestExitCodesAndUsage(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no command prints help", nil, 0, ""},
		{"unknown command", []string{"frobnicate"}, ExitUsage, `unknown command "frobnicate" for "mecctl"`},
		{"unknown subcommand", []string{"package", "frob"}, ExitUsage, `unknown command "frob" for "mecctl package"`},
		{"unknown flag", []string{"package", "list", "--bogus"}, ExitUsage, "unknown flag: --bogus"},
		{"missing argument", []string{"site", "apps"}, ExitUsage, "requires at least 1 arg"},
		{"too many arguments", []string{"site", "rules", "a", "b"}, ExitUsage, "accepts 1 arg(s), received 2"},
		{"bad output", []string{"version", "-o", "xml"}, ExitUsage, `output format "xml"`},
		{"bad env", []string{"version"}, ExitUsage, `MECCTL_REQUEST_TIMEOUT="soon"`},
		{"onboard needs a source", []string{"package", "onboard"}, ExitUsage, "give the package with either -f FILE or --url URL"},
		{"onboard one source", []string{"package", "onboard", "-f", "x.zip", "--url", "https://x"}, ExitUsage, "either -f FILE or --url URL"},
		{"provision needs a file", []string{"site", "provision", "s", "a"}, ExitUsage, "give the app instance with -f FILE"},
		{"url needs checksum", []string{"package", "onboard", "--url", "https://x/p.zip", "--meo", "127.0.0.1:1"}, ExitUsage, "--url needs --checksum"},
		{"no MEO", []string{"package", "list"}, ExitUsage, "no MEO endpoint: give --meo (or MECCTL_MEO)"},
		{"unknown site", []string{"site", "apps", "edge-9"}, ExitUsage, `site "edge-9" is not in the context (sites: none)`},
		{"unknown context", []string{"package", "list", "--context", "nope"}, ExitUsage, `context "nope" is not in`},
		{"unreachable", []string{"package", "list", "--meo", "127.0.0.1:1"}, ExitUnreachable, "connection refused"},
		{"bad URL", []string{"package", "list", "--meo", "ftp://x"}, ExitUsage, `scheme "ftp"`},
		{"missing input file", []string{"site", "provision", "s", "a", "-f", "nope.yaml", "--mep", "127.0.0.1:1"}, ExitUsage, "nope.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := env{}
			for k, v := range e {
				te[k] = v
			}
			if tc.name == "bad env" {
				te["MECCTL_REQUEST_TIMEOUT"] = "soon"
			}
			r := run(t, te, "", tc.args...)
			assert.Equal(t, tc.code, r.code, "stderr: %s", r.err)
			if tc.err != "" {
				assert.Contains(t, r.err, tc.err)
				assert.True(t, strings.HasPrefix(r.err, "Error: "), r.err)
			} else {
				assert.Contains(t, r.out, "Usage:")
			}
			if tc.code == ExitUsage && !strings.Contains(tc.name, "input") {
				assert.Contains(t, r.err, "--help' for usage.")
			}
		})
	}
}

// Global flags work before the command, between its words and after its arguments.
func TestGlobalFlagsAnywhere(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"-o", "name", "version"},
		{"version", "-o", "name"},
		{"--output=name", "version"},
		{"--request-timeout", "5s", "-o", "name", "version"},
	} {
		r := run(t, e, "", args...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.err)
		assert.Regexp(t, `^version/\S+\n$`, r.out, "%v", args)
	}
	// Between the words of a command, and after its arguments.
	for _, args := range [][]string{
		{"site", "--mep", "127.0.0.1:1", "apps", "x"},
		{"site", "apps", "x", "--mep", "127.0.0.1:1"},
		{"--mep=127.0.0.1:1", "site", "apps", "x"},
	} {
		r := run(t, e, "", args...)
		assert.Equal(t, ExitUnreachable, r.code, "%v: %s", args, r.err)
	}
}

func TestVersion(t *testing.T) {
	e := newEnv(t)
	out := ok(t, e, "", "version", "-o", "json")
	assert.Contains(t, out, `"goVersion": "go`)
	assert.Contains(t, out, `"platform": "`)
	out = ok(t, e, "", "version")
	assert.Regexp(t, `^VERSION\s+COMMIT\s+GO\s+PLATFORM\n`, out)
}

func TestCompletion(t *testing.T) {
	e := newEnv(t)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out := ok(t, e, "", "completion", sh)
		assert.Contains(t, out, "mecctl", sh)
	}
	// Site names complete from the context.
	ok(t, e, "", "config", "set-context", "lab", "--site", "edge-1=127.0.0.1:1", "--site", "edge-2=127.0.0.1:2")
	out := ok(t, e, "", "__complete", "site", "apps", "")
	assert.Contains(t, out, "edge-1\nedge-2\n")
}

func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "meo.example.com:8443", want: "https://meo.example.com:8443"},
		{in: "meo.example.com", want: "https://meo.example.com"},
		{in: "127.0.0.1:8090", want: "http://127.0.0.1:8090"},
		{in: "localhost:8090/", want: "http://localhost:8090"},
		{in: "[::1]:8080", want: "http://[::1]:8080"},
		{in: "10.0.0.5:8080", want: "https://10.0.0.5:8080"},
		{in: "https://127.0.0.1:8443", want: "https://127.0.0.1:8443"},
		{in: "http://mep.site-1:8080/base/", want: "http://mep.site-1:8080/base"},
		{in: "ftp://x", err: `scheme "ftp"`},
		{in: "http://", err: "no host"},
		{in: "http://x/?a=b", err: "no query"},
		{in: " ", err: "empty URL"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeURL(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestContexts(t *testing.T) {
	e := newEnv(t)
	tok := "testdata/meo.token" // relative: the same width on every run, for the golden tables
	ok(t, e, "", "config", "set-context", "lab", "--meo", "meo.lab:8443", "--token-file", tok,
		"--site", "edge-1=mep1.lab:8080", "--site-upgw", "edge-1=127.0.0.1:8090", "--site-token-file", "edge-1="+tok)
	ok(t, e, "", "config", "set-context", "prod", "--meo", "https://meo.prod", "--token", "inline-secret-token",
		"--site", "edge-a=mep-a.prod", "--insecure-skip-verify")
	n := &normalizer{}
	// Paths of temp files differ per run.
	e2 := e
	t.Run("golden", func(t *testing.T) {
		for _, f := range allFormats {
			out := ok(t, e2, "", "config", "get-contexts", "-o", f)
			golden(t, "config-get-contexts."+f, n.normalize(out))
		}
	})
	assert.Equal(t, "context/prod\n", ok(t, e, "", "config", "use-context", "prod", "-o", "name"))
	assert.Contains(t, ok(t, e, "", "config", "current-context", "-o", "name"), "context/prod")
	assert.NotContains(t, ok(t, e, "", "config", "get-contexts", "prod", "-o", "yaml"), "inline-secret-token")
	assert.Contains(t, ok(t, e, "", "config", "get-contexts", "prod", "-o", "yaml", "--show-secrets"), "inline-secret-token")

	b, err := os.ReadFile(e["MECCTL_CONFIG"])
	require.NoError(t, err)
	st, err := os.Stat(e["MECCTL_CONFIG"])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.Contains(t, string(b), "current-context: prod")
	assert.Contains(t, string(b), "mep: https://mep1.lab:8080")
	assert.Contains(t, string(b), "upgw: http://127.0.0.1:8090")

	// Resolution: context, then environment, then flags.
	o := &Options{streams: Streams{Env: e.lookup}, ConfigPath: e["MECCTL_CONFIG"], set: map[string]bool{}}
	tg, err := o.meo()
	require.NoError(t, err)
	assert.Equal(t, "https://meo.prod", tg.URL)
	assert.Equal(t, "inline-secret-token", tg.token)
	assert.True(t, tg.http.Transport.(interface{ CloseIdleConnections() }) != nil)
	o.Context = "lab"
	tg, err = o.meo()
	require.NoError(t, err)
	assert.Equal(t, "https://meo.lab:8443", tg.URL)
	assert.Equal(t, "meo-token", tg.token, "from the token file")
	tg, err = o.site("edge-1", true)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:8090", tg.URL)
	o.MEO, o.Token, o.set = "other:1", "flag-token", map[string]bool{"meo": true, "token": true}
	tg, err = o.meo()
	require.NoError(t, err)
	assert.Equal(t, "https://other:1", tg.URL)
	assert.Equal(t, "flag-token", tg.token)

	// Changing one value keeps the others; removing a site; deleting a context.
	ok(t, e, "", "config", "set-context", "lab", "--remove-site", "edge-1")
	out := ok(t, e, "", "config", "get-contexts", "lab", "-o", "json")
	assert.Contains(t, out, `"meo": "https://meo.lab:8443"`)
	assert.NotContains(t, out, "edge-1")
	ok(t, e, "", "config", "delete-context", "lab")
	r := run(t, e, "", "config", "use-context", "lab")
	assert.Equal(t, ExitUsage, r.code)

	// A config file with a typo is an error naming the field and its line.
	require.NoError(t, os.WriteFile(e["MECCTL_CONFIG"], []byte("current-context: x\ncontexts:\n  - name: x\n    meo: h\n    tokenfile: /t\n"), 0o600))
	r = run(t, e, "", "config", "get-contexts")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.err, `config.yaml:5:5: contexts[0].tokenfile: unknown field (did you mean "token-file"?)`)
}
