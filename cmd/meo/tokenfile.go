package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/edgemec/edgemec/meo"
)

// readTokenFiles fills cfg's tokens from files, so that they need not be on the command line
// (where ps shows them) or in the environment: operatorFile holds the operator token,
// viewerFile read-only tokens, one per line (blank lines and lines starting with # are
// skipped). Empty names read nothing. Viewer tokens from the file add to --viewer-token; an
// operator token file and --operator-token (or MEO_OPERATOR_TOKEN) exclude each other.
func readTokenFiles(cfg *meo.Config, operatorFile, viewerFile string) error {
	if operatorFile != "" {
		if cfg.OperatorToken != "" {
			return errors.New("--operator-token-file and --operator-token (or MEO_OPERATOR_TOKEN) are both set; keep one")
		}
		b, err := os.ReadFile(operatorFile)
		if err != nil {
			return fmt.Errorf("operator token file: %w", err)
		}
		if cfg.OperatorToken = strings.TrimSpace(string(b)); cfg.OperatorToken == "" {
			return fmt.Errorf("operator token file %s is empty", operatorFile)
		}
	}
	if viewerFile != "" {
		b, err := os.ReadFile(viewerFile)
		if err != nil {
			return fmt.Errorf("viewer token file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				cfg.ViewerTokens = append(cfg.ViewerTokens, line)
			}
		}
	}
	return nil
}
