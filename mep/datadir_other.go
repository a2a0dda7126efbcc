//go:build !unix

package mep

import "os"

// lockDataDir does nothing where flock(2) does not exist.
func lockDataDir(string) (*os.File, error) { return nil, nil }
