package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo"
)

func TestReadTokenFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	op := file("operator-token", "op-token-123\n")
	viewers := file("viewer-tokens", "# read-only\nview-token-1\n\n  view-token-2  \n")
	empty := file("empty", " \n")
	for _, tc := range []struct {
		name                   string
		flagToken              string
		flagViewers            []string
		operatorFile, viewFile string
		wantOperator           string
		wantViewers            []string
		wantErr                string
	}{
		{name: "no files keep the flags", flagToken: "flag-token-1", flagViewers: []string{"v-flag-1"},
			wantOperator: "flag-token-1", wantViewers: []string{"v-flag-1"}},
		{name: "operator file trimmed", operatorFile: op, wantOperator: "op-token-123"},
		{name: "viewer file adds to the flag, skipping blanks and comments", flagViewers: []string{"v-flag-1"}, viewFile: viewers,
			wantViewers: []string{"v-flag-1", "view-token-1", "view-token-2"}},
		{name: "empty viewer file adds nothing", viewFile: empty},
		{name: "operator file and flag exclude each other", flagToken: "flag-token-1", operatorFile: op,
			wantErr: "--operator-token-file and --operator-token"},
		{name: "empty operator file", operatorFile: empty, wantErr: "is empty"},
		{name: "missing operator file", operatorFile: filepath.Join(dir, "nope"), wantErr: "operator token file: open"},
		{name: "missing viewer file", viewFile: filepath.Join(dir, "nope"), wantErr: "viewer token file: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := meo.Config{OperatorToken: tc.flagToken, ViewerTokens: tc.flagViewers}
			err := readTokenFiles(&cfg, tc.operatorFile, tc.viewFile)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantOperator, cfg.OperatorToken)
			require.Equal(t, tc.wantViewers, cfg.ViewerTokens)
		})
	}
}
