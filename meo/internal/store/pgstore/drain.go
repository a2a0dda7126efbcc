package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/edgemec/edgemec/meo/internal/store"
)

// What draining a site reads and keeps (meo/internal/orchestrate/drain.go): the instances on
// the site with their operations, and the drain's progress (site_drains, migration 0008).

// activeStates are the op occurrence states that hold their instance.
const activeStates = `('STARTING', 'PROCESSING', 'FAILED_TEMP')`

// LastInstantiate returns the instance's latest COMPLETED INSTANTIATE op occurrence
// (store.ErrNotFound if none).
func (s *Store) LastInstantiate(ctx context.Context, instanceID string) (*store.OpOcc, error) {
	op, _, err := scanOp(s.pool.QueryRow(ctx, "SELECT "+opCols+` FROM app_lcm_op_occs
		WHERE app_instance_id = $1 AND operation = 'INSTANTIATE' AND state = 'COMPLETED' ORDER BY pos DESC LIMIT 1`, instanceID))
	if err != nil {
		return nil, fmt.Errorf("last instantiate of %s: %w", instanceID, err)
	}
	return op, nil
}

// SiteResidents returns the instances placed on the site in creation order, with their op
// occurrence in progress, the placement request of their latest completed INSTANTIATE, and
// their latest relocation away from the site that ended FAILED.
func (s *Store) SiteResidents(ctx context.Context, siteID string) ([]store.Resident, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+instCols+" FROM app_instances WHERE site_id = $1 ORDER BY pos", siteID)
	if err != nil {
		return nil, fmt.Errorf("residents of site %s: %w", siteID, err)
	}
	var out []store.Resident
	idx := map[string]int{}
	for rows.Next() {
		in, _, err := scanInstance(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("residents of site %s: %w", siteID, err)
		}
		idx[in.ID] = len(out)
		out = append(out, store.Resident{Instance: in})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("residents of site %s: %w", siteID, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	onSite := `app_instance_id IN (SELECT id FROM app_instances WHERE site_id = $1)`
	ops := func(where string, set func(r *store.Resident, op *store.OpOcc)) error {
		rows, err := s.pool.Query(ctx, "SELECT "+opCols+" FROM app_lcm_op_occs WHERE "+where, siteID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			op, _, err := scanOp(rows)
			if err != nil {
				return err
			}
			if i, ok := idx[op.AppInstanceID]; ok {
				set(&out[i], op)
			}
		}
		return rows.Err()
	}
	err = ops(onSite+" AND state IN "+activeStates, func(r *store.Resident, op *store.OpOcc) { r.Active = op })
	if err == nil {
		err = ops(`id IN (SELECT DISTINCT ON (app_instance_id) id FROM app_lcm_op_occs
			WHERE `+onSite+` AND operation = 'INSTANTIATE' AND state = 'COMPLETED' ORDER BY app_instance_id, pos DESC)`,
			func(r *store.Resident, op *store.OpOcc) { r.Placement = op.PlacementRequest })
	}
	if err == nil {
		err = ops(`id IN (SELECT DISTINCT ON (app_instance_id) id FROM app_lcm_op_occs
			WHERE `+onSite+` AND operation = 'INSTANTIATE' AND state = 'FAILED' AND request->'relocation'->>'fromSiteId' = $1
			ORDER BY app_instance_id, pos DESC)`,
			func(r *store.Resident, op *store.OpOcc) { r.LastFailed = op })
	}
	if err != nil {
		return nil, fmt.Errorf("residents of site %s: %w", siteID, err)
	}
	return out, nil
}

// DrainingSites returns the ids of the sites being drained, in creation order.
func (s *Store) DrainingSites(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM sites WHERE draining ORDER BY pos`)
	if err != nil {
		return nil, fmt.Errorf("draining sites: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("draining sites: %w", err)
	}
	return ids, nil
}

// SiteDrain returns the drain progress saved for the site (nil when none is).
func (s *Store) SiteDrain(ctx context.Context, siteID string) (json.RawMessage, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT status FROM site_drains WHERE site_id = $1`, siteID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("drain of site %s: %w", siteID, err)
	}
	return b, nil
}

// SiteDrains returns the drain progress of the sites named that have one.
func (s *Store) SiteDrains(ctx context.Context, ids ...string) (map[string]json.RawMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.site_id, d.status FROM site_drains d JOIN sites s ON s.id = d.site_id
		WHERE s.draining AND d.site_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("site drains: %w", err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var (
			id string
			b  []byte
		)
		if err := rows.Scan(&id, &b); err != nil {
			return nil, fmt.Errorf("site drains: %w", err)
		}
		out[id] = b
	}
	return out, rows.Err()
}

// SaveSiteDrain stores the site's drain progress while the site drains (a site no longer
// draining, or gone, keeps none).
func (s *Store) SaveSiteDrain(ctx context.Context, siteID string, status json.RawMessage) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO site_drains (site_id, status)
		SELECT id, $2 FROM sites WHERE id = $1 AND draining
		ON CONFLICT (site_id) DO UPDATE SET status = excluded.status, updated = now()`, siteID, []byte(status))
	if err != nil {
		return fmt.Errorf("save drain of site %s: %w", siteID, err)
	}
	return nil
}

// ClearSiteDrain drops the site's drain progress (its drain ended).
func (s *Store) ClearSiteDrain(ctx context.Context, siteID string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM site_drains WHERE site_id = $1`, siteID); err != nil {
		return fmt.Errorf("clear drain of site %s: %w", siteID, err)
	}
	return nil
}
