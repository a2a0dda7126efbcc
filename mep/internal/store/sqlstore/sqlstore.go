// Package sqlstore implements store.Store on SQL databases through database/sql: SQLite
// (modernc.org/sqlite, pure Go, the default: a site needs no database server) and PostgreSQL
// (jackc/pgx). Queries are written once with ? placeholders and rebound per dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
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
	// nextID is the last notification id handed out; committedID the last one of a committed batch.
	// Batches are applied one at a time by the single writer (the MEP's site core).
	nextID, committedID atomic.Int64
}

var _ store.Store = (*Store)(nil)

// The outbox is two tables: notifications holds one row per change (body and subscribers),
// deliveries the state of the targets that failed or finished while others of the same
// notification are still pending. A delivered notification is one DELETE.
var schema = map[Dialect][]string{
	SQLite: {
		`CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (kind, id))`,
		`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS notifications (id INTEGER PRIMARY KEY, body BLOB NOT NULL, link_at INTEGER NOT NULL,
			targets BLOB NOT NULL, created_at INTEGER NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS deliveries (notification_id INTEGER NOT NULL, target INTEGER NOT NULL,
			attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, done INTEGER NOT NULL, PRIMARY KEY (notification_id, target))`,
	},
	Postgres: {
		`CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, id TEXT NOT NULL, body BYTEA NOT NULL, PRIMARY KEY (kind, id))`,
		`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS notifications (id BIGINT PRIMARY KEY, body BYTEA NOT NULL, link_at INTEGER NOT NULL,
			targets BYTEA NOT NULL, created_at BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS deliveries (notification_id BIGINT NOT NULL, target INTEGER NOT NULL,
			attempts INTEGER NOT NULL, next_at BIGINT NOT NULL, done INTEGER NOT NULL, PRIMARY KEY (notification_id, target))`,
	},
}

// legacyOutbox asks whether the outbox table of earlier versions (one row per subscriber)
// exists; migrate moves its rows into notifications.
var legacyOutbox = map[Dialect]string{
	SQLite:   `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'outbox'`,
	Postgres: `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'outbox'`,
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
	if err := s.migrateOutbox(ctx); err != nil {
		db.Close()
		return nil, err
	}
	var maxID int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM notifications`).Scan(&maxID); err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox sequence: %w", err)
	}
	s.nextID.Store(maxID)
	s.committedID.Store(maxID)
	return s, nil
}

// migrateOutbox moves the rows of the legacy outbox table, one per subscriber, into
// notifications with one target each (attempts and due times kept) and drops it, in one
// transaction: notifications queued before an upgrade are delivered after it.
func (s *Store) migrateOutbox(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, legacyOutbox[s.dialect]).Scan(&n); err != nil {
		return fmt.Errorf("look for the legacy outbox: %w", err)
	}
	if n == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	rows, err := tx.QueryContext(ctx, `SELECT id, subscription_id, url, body, attempts, next_at, created_at FROM outbox ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read the legacy outbox: %w", err)
	}
	type legacy struct {
		id, next, created int64
		sub, url          string
		body              []byte
		attempts          int
	}
	var old []legacy
	for rows.Next() {
		var l legacy
		if err := rows.Scan(&l.id, &l.sub, &l.url, &l.body, &l.attempts, &l.next, &l.created); err != nil {
			rows.Close()
			return fmt.Errorf("scan the legacy outbox: %w", err)
		}
		old = append(old, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the legacy outbox: %w", err)
	}
	// Ids are kept, unless notifications has rows already (a newer MEP ran, then an older one
	// queued more): then the legacy rows follow them.
	var maxID int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM notifications`).Scan(&maxID); err != nil {
		return fmt.Errorf("outbox sequence: %w", err)
	}
	for i, l := range old {
		if maxID > 0 {
			l.id = maxID + int64(i) + 1
		}
		targets, err := encodeTargets([]store.Target{{SubscriptionID: l.sub, URL: l.url}})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO notifications (id, body, link_at, targets, created_at) VALUES (?, ?, 0, ?, ?)`),
			l.id, l.body, targets, l.created); err != nil {
			return fmt.Errorf("migrate notification %d: %w", l.id, err)
		}
		if l.attempts > 0 {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO deliveries (notification_id, target, attempts, next_at, done) VALUES (?, 0, ?, ?, 0)`),
				l.id, l.attempts, l.next); err != nil {
				return fmt.Errorf("migrate notification %d: %w", l.id, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE outbox`); err != nil {
		return fmt.Errorf("drop the legacy outbox: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate the legacy outbox: %w", err)
	}
	return nil
}

// target is the stored form of a store.Target; its delivery state lives in deliveries.
type target struct {
	SubscriptionID string `json:"s"`
	URL            string `json:"u"`
	Link           string `json:"l,omitempty"`
}

