package testutil

import (
	"os/exec"
	"strings"
	"testing"
)

// ForbidDeps keeps layers apart, in the spirit of tailscale's tstest/deptest: it fails the
// test for every package that pkg (a go list pattern, relative to the test's directory or a
// full import path) depends on, its tests' dependencies included when withTests, whose path
// starts with one of the forbidden prefixes. Short mode skips it (it runs go list).
func ForbidDeps(t testing.TB, pkg string, withTests bool, forbidden ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	args := []string{"list", "-deps"}
	if withTests {
		args = append(args, "-test")
	}
	out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

// ForbidImports fails the test for every package pkg imports directly whose path starts with
// one of the forbidden prefixes (what pkg itself uses, not what its dependencies bring).
func ForbidImports(t testing.TB, pkg string, forbidden ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("%s imports %s", pkg, dep)
			}
		}
	}
}
