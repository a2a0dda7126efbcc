package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/edgemec/edgemec/meo/internal/store"
)

// Traffic steering records (table af_subscriptions, migration 0005): the orchestrator's
// subscriptions at the sites' NEFs, one per app instance.

const steeringCols = "app_instance_id, site_id, doc, view, due, updated"

func scanSteering(row pgx.Row) (*store.Steering, error) {
	var (
		s   store.Steering
		due *time.Time
	)
	if err := row.Scan(&s.AppInstanceID, &s.SiteID, &s.Doc, &s.View, &due, &s.Updated); err != nil {
		return nil, mapErr(err)
	}
	if due != nil {
		s.Due = *due
	}
	return &s, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// GetSteering returns the instance's steering record (store.ErrNotFound if none).
func (s *Store) GetSteering(ctx context.Context, appInstanceID string) (*store.Steering, error) {
	out, err := scanSteering(s.pool.QueryRow(ctx, "SELECT "+steeringCols+" FROM af_subscriptions WHERE app_instance_id = $1", appInstanceID))
	if err != nil {
		return nil, fmt.Errorf("get steering of %s: %w", appInstanceID, err)
	}
	return out, nil
}

// UpdateSteering locks the instance's steering record and runs fn on it (nil when there is
// none); fn returns the record to store, or nil to delete it. An error from fn changes
// nothing and is returned.
func (s *Store) UpdateSteering(ctx context.Context, appInstanceID string, fn func(cur *store.Steering) (*store.Steering, error)) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := scanSteering(tx.QueryRow(ctx, "SELECT "+steeringCols+" FROM af_subscriptions WHERE app_instance_id = $1 FOR UPDATE", appInstanceID))
		if errors.Is(err, store.ErrNotFound) {
			cur, err = nil, nil
		}
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		if next == nil {
			_, err = tx.Exec(ctx, "DELETE FROM af_subscriptions WHERE app_instance_id = $1", appInstanceID)
			return err
		}
		view := next.View
		if len(view) == 0 {
			view = json.RawMessage("{}")
		}
		_, err = tx.Exec(ctx, `INSERT INTO af_subscriptions (app_instance_id, site_id, doc, view, due)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (app_instance_id) DO UPDATE SET site_id = $2, doc = $3, view = $4, due = $5, updated = now()`,
			appInstanceID, next.SiteID, []byte(next.Doc), []byte(view), nullTime(next.Due))
		return err
	})
	if err != nil {
		return fmt.Errorf("update steering of %s: %w", appInstanceID, err)
	}
	return nil
}

// ClaimSteering returns up to n steering records that are due, oldest due first, and moves
// each one's due lease ahead in the same statement (FOR UPDATE SKIP LOCKED), so that
// several MEO processes never work on one record at once while the lease runs.
func (s *Store) ClaimSteering(ctx context.Context, n int, lease time.Duration) ([]*store.Steering, error) {
	rows, err := s.pool.Query(ctx, `UPDATE af_subscriptions SET due = now() + $2::interval
		WHERE app_instance_id IN (SELECT app_instance_id FROM af_subscriptions WHERE due <= now()
			ORDER BY due LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING `+steeringCols, n, lease)
	if err != nil {
		return nil, fmt.Errorf("claim steering: %w", err)
	}
	defer rows.Close()
	var out []*store.Steering
	for rows.Next() {
		st, err := scanSteering(rows)
		if err != nil {
			return nil, fmt.Errorf("claim steering: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim steering: %w", err)
	}
	return out, nil
}

// AddOpWarning appends a warning to an op occurrence (AppInstanceLcmOpOcc.warnings); it
// does not change its state and queues no notification.
func (s *Store) AddOpWarning(ctx context.Context, opID string, w store.Problem) error {
	b, err := json.Marshal([]store.Problem{w})
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE app_lcm_op_occs
		SET doc = jsonb_set(doc, '{warnings}', coalesce(doc->'warnings', '[]'::jsonb) || $2::jsonb) WHERE id = $1`, opID, b)
	if err != nil {
		return fmt.Errorf("add warning to op occurrence %s: %w", opID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("add warning to op occurrence %s: %w", opID, store.ErrNotFound)
	}
	return nil
}
