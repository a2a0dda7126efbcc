package run

import (
	"fmt"
	"os"
)

// Main runs a command's body and exits 1 with "name: error" on stderr when it fails.
func Main(name string, body func() error) {
	if err := body(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Env returns the environment variable name, or def when it is unset or empty: the default
// of a flag that an environment variable may also set.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