func encodeTargets(ts []store.Target) ([]byte, error) {
	out := make([]target, len(ts))
	for i, t := range ts {
		out[i] = target{SubscriptionID: t.SubscriptionID, URL: t.URL, Link: t.Link}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode targets: %w", err)
	}
	return b, nil
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

// enqueueChunk bounds the rows of one multi-row statement (at most 5 parameters a row, well
// under SQLite's and PostgreSQL's parameter limits).
const enqueueChunk = 500

// enqueue inserts the notifications with multi-row INSERTs, one row each whatever the number
// of its targets. Ids come from the store's sequence (one writer per store: one MEP per site).
func (s *Store) enqueue(ctx context.Context, tx *sql.Tx, ns []store.Notification) error {
	now := time.Now()
	for start := 0; start < len(ns); start += enqueueChunk {
		chunk := ns[start:min(start+enqueueChunk, len(ns))]
		var q strings.Builder
		q.WriteString(`INSERT INTO notifications (id, body, link_at, targets, created_at) VALUES `)
		args := make([]any, 0, 5*len(chunk))
		for i := range chunk {
			n := &chunk[i]
			targets, err := encodeTargets(n.Targets)
			if err != nil {
				s.nextID.Store(s.committedID.Load())
				return err
			}
			if n.CreatedAt.IsZero() {
				n.CreatedAt = now
			}
			n.ID = s.nextID.Add(1)
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(`(?, ?, ?, ?, ?)`)
			args = append(args, n.ID, n.Body, n.LinkAt, targets, n.CreatedAt.UnixNano())
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
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, body, link_at, targets, created_at FROM notifications ORDER BY id LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	defer rows.Close()
	var out []store.Notification
	byID := map[int64]*store.Notification{}
	for rows.Next() {
		var n store.Notification
		var targets []byte
		var created int64
		if err := rows.Scan(&n.ID, &n.Body, &n.LinkAt, &targets, &created); err != nil {
			return nil, fmt.Errorf("scan outbox: %w", err)
		}
		var ts []target
		if err := json.Unmarshal(targets, &ts); err != nil {
			return nil, fmt.Errorf("decode targets of notification %d: %w", n.ID, err)
		}
		n.Targets = make([]store.Target, len(ts))
		for i, t := range ts {
			n.Targets[i] = store.Target{SubscriptionID: t.SubscriptionID, URL: t.URL, Link: t.Link}
		}
		n.CreatedAt = time.Unix(0, created)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	if len(out) == 0 {
		return out, nil
	}
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT notification_id, target, attempts, next_at, done FROM deliveries WHERE notification_id <= ?`),
		out[len(out)-1].ID)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, next int64
		var t, attempts, done int
		if err := rows.Scan(&id, &t, &attempts, &next, &done); err != nil {
			return nil, fmt.Errorf("scan deliveries: %w", err)
		}
		n := byID[id]
		if n == nil || t < 0 || t >= len(n.Targets) {
			continue
		}
		n.Targets[t].Attempts, n.Targets[t].Done = attempts, done != 0
		if next != 0 {
			n.Targets[t].NextAt = time.Unix(0, next)
		}
	}
	return out, rows.Err()
}

// Settle implements store.Store.
func (s *Store) Settle(ctx context.Context, finished []int64, targets []store.TargetState) error {
	if len(finished) == 0 && len(targets) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	// One row per target (the last state wins): PostgreSQL refuses an upsert that touches a
	// row twice.
	seen := make(map[[2]int64]int, len(targets))
	uniq := make([]store.TargetState, 0, len(targets))
	for _, t := range targets {
		k := [2]int64{t.ID, int64(t.Target)}
		if i, ok := seen[k]; ok {
			uniq[i] = t
			continue
		}
		seen[k] = len(uniq)
		uniq = append(uniq, t)
	}
	targets = uniq
	// Target states first: a state of a notification finished in the same call is deleted with it.
	for start := 0; start < len(targets); start += enqueueChunk {
		chunk := targets[start:min(start+enqueueChunk, len(targets))]
		q := `INSERT INTO deliveries (notification_id, target, attempts, next_at, done) VALUES (?, ?, ?, ?, ?)` +
			strings.Repeat(`, (?, ?, ?, ?, ?)`, len(chunk)-1) + ` ON CONFLICT (notification_id, target) DO UPDATE
			SET attempts = excluded.attempts, next_at = excluded.next_at, done = excluded.done`
		args := make([]any, 0, 5*len(chunk))
		for _, t := range chunk {
			done := 0
			if t.Done {
				done = 1
			}
			var next int64
			if !t.NextAt.IsZero() {
				next = t.NextAt.UnixNano()
			}
			args = append(args, t.ID, t.Target, t.Attempts, next, done)
		}
		if _, err := tx.ExecContext(ctx, s.q(q), args...); err != nil {
			return fmt.Errorf("record delivery state: %w", err)
		}
	}
	for start := 0; start < len(finished); start += enqueueChunk {
		chunk := finished[start:min(start+enqueueChunk, len(finished))]
		in := `(?` + strings.Repeat(`, ?`, len(chunk)-1) + `)`
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM deliveries WHERE notification_id IN `+in), args...); err != nil {
			return fmt.Errorf("settle: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM notifications WHERE id IN `+in), args...); err != nil {
			return fmt.Errorf("settle: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
