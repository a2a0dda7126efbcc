package pgstore

import (
	"context"
	"fmt"

	"github.com/edgemec/edgemec/meo/internal/store"
)

// SteeringOfSite returns the steering records of the instances on a site, by instance id.
func (s *Store) SteeringOfSite(ctx context.Context, siteID string) ([]*store.Steering, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+steeringCols+" FROM af_subscriptions WHERE site_id = $1 ORDER BY app_instance_id", siteID)
	if err != nil {
		return nil, fmt.Errorf("steering of site %s: %w", siteID, err)
	}
	defer rows.Close()
	var out []*store.Steering
	for rows.Next() {
		st, err := scanSteering(rows)
		if err != nil {
			return nil, fmt.Errorf("steering of site %s: %w", siteID, err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("steering of site %s: %w", siteID, err)
	}
	return out, nil
}
