package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/mep/internal/store"
	"github.com/edgemec/edgemec/mep/internal/store/sqlstore"
	"github.com/edgemec/edgemec/mep/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func() store.Store) {
		path := filepath.Join(t.TempDir(), "mep.db")
		openOne := func() store.Store {
			s, err := sqlstore.OpenSQLite(t.Context(), path)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		}
		return openOne(), openOne
	})
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func() store.Store) {
		dsn := pgtest.New(t)
		openOne := func() store.Store {
			s, err := sqlstore.OpenPostgres(t.Context(), dsn)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		}
		return openOne(), openOne
	})
}

// TestLegacyOutbox: notifications queued by a MEP that kept one outbox row per subscriber are
// delivered after an upgrade — the rows move to the notifications table with their ids,
// attempts and due times, and the old table goes.
func TestLegacyOutbox(t *testing.T) {
	for _, tt := range []struct {
		name   string
		driver string
		dsn    func(t *testing.T) string
		schema string
		open   func(ctx context.Context, dsn string) (*sqlstore.Store, error)
	}{
		{"sqlite", "sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "mep.db") },
			`CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, subscription_id TEXT NOT NULL,
			url TEXT NOT NULL, body BLOB NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, created_at INTEGER NOT NULL)`,
			sqlstore.OpenSQLite},
		{"postgres", "pgx", func(t *testing.T) string { return pgtest.New(t) },
			`CREATE TABLE outbox (id BIGSERIAL PRIMARY KEY, subscription_id TEXT NOT NULL,
			url TEXT NOT NULL, body BYTEA NOT NULL, attempts INTEGER NOT NULL, next_at BIGINT NOT NULL, created_at BIGINT NOT NULL)`,
			sqlstore.OpenPostgres},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := tt.dsn(t)
			db, err := sql.Open(tt.driver, dsn)
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, tt.schema)
			require.NoError(t, err)
			created, due := time.Unix(1700000000, 0), time.Unix(1700000060, 0)
			for _, r := range []struct {
				id       int64
				sub      string
				attempts int
			}{{7, "s1", 0}, {9, "s2", 4}} {
				_, err = db.ExecContext(ctx, rebind(tt.driver, `INSERT INTO outbox (id, subscription_id, url, body, attempts, next_at, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?)`), r.id, r.sub, "http://cb/"+r.sub, []byte(`{"_links":{"subscription":{"href":"h"}}}`),
					r.attempts, due.UnixNano(), created.UnixNano())
				require.NoError(t, err)
			}
			require.NoError(t, db.Close())

			s, err := tt.open(ctx, dsn)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			got, err := s.Pending(ctx, 10)
			require.NoError(t, err)
			require.Len(t, got, 2)
			for _, n := range got {
				require.True(t, n.CreatedAt.Equal(created))
				require.Len(t, n.Targets, 1)
				require.Equal(t, `{"_links":{"subscription":{"href":"h"}}}`, string(n.BodyFor(0)))
			}
			require.Equal(t, int64(7), got[0].ID)
			require.Equal(t, store.Target{SubscriptionID: "s1", URL: "http://cb/s1"}, got[0].Targets[0])
			require.Equal(t, int64(9), got[1].ID)
			require.Equal(t, 4, got[1].Targets[0].Attempts)
			require.True(t, got[1].Targets[0].NextAt.Equal(due))
			// New notifications follow the migrated ones.
			b := &store.Batch{Enqueue: []store.Notification{{Body: []byte(`{}`), Targets: []store.Target{{SubscriptionID: "s", URL: "u"}}}}}
			require.NoError(t, s.Apply(ctx, b))
			require.Equal(t, int64(10), b.Enqueue[0].ID)
		})
	}
}

func rebind(driver, q string) string {
	if driver != "pgx" {
		return q
	}
	for n := 1; strings.Contains(q, "?"); n++ {
		q = strings.Replace(q, "?", "$"+strconv.Itoa(n), 1)
	}
	return q
}

// TestLegacyOutboxAfterDowngrade: a MEP of this version ran, then an older one queued into its
// outbox table; the upgrade keeps both sets.
func TestLegacyOutboxAfterDowngrade(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "mep.db")
	s, err := sqlstore.OpenSQLite(ctx, path)
	require.NoError(t, err)
	b := &store.Batch{Enqueue: []store.Notification{{Body: []byte(`{"new":1}`), Targets: []store.Target{{SubscriptionID: "n", URL: "u"}}}}}
	require.NoError(t, s.Apply(ctx, b))
	require.NoError(t, s.Close())

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, subscription_id TEXT NOT NULL,
		url TEXT NOT NULL, body BLOB NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, created_at INTEGER NOT NULL)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO outbox (id, subscription_id, url, body, attempts, next_at, created_at)
		VALUES (?, 'o', 'u', '{"old":1}', 0, 0, 0)`, b.Enqueue[0].ID)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s, err = sqlstore.OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	got, err := s.Pending(ctx, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, `{"new":1}`, string(got[0].Body))
	require.Equal(t, `{"old":1}`, string(got[1].Body))
}
