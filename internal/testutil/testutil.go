// Package testutil holds helpers shared by the project's tests: infrastructure gates that
// skip on a laptop but fail under CI, and small assertions.
package testutil

import (
	"os"
	"testing"
)

// InCI reports whether the tests run under CI (CI set to a non-empty value other than
// "false"). Under CI a missing piece of infrastructure is a failure, never a skip.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// SkipOrFail skips the test with reason outside CI and fails it under CI.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("required infrastructure missing under CI: %s", reason)
	}
	t.Skip(reason)
}

// RequireRoot skips (or fails under CI) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "test needs root")
	}
}

// RequireEnv returns the value of the environment variable, skipping (or failing under CI)
// when it is unset.
func RequireEnv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		SkipOrFail(t, name+" is not set")
	}
	return v
}
