package pgstore

import (
	"context"
	"fmt"
	"time"
)

// PruneResult counts the rows Prune removed.
type PruneResult struct {
	// Journal counts the task_journal entries removed.
	Journal int64
	// Ops counts the op occurrences removed.
	Ops int64
}

// Prune removes what ended more than retention ago and nothing reads any more:
//
//  1. task_journal entries last changed before now−retention of app instances with no op
//     occurrence in progress (STARTING, PROCESSING or FAILED_TEMP): their tasks finished, or
//     were given up with their op occurrence, so nothing resumes them (a resumed task reads
//     its own entry, and an op occurrence in progress keeps every entry of its instance);
//  2. op occurrences that ended (COMPLETED or FAILED) before now−retention whose app
//     instance was deleted; those of live instances stay as their history.
//
// Notifications need no pruning: a delivery, or one given up on, leaves the outbox when it
// is settled. Each statement deletes at most batch rows (default 5,000) and is repeated
// until nothing is left, so that none holds many row locks for long; several MEO processes
// may prune at once.
func (s *Store) Prune(ctx context.Context, retention time.Duration, batch int) (PruneResult, error) {
	if batch <= 0 {
		batch = 5000
	}
	var res PruneResult
	steps := []struct {
		n   *int64
		sql string
	}{
		{&res.Journal, `DELETE FROM task_journal WHERE task_id IN (
			SELECT j.task_id FROM task_journal j
			WHERE j.updated < now() - $1 * interval '1 millisecond'
			  AND NOT EXISTS (SELECT 1 FROM app_lcm_op_occs o WHERE o.app_instance_id = j.app_instance_id
			                  AND o.state IN ('STARTING', 'PROCESSING', 'FAILED_TEMP'))
			LIMIT $2)`},
		{&res.Ops, `DELETE FROM app_lcm_op_occs WHERE id IN (
			SELECT o.id FROM app_lcm_op_occs o
			WHERE o.state IN ('COMPLETED', 'FAILED') AND o.state_entered < now() - $1 * interval '1 millisecond'
			  AND NOT EXISTS (SELECT 1 FROM app_instances i WHERE i.id = o.app_instance_id)
			LIMIT $2)`},
	}
	for _, st := range steps {
		for {
			tag, err := s.pool.Exec(ctx, st.sql, retention.Milliseconds(), batch)
			if err != nil {
				return res, fmt.Errorf("prune: %w", err)
			}
			*st.n += tag.RowsAffected()
			if tag.RowsAffected() < int64(batch) {
				break
			}
		}
	}
	return res, nil
}
