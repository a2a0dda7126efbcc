package meo

import (
	"context"

	"github.com/edgemec/edgemec/meo/internal/inventory"
	"github.com/edgemec/edgemec/meo/internal/lcm"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
)

// drains is what the executor's drain rounds use: the inventory's draining sites and drain
// progress, the LCM's instances on a site and their relocations.
type drains struct {
	*inventory.Service
	lc *lcm.Service
}

var _ orchestrate.Drains = drains{}

func (d drains) Residents(ctx context.Context, siteID string) ([]orchestrate.Resident, error) {
	return d.lc.Residents(ctx, siteID)
}

func (d drains) Relocate(ctx context.Context, appInstanceID, from string) (string, error) {
	return d.lc.Relocate(ctx, appInstanceID, from)
}
