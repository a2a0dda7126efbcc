package mecrule_test

import (
	"testing"

	"github.com/edgemec/edgemec/internal/testutil"
)

// TestDeps keeps the rule model free of every API's wire types: the edges convert
// (mp1rule for Mp1 and Mm5).
func TestDeps(t *testing.T) {
	testutil.ForbidDeps(t, ".", false, "github.com/edgemec/edgemec/mep/", "github.com/edgemec/edgemec/meo/", "github.com/edgemec/edgemec/upgw/")
}
