package run

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
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

// exit ends the process when an environment variable does not parse; tests replace it.
var exit = func(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(2)
}

// EnvDuration is Env for a duration flag ("30s", "1m"). A value that does not parse ends the
// process with exit status 2 and a message naming the variable, as the flag package does
// for a bad value on the command line.
func EnvDuration(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		exit(fmt.Sprintf("invalid value %q for %s: want a duration such as 30s", v, name))
		return def
	}
	return d
}

// EnvBool is Env for a boolean flag (1, t, true, 0, f, false, as strconv.ParseBool). A value
// that does not parse ends the process like EnvDuration.
func EnvBool(name string, def bool) bool {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		exit(fmt.Sprintf("invalid value %q for %s: want true or false", v, name))
		return def
	}
	return b
}

// Prefixes parses a flag's comma-separated list of address prefixes (empty: none); errors
// name the flag.
func Prefixes(flagName, v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flagName, err)
		}
		out = append(out, pfx)
	}
	return out, nil
}

// EnvInt64 is Env for an integer flag. A value that does not parse ends the process like
// EnvDuration.
func EnvInt64(name string, def int64) int64 {
	return envInt(name, def)
}

// EnvInt is EnvInt64 for int flags.
func EnvInt(name string, def int) int {
	return int(envInt(name, int64(def)))
}

func envInt(name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		exit(fmt.Sprintf("invalid value %q for %s: want an integer", v, name))
		return def
	}
	return n
}

// SecretFile returns the secret of a flag pair such as --mep-token and --mep-token-file:
// value when file is empty, else the content of file without surrounding blanks (a file
// keeps the secret out of the command line, where ps shows it, and out of the environment).
// Both set, an unreadable file or an empty one are errors naming the flags.
func SecretFile(flagName, value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", fmt.Errorf("--%s-file and --%s are both set (flags or environment); keep one", flagName, flagName)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--%s-file: %w", flagName, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("--%s-file: %s is empty", flagName, file)
	}
	return s, nil
}
