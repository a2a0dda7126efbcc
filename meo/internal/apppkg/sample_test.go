package apppkg_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/apppkg/apppkgtest"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// zipDir zips the files under dir, named relative to it.
func zipDir(t *testing.T, dir string) []byte {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	require.NoError(t, err)
	return apppkgtest.Zip(t, files)
}

// TestSamplePackage reads the demo's package of the sample app.
func TestSamplePackage(t *testing.T) {
	root := testutil.RepoRoot(t)
	p, err := read(t, zipDir(t, filepath.Join(root, "test", "testdata", "packages", "mecapp")), apppkg.Limits{})
	require.NoError(t, err)
	a := p.AppD
	assert.Equal(t, "mecapp", a.AppDID)
	assert.Equal(t, "Definitions/mecapp.yaml", p.AppDPath)
	require.Len(t, a.AppTrafficRule, 1)
	require.Len(t, a.AppDNSRule, 1)
	require.Len(t, a.AppServiceProduced, 1)
	assert.Equal(t, "mec-sample", a.AppServiceProduced[0].SerName)

	req := p.DeployRequest("mecapp-1")
	require.NoError(t, req.Validate())
	assert.Equal(t, "local/mecapp:dev", req.Image.Ref)
	assert.Equal(t, int32(8080), req.Artifacts.Ports[0].Port)
	assert.Contains(t, string(req.Artifacts.Manifests), "image: local/mecapp:dev")
	require.Len(t, p.Artifacts, 1)
	assert.Equal(t, []apppkg.Object{{APIVersion: "apps/v1", Kind: "Deployment", Name: "mecapp"}, {APIVersion: "v1", Kind: "Service", Name: "mecapp"}},
		p.Artifacts[0].Objects)

	inst := a.AppInstance("")
	require.NotNil(t, inst.AppTrafficRule)
	assert.Equal(t, mp1api.RuleStateACTIVE, (*inst.AppTrafficRule)[0].State)

	// The package's manifests are the sample app's own, with the image filled in.
	shipped, err := os.ReadFile(filepath.Join(root, "test", "tools", "mecapp", "deploy.yaml"))
	require.NoError(t, err)
	want := strings.ReplaceAll(withoutComments(string(shipped)), "image: IMAGE", "image: local/mecapp:dev")
	assert.Equal(t, want, withoutComments(string(p.Artifacts[0].Data)), "Artifacts/Deployment/mecapp.yaml drifted from test/tools/mecapp/deploy.yaml")
}

func withoutComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
