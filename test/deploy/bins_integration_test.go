//go:build integration

package deploy_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
)

// binDir holds the binaries the tests build, once per test binary; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "dply-bin"); err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(binDir)
		return pgtest.Run(m)
	}()
	os.Exit(code)
}

// syncBuffer collects what a process prints, safe to read while it writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// buildBin builds cmd/<cmd> once per test binary and returns its path.
func buildBin(t *testing.T, cmd string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[cmd]; ok {
		return p
	}
	bin := filepath.Join(binDir, cmd)
	testutil.GoBuild(t, "./cmd/"+cmd, bin)
	built[cmd] = bin
	return bin
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// helpFlags runs a server binary with -help and returns the flags it lists.
func helpFlags(t *testing.T, cmd string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(buildBin(t, cmd), "-help").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	require.NotEmpty(t, flags, "%s -help:\n%s", cmd, out)
	return flags
}

// TestHelpShowsDeclaredFlags: the flags TestEveryFlagHasEnvAndSecretsHaveFiles reads from
// the sources are exactly those the built binaries list in -help.
func TestHelpShowsDeclaredFlags(t *testing.T) {
	for _, cmd := range []string{"meo", "mep", "upgw"} {
		t.Run(cmd, func(t *testing.T) {
			help := helpFlags(t, cmd)
			declared := map[string]bool{}
			for name := range readMain(t, cmd).flags {
				declared[name] = true
			}
			require.Equal(t, declared, help)
		})
	}
}
