//go:build integration

package deploy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/stretchr/testify/require"
)

// realFlags returns the flags the real binary's help lists for a command path: the server
// binaries' -help (Go flag package), mecctl's PATH --help (cobra, global flags included).
// A mecctl path whose words name no command is an error.
func realFlags(t *testing.T) func(bin string, path []string) (map[string]bool, error) {
	return func(bin string, path []string) (map[string]bool, error) {
		flags := map[string]bool{"h": true, "help": true}
		if bin != "mecctl" {
			for f := range helpFlags(t, bin) {
				flags[f] = true
			}
			return flags, nil
		}
		out, err := exec.Command(buildBin(t, "mecctl"), append(path, "--help")...).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("--help: %w: %s", err, out)
		}
		// The command cobra resolved: the words of its usage line up to the first argument.
		m := regexp.MustCompile(`(?m)^Usage:\n  (mecctl(?: [a-z][a-z-]*)*)`).FindStringSubmatch(string(out))
		if m == nil {
			return nil, fmt.Errorf("no usage line in its help")
		}
		resolved := strings.Fields(m[1])[1:]
		if rest := path[len(resolved):]; len(rest) > 0 && strings.Contains(string(out), "\nAvailable Commands:") {
			return nil, fmt.Errorf("no command %q under %q", rest[0], m[1])
		}
		for _, f := range regexp.MustCompile(`(?m)^\s+(?:-([a-zA-Z]), )?--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
			if f[1] != "" {
				flags[f[1]] = true
			}
			flags[f[2]] = true
		}
		return flags, nil
	}
}

// TestREADMEFollowedLiterally follows the shell blocks of the top-level README.md that a
// `<!-- test: NAME -->` line marks (the quick starts and the deploying section): every make
// target, package, repository path, binary subcommand and flag they use exists (each binary
// is built and asked for its --help), and every variable they use is defined before.
func TestREADMEFollowedLiterally(t *testing.T) {
	root := testutil.RepoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	blocks, err := markedBlocks(string(b))
	require.NoError(t, err)
	if len(blocks) == 0 {
		t.Skip("README.md marks no block with <!-- test: NAME -->")
	}
	problems := checkBlocks(readmeEnv{root: root, targets: makeTargets(t, root), flags: realFlags(t)}, blocks)
	require.Empty(t, problems, "README.md cannot be followed as written")
}

// TestReadmeCheckerWithRealBinaries: the checker's mistakes fixture, against the real
// binaries' help, finds the misspelt mecctl command and flag and the meo flag that is not.
func TestReadmeCheckerWithRealBinaries(t *testing.T) {
	blocks, err := markedBlocks("<!-- test: real -->\n```sh\n" +
		"mecctl package onbaord -f go.mod\nmecctl site list --outptu json\nmeo --operator-tokn x\n" +
		"mecctl site apps edge-1 -o yaml --show-secrets\nmecctl package onboard -f go.mod --wait\n" +
		"meo --operator-token-file go.mod\nmep --postgres-dsn-file go.mod\nupgw --mep-token-file go.mod\n```\n")
	require.NoError(t, err)
	got := checkBlocks(readmeEnv{root: testutil.RepoRoot(t), flags: realFlags(t)}, blocks)
	require.Equal(t, []string{
		`real (README line 1): mecctl package onbaord: no command "onbaord" under "mecctl package"`,
		"real (README line 1): mecctl site list: no flag --outptu",
		"real (README line 1): meo: no flag --operator-tokn",
	}, got)
}
