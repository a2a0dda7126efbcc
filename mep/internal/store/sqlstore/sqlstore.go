// Package sqlstore implements store.Store on SQL databases through database/sql: SQLite
// (modernc.org/sqlite, pure Go, the default: a site needs no database server) and PostgreSQL
// (jackc/pgx). Queries are written once with ? placeholders and rebound per dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite"

	"github.com/edgemec/edgemec/mep/internal/store"
)

// Dialect selects the SQL flavour.
type Dialect int

// Supported dialects.
const (
	SQLite Dialect = iota
	Postgres
)

// Store is a store.Store on a SQL database.
type Store struct {
	db      *sql.DB
	dialect Dialect
	// nextID is the last outbox id handed out; committedID the last one of a committed batch.
	// Batches are applied one at a time by the single writer (the MEP's site core).
	nextID, committedID atomic.Int64
}

var _ store.Store = (*Store)(nil)

var schema = map[Dialect][]string{
	SQLite: {
		`CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (kind, id))`,
		`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, subscription_id TEXT NOT NULL,
			url TEXT NOT NULL, body BLOB NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, created_at INTEGER NOT NULL)`,
	},
	Postgres: {
		`CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, id TEXT NOT NULL, body BYTEA NOT NULL, PRIMARY KEY (kind, id))`,
		`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS outbox (id BIGSERIAL PRIMARY KEY, subscription_id TEXT NOT NULL,
			url TEXT NOT NULL, body BYTEA NOT NULL, attempts INTEGER NOT NULL, next_at BIGINT NOT NULL, created_at BIGINT NOT NULL)`,
	},
}

// OpenSQLite opens (creating if needed) the SQLite database at path. It uses WAL with
// synchronous=FULL: a committed batch survives a process crash and a power loss.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=cache_size(-512)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// One connection and a small page cache: SQLite has one writer, and all reads of the MEP
	// are served from memory; the store is read only at start.
	db.SetMaxOpenConns(1)
	return open(ctx, db, SQLite)
}

// OpenPostgres connects to PostgreSQL with a pgx DSN and creates the schema if needed.
func OpenPostgres(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(8)
	return open(ctx, db, Postgres)
}

func open(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	s := &Store{db: db, dialect: d}
	for _, q := range schema[d] {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	var maxID int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM outbox`).Scan(&maxID); err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox sequence: %w", err)
	}
	s.nextID.Store(maxID)
	s.committedID.Store(maxID)
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// q rebinds ? placeholders to $n for PostgreSQL.
func (s *Store) q(query string) string {
	if s.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// LoadAll implements store.Store.
func (s *Store) LoadAll(ctx context.Context) ([]store.Doc, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, id, body FROM docs ORDER BY kind, id`)
	if err != nil {
		return nil, fmt.Errorf("load docs: %w", err)
	}
	defer rows.Close()
	var docs []store.Doc
	for rows.Next() {
		var d store.Doc
		var kind string
		if err := rows.Scan(&kind, &d.ID, &d.Body); err != nil {
			return nil, fmt.Errorf("scan doc: %w", err)
		}
		d.Kind = store.Kind(kind)
		docs = append(docs, d)
	}
	return docs, rows.Err()
}

// Apply implements store.Store.
func (s *Store) Apply(ctx context.Context, b *store.Batch) error {
	if b.Empty() {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	for _, k := range b.Delete {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM docs WHERE kind = ? AND id = ?`), string(k.Kind), k.ID); err != nil {
			return fmt.Errorf("delete %s %s: %w", k.Kind, k.ID, err)
		}
	}
	for _, d := range b.Put {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO docs (kind, id, body) VALUES (?, ?, ?)
			ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body`), string(d.Kind), d.ID, d.Body); err != nil {
			return fmt.Errorf("put %s %s: %w", d.Kind, d.ID, err)
		}
	}
	for k, v := range b.Meta {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`), k, v); err != nil {
			return fmt.Errorf("set meta %s: %w", k, err)
		}
	}
	if len(b.Enqueue) > 0 {
		if err := s.enqueue(ctx, tx, b.Enqueue); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		s.nextID.Store(s.committedID.Load()) // ids of a failed batch are reused
		return fmt.Errorf("commit: %w", err)
	}
	s.committedID.Store(s.nextID.Load())
	return nil
}

// enqueueChunk bounds the rows of one INSERT (6 parameters a row, well under SQLite's and
// PostgreSQL's parameter limits).
const enqueueChunk = 500

// enqueue inserts outbox rows with multi-row INSERTs: a registration watched by many
// subscribers queues one row per subscriber, and one statement per row would dominate the
// commit. Ids come from the store's sequence (one writer per store: one MEP per site).
func (s *Store) enqueue(ctx context.Context, tx *sql.Tx, ns []store.Notification) error {
	now := time.Now()
	for start := 0; start < len(ns); start += enqueueChunk {
		chunk := ns[start:min(start+enqueueChunk, len(ns))]
		var q strings.Builder
		q.WriteString(`INSERT INTO outbox (id, subscription_id, url, body, attempts, next_at, created_at) VALUES `)
		args := make([]any, 0, 7*len(chunk))
		for i := range chunk {
			n := &chunk[i]
			if n.CreatedAt.IsZero() {
				n.CreatedAt = now
			}
			n.ID = s.nextID.Add(1)
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(`(?, ?, ?, ?, ?, ?, ?)`)
			args = append(args, n.ID, n.SubscriptionID, n.URL, n.Body, n.Attempts, n.NextAt.UnixNano(), n.CreatedAt.UnixNano())
		}
		if _, err := tx.ExecContext(ctx, s.q(q.String()), args...); err != nil {
			s.nextID.Store(s.committedID.Load())
			return fmt.Errorf("enqueue notifications: %w", err)
		}
	}
	return nil
}

// Meta implements store.Store.
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM meta WHERE key = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("get meta %s: %w", key, err)
	}
	return v, nil
}

// Pending implements store.Store.
func (s *Store) Pending(ctx context.Context, limit int) ([]store.Notification, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, subscription_id, url, body, attempts, next_at, created_at
		FROM outbox ORDER BY id LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	defer rows.Close()
	var out []store.Notification
	for rows.Next() {
		var n store.Notification
		var next, created int64
		if err := rows.Scan(&n.ID, &n.SubscriptionID, &n.URL, &n.Body, &n.Attempts, &next, &created); err != nil {
			return nil, fmt.Errorf("scan outbox: %w", err)
		}
		n.NextAt, n.CreatedAt = time.Unix(0, next), time.Unix(0, created)
		out = append(out, n)
	}
	return out, rows.Err()
}

// Settle implements store.Store.
func (s *Store) Settle(ctx context.Context, done []int64, retry []store.Notification) error {
	if len(done) == 0 && len(retry) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	for start := 0; start < len(done); start += enqueueChunk {
		chunk := done[start:min(start+enqueueChunk, len(done))]
		q := `DELETE FROM outbox WHERE id IN (?` + strings.Repeat(`, ?`, len(chunk)-1) + `)`
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if _, err := tx.ExecContext(ctx, s.q(q), args...); err != nil {
			return fmt.Errorf("settle: %w", err)
		}
	}
	for _, n := range retry {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE outbox SET attempts = ?, next_at = ? WHERE id = ?`),
			n.Attempts, n.NextAt.UnixNano(), n.ID); err != nil {
			return fmt.Errorf("reschedule %d: %w", n.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
