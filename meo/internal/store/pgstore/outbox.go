package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutboxRow is a queued notification: one body for one subscription's callback.
type OutboxRow struct {
	ID             int64
	SubscriptionID string
	CallbackURI    string
	Body           []byte
	// Attempts counts the failed attempts; the next is due at Due.
	Attempts int
	Due      time.Time
	Created  time.Time
}

// Retry is the schedule of a delivery's next attempt.
type Retry struct {
	ID       int64
	Attempts int
	Due      time.Time
}

// inTx runs fn in a transaction and hands the outbox rows it queued to OnQueued after the
// commit (never for a rolled back transaction).
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var tx pgx.Tx
	err := pgx.BeginFunc(ctx, s.pool, func(t pgx.Tx) error {
		tx = t
		return fn(t)
	})
	s.mu.Lock()
	rows := s.committed[tx]
	delete(s.committed, tx)
	s.mu.Unlock()
	if err == nil && len(rows) > 0 {
		s.cfg.OnQueued(rows)
	}
	return err
}

func (s *Store) pending(tx pgx.Tx, rows []OutboxRow) {
	s.mu.Lock()
	s.committed[tx] = append(s.committed[tx], rows...)
	s.mu.Unlock()
}

func scanOutbox(rows pgx.Rows) ([]OutboxRow, error) {
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		var r OutboxRow
		if err := rows.Scan(&r.ID, &r.SubscriptionID, &r.CallbackURI, &r.Body, &r.Attempts, &r.Due, &r.Created); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ClaimOutbox claims, for this process, the queued notifications that no live process holds
// (its own, unclaimed ones, and those whose claim lapsed: a dead process's), renews the
// claim of all it holds, and returns them.
func (s *Store) ClaimOutbox(ctx context.Context) ([]OutboxRow, error) {
	rows, err := s.pool.Query(ctx, `UPDATE outbox SET claimed_by = $1, lease_until = now() + $2::interval
		WHERE id IN (SELECT id FROM outbox WHERE claimed_by IS NULL OR claimed_by = $1 OR lease_until < now()
			ORDER BY id FOR UPDATE SKIP LOCKED)
		RETURNING id, subscription_id, callback_uri, body, attempts, next_attempt, created`, s.cfg.Owner, s.cfg.Lease.String())
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	out, err := scanOutbox(rows)
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return out, nil
}

// RenewOutbox extends this process's claims.
func (s *Store) RenewOutbox(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "UPDATE outbox SET lease_until = now() + $2::interval WHERE claimed_by = $1", s.cfg.Owner, s.cfg.Lease.String())
	if err != nil {
		return fmt.Errorf("renew outbox claims: %w", err)
	}
	return nil
}

// SettleOutbox deletes finished notifications and records retry schedules. Ids unknown
// (settled already) are ignored.
func (s *Store) SettleOutbox(ctx context.Context, finished []int64, retries []Retry) error {
	b := &pgx.Batch{}
	if len(finished) > 0 {
		b.Queue("DELETE FROM outbox WHERE id = ANY($1)", finished)
	}
	for _, r := range retries {
		b.Queue("UPDATE outbox SET attempts = $2, next_attempt = $3 WHERE id = $1", r.ID, r.Attempts, r.Due)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("settle outbox: %w", err)
	}
	return nil
}

// SubscriptionIDs returns the ids of every subscription, package and app lifecycle ones.
func (s *Store) SubscriptionIDs(ctx context.Context) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, "SELECT id FROM app_pkg_subscriptions UNION ALL SELECT id FROM app_lcm_subscriptions")
	if err != nil {
		return nil, fmt.Errorf("list subscription ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list subscription ids: %w", err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// ReleaseOutbox gives up this process's claims, so that the next process to start (or
// another replica) delivers the rows at once instead of after the lease. Called on a clean
// stop.
func (s *Store) ReleaseOutbox(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "UPDATE outbox SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = $1", s.cfg.Owner)
	if err != nil {
		return fmt.Errorf("release outbox claims: %w", err)
	}
	return nil
}
