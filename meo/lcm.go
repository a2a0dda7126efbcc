package meo

import (
	"encoding/json"
	"fmt"

	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/lcm"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
)

var _ lcm.Store = (*pgstore.Store)(nil)

// PackageApp is the lcm.AppReader instantiation uses: it reads back what PackageReader kept
// of a package (the AppD and the artefacts in the VIM adapters' form), so that the package
// is never read again. It lives next to PackageReader, the other half of that format.
func PackageApp(parsed json.RawMessage) (*lcm.App, error) {
	var p apppkg.Package
	if err := json.Unmarshal(parsed, &p); err != nil {
		return nil, fmt.Errorf("decode package: %w", err)
	}
	if p.AppD == nil {
		return nil, fmt.Errorf("decode package: no AppD")
	}
	return &lcm.App{AppD: p.AppD, Artifacts: p.VIMArtifacts()}, nil
}
