package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgemec/edgemec/meo/internal/reconcile"
)

// Journal is a reconcile.Journal in the task_journal table: one row per task, its
// reconcile.Progress as JSON. Every MEO process on the database sees every entry, so a
// task started by one process is resumed by another at the step after the last one saved.
type Journal struct {
	pool *pgxpool.Pool
}

var _ reconcile.Journal = (*Journal)(nil)

// NewJournal returns a Journal on pool.
func NewJournal(pool *pgxpool.Pool) *Journal { return &Journal{pool: pool} }

// Journal returns the store's task journal.
func (s *Store) Journal() *Journal { return NewJournal(s.pool) }

// Load implements reconcile.Journal.
func (j *Journal) Load(ctx context.Context, taskID string) (reconcile.Progress, error) {
	var p reconcile.Progress
	var b []byte
	err := j.pool.QueryRow(ctx, "SELECT progress FROM task_journal WHERE task_id = $1", taskID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("load task %s: %w", taskID, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode progress of %s: %w", taskID, err)
	}
	return p, nil
}

// Save implements reconcile.Journal.
func (j *Journal) Save(ctx context.Context, taskID string, p reconcile.Progress) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode progress of %s: %w", taskID, err)
	}
	_, err = j.pool.Exec(ctx, `INSERT INTO task_journal (task_id, app_instance_id, progress) VALUES ($1, $2, $3)
		ON CONFLICT (task_id) DO UPDATE SET app_instance_id = excluded.app_instance_id, progress = excluded.progress, updated = now()`,
		taskID, p.AppInstanceID, b)
	if err != nil {
		return fmt.Errorf("save task %s: %w", taskID, err)
	}
	return nil
}

// Delete drops the entries of tasks (for housekeeping once their op occurrences are gone).
func (j *Journal) Delete(ctx context.Context, taskIDs ...string) error {
	if _, err := j.pool.Exec(ctx, "DELETE FROM task_journal WHERE task_id = ANY($1)", taskIDs); err != nil {
		return fmt.Errorf("delete journal entries: %w", err)
	}
	return nil
}
