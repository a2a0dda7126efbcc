package deploy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// mainFlags is what a command's main.go declares: each flag with the environment variable
// that sets it ("" when none), and every variable it reads.
type mainFlags struct {
	flags map[string]string
	envs  map[string]bool
}

// envFuncs are the functions a flag's default reads an environment variable with.
var envFuncs = map[string]bool{"env": true, "Env": true, "EnvDuration": true, "EnvBool": true, "EnvInt64": true, "EnvInt": true}

// readMain parses cmd/<cmd>/main.go. A flag defined with flag.XxxVar takes its variable from
// its default value (env("NAME", ...)); a flag.Var (repeatable) names it in its usage as
// "env NAME", and main.go must read NAME.
func readMain(t *testing.T, cmd string) mainFlags {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "cmd", cmd, "main.go"))
	require.NoError(t, err)
	return readMainSource(t, cmd, string(b))
}

// readMainSource is readMain for the source of a main.go.
func readMainSource(t *testing.T, cmd, src string) mainFlags {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), cmd+"/main.go", src, 0)
	require.NoError(t, err)
	mf := mainFlags{flags: map[string]string{}, envs: map[string]bool{}}
	envOf := func(e ast.Expr) string {
		c, ok := e.(*ast.CallExpr)
		if !ok || len(c.Args) == 0 {
			return ""
		}
		name := ""
		switch fn := c.Fun.(type) {
		case *ast.Ident:
			name = fn.Name
		case *ast.SelectorExpr:
			name = fn.Sel.Name
		}
		lit, ok := c.Args[0].(*ast.BasicLit)
		if !envFuncs[name] || !ok || lit.Kind != token.STRING {
			return ""
		}
		v, _ := strconv.Unquote(lit.Value)
		return v
	}
	usageEnv := regexp.MustCompile(`env ([A-Z][A-Z0-9_]+)`)
	var defs []*ast.CallExpr
	ast.Inspect(f, func(n ast.Node) bool {
		c, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if v := envOf(c); v != "" {
			mf.envs[v] = true
		}
		if sel, ok := c.Fun.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "flag" && strings.HasSuffix(sel.Sel.Name, "Var") && len(c.Args) >= 3 {
				defs = append(defs, c)
			}
		}
		return true
	})
	for _, c := range defs {
		lit, ok := c.Args[1].(*ast.BasicLit)
		require.True(t, ok, "%s: a flag name that is not a literal", cmd)
		name, _ := strconv.Unquote(lit.Value)
		env := ""
		if c.Fun.(*ast.SelectorExpr).Sel.Name == "Var" {
			if u, ok := c.Args[2].(*ast.BasicLit); ok {
				if m := usageEnv.FindStringSubmatch(u.Value); len(m) > 1 && mf.envs[m[1]] {
					env = m[1]
				}
			}
		} else {
			env = envOf(c.Args[2])
		}
		mf.flags[name] = env
	}
	require.NotEmpty(t, mf.flags, "%s declares no flags", cmd)
	return mf
}

// secretFlag matches the flags that carry a secret itself (a token, a key, a password, a
// URL that may hold one), not a file of one.
var secretFlag = regexp.MustCompile(`(token|secret|password|dsn|database-url)s?$`)

// TestEveryFlagHasEnvAndSecretsHaveFiles: every flag of every server binary can be set by an
// environment variable (so the systemd units and the charts need no command line), and every
// flag that carries a secret has a -file variant (a command line shows in ps, and an
// environment in /proc and the pod spec). TestHelpShowsDeclaredFlags checks that these are
// the flags the binaries really have.
func TestEveryFlagHasEnvAndSecretsHaveFiles(t *testing.T) {
	for _, cmd := range []string{"meo", "mep", "upgw"} {
		t.Run(cmd, func(t *testing.T) {
			mf := readMain(t, cmd)
			for name, env := range mf.flags {
				if env == "" {
					t.Errorf("-%s has no environment variable", name)
				}
				if secretFlag.MatchString(name) {
					if _, ok := mf.flags[name+"-file"]; !ok {
						t.Errorf("-%s carries a secret but has no -%s-file", name, name)
					}
				}
			}
		})
	}
	t.Run("the secret pattern", func(t *testing.T) {
		for name, want := range map[string]bool{"operator-token": true, "viewer-token": true, "postgres-dsn": true, "database-url": true,
			"mep-token": true, "operator-token-file": false, "secret-key-file": false, "tls-key": false, "api-root": false} {
			require.Equal(t, want, secretFlag.MatchString(name), name)
		}
	})
	t.Run("a flag without a variable is caught", func(t *testing.T) {
		mf := readMainSource(t, "x", `package main
import "flag"
func main() {
	var a, b string
	flag.StringVar(&a, "with-env", env("X_WITH_ENV", ""), "")
	flag.StringVar(&b, "without", "", "")
	flag.Var(&l, "list", "repeatable (env X_LIST)")
	_ = env("X_LIST", "")
	flag.Var(&l, "list-unread", "repeatable (env X_UNREAD)")
}`)
		require.Equal(t, map[string]string{"with-env": "X_WITH_ENV", "without": "", "list": "X_LIST", "list-unread": ""}, mf.flags)
	})
}
