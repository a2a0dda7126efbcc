//go:build integration

package pgstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/reconcile"
)

// Prune removes the journal entries and op occurrences that ended before the retention and
// that nothing reads any more, and keeps everything else: entries of an instance with an op
// in progress, recent ones, and the op history of live instances.
func TestPrune(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	pool := s.Pool()
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := pool.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
	}
	instance := func(id string) {
		exec(`INSERT INTO app_instances (id, app_d_id, app_pkg_id, instantiation_state, doc)
			VALUES ($1, 'appd', 'pkg', 'NOT_INSTANTIATED', jsonb_build_object('id', $1::text))`, id)
	}
	op := func(id, inst, state string, ended time.Duration) {
		exec(`INSERT INTO app_lcm_op_occs (id, app_instance_id, operation, state, request, doc, state_entered)
			VALUES ($1, $2, 'INSTANTIATE', $3, '{}', jsonb_build_object('id', $1::text), now() - $4 * interval '1 second')`,
			id, inst, state, ended.Seconds())
	}
	journal := func(task, inst string, age time.Duration) {
		require.NoError(t, s.Journal().Save(ctx, task, reconcile.Progress{Kind: reconcile.KindInstantiate, AppInstanceID: inst,
			Outcome: reconcile.Completed}))
		exec(`UPDATE task_journal SET updated = now() - $2 * interval '1 second' WHERE task_id = $1`, task, age.Seconds())
	}
	const day = 24 * time.Hour

	// live: an instance with old finished ops and journal entries, and nothing in progress.
	instance("live")
	op("live-op-1", "live", "COMPLETED", 30*day)
	journal("live-op-1", "live", 30*day)
	journal("live-op-1-cleanup", "live", 30*day)
	// busy: an old entry of an instance whose op is in progress (FAILED_TEMP) stays.
	instance("busy")
	op("busy-op-1", "busy", "COMPLETED", 30*day)
	op("busy-op-2", "busy", "FAILED_TEMP", 30*day)
	journal("busy-op-1", "busy", 30*day)
	journal("busy-op-2", "busy", 30*day)
	// gone: a deleted instance, its ops ended long ago, and one recently.
	op("gone-op-1", "gone", "COMPLETED", 30*day)
	op("gone-op-2", "gone", "FAILED", 30*day)
	journal("gone-op-2", "gone", 30*day)
	op("recent-op-1", "recent", "COMPLETED", time.Hour)
	journal("recent-op-1", "recent", time.Hour)
	// many: enough old rows of a deleted instance to need several batches.
	for i := range 12 {
		op(fmt.Sprintf("many-op-%02d", i), "many", "COMPLETED", 10*day)
		journal(fmt.Sprintf("many-op-%02d", i), "many", 10*day)
	}

	res, err := s.Prune(ctx, 7*day, 5)
	require.NoError(t, err)
	assert.Equal(t, int64(2+1+12), res.Journal, "journal entries pruned")
	assert.Equal(t, int64(2+12), res.Ops, "op occurrences pruned")

	ids := func(sql string) []string {
		t.Helper()
		rows, err := pool.Query(ctx, sql)
		require.NoError(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			require.NoError(t, rows.Scan(&id))
			out = append(out, id)
		}
		require.NoError(t, rows.Err())
		return out
	}
	assert.Equal(t, []string{"busy-op-1", "busy-op-2", "recent-op-1"}, ids("SELECT task_id FROM task_journal ORDER BY task_id"))
	assert.Equal(t, []string{"busy-op-1", "busy-op-2", "live-op-1", "recent-op-1"}, ids("SELECT id FROM app_lcm_op_occs ORDER BY id"))

	// A second run finds nothing more; a shorter retention takes the recent ones too.
	res, err = s.Prune(ctx, 7*day, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(0), res.Journal+res.Ops)
	res, err = s.Prune(ctx, time.Minute, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(1), res.Journal)
	assert.Equal(t, int64(1), res.Ops)
}
