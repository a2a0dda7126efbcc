package inventory

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/edgemec/edgemec/meo/internal/orchestrate"
)

// DrainStore is what the drains of sites need of the store (pgstore.Store): the draining
// flag is the site's; the progress, written by the orchestrator, is kept beside it.
type DrainStore interface {
	DrainingSites(ctx context.Context) ([]string, error)
	SiteDrain(ctx context.Context, siteID string) (json.RawMessage, error)
	SiteDrains(ctx context.Context, ids ...string) (map[string]json.RawMessage, error)
	SaveSiteDrain(ctx context.Context, siteID string, status json.RawMessage) error
	ClearSiteDrain(ctx context.Context, siteID string) error
}

// DrainingSites implements orchestrate.Drains.
func (s *Service) DrainingSites(ctx context.Context) ([]string, error) {
	return s.st.DrainingSites(ctx)
}

// DrainStatus implements orchestrate.Drains.
func (s *Service) DrainStatus(ctx context.Context, siteID string) (*orchestrate.DrainStatus, error) {
	b, err := s.st.SiteDrain(ctx, siteID)
	if err != nil || len(b) == 0 {
		return nil, err
	}
	var st orchestrate.DrainStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("site %s: decode drain: %w", siteID, err)
	}
	return &st, nil
}

// SaveDrainStatus implements orchestrate.Drains.
func (s *Service) SaveDrainStatus(ctx context.Context, siteID string, st orchestrate.DrainStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.st.SaveSiteDrain(ctx, siteID, b)
}

// drains fills in the drain progress of the draining sites among views.
func (s *Service) drains(ctx context.Context, views []View) error {
	var ids []string
	for _, v := range views {
		if v.State.Draining {
			ids = append(ids, v.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	m, err := s.st.SiteDrains(ctx, ids...)
	if err != nil {
		return err
	}
	for i := range views {
		if b, ok := m[views[i].ID]; ok {
			views[i].State.Drain = b
		}
	}
	return nil
}
