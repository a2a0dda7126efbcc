// Package pgstore is the MEO's store on PostgreSQL (pgx v5). Its schema lives in embedded
// migrations/*.sql, applied at Open in one transaction under an advisory lock, so that
// several MEO processes starting at once on one database migrate it exactly once. Package
// content is kept in the database in chunks, so every MEO process sees every package.
package pgstore

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgemec/edgemec/meo/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ChunkSize is the size of the rows package content is stored in: large enough that a 50 MB
// package is 50 rows, small enough that a reader holds little of it in memory.
const ChunkSize = 1 << 20

// lockKey is the advisory lock that serialises migrations ("meo" in ASCII).
const lockKey = 0x6d656f

// Config tunes a Store.
type Config struct {
	// Router turns package events into notifications, inside the transaction of the change
	// (nil: events are dropped).
	Router store.EventRouter
	// LCMRouter turns app lifecycle events into notifications, inside the transaction of
	// the change (nil: events are dropped).
	LCMRouter store.LCMRouter
	// Owner names this process in the outbox claims (default a random id).
	Owner string
	// Lease is how long a claim on outbox rows holds unless renewed (default 1 min).
	Lease time.Duration
	// OnQueued receives the outbox rows a change queued, after its transaction committed.
	OnQueued func([]OutboxRow)
	// MaxConns bounds the pool (default pgx's: max(4, CPUs)).
	MaxConns int32
}

// Store is a store.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	cfg  Config

	// committed holds the rows queued by transactions in progress, handed to OnQueued when
	// they commit.
	mu        sync.Mutex
	committed map[pgx.Tx][]OutboxRow
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn and brings its schema up to date. It fails with an
// error matching store.ErrSchemaNewer when a newer MEO has migrated the database already.
func Open(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect database: %w", err)
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	if cfg.Owner == "" {
		cfg.Owner = uuid.NewString()
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	return &Store{pool: pool, cfg: cfg, committed: map[pgx.Tx][]OutboxRow{}}, nil
}

// Pool exposes the connection pool (for the notification outbox and tests).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	ents, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with NNNN_", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.name, i+1)
		}
	}
	return out, nil
}

// LatestVersion is the schema version this binary migrates to.
func LatestVersion() int {
	ms, _ := migrations()
	return len(ms)
}

// Migrate applies the missing migrations. The steps:
//  1. take a transaction-scoped advisory lock, so concurrent starts queue here;
//  2. read the schema version (creating the version table on first start);
//  3. refuse a version newer than this binary knows;
//  4. apply each missing migration and record its version;
//  5. commit, which also releases the lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS meo_schema_version (
		version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: version table: %w", err)
	}
	var cur int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM meo_schema_version").Scan(&cur); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if cur > len(ms) {
		return fmt.Errorf("%w: database at version %d, this MEO knows up to %d; upgrade the MEO", store.ErrSchemaNewer, cur, len(ms))
	}
	for _, m := range ms[cur:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO meo_schema_version (version) VALUES ($1)", m.version); err != nil {
			return fmt.Errorf("migrate: record %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// mapErr maps pgx errors onto the store sentinels.
func mapErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("%w: %s", store.ErrConflict, pe.ConstraintName)
	}
	return err
}

// Columns maps AppPkgInfo attributes to the columns that hold them, so that filters on
// them use the columns' indexes.
var Columns = map[string]string{
	"id":               "id",
	"appDId":           "app_d_id",
	"onboardingState":  "onboarding",
	"appProvider":      "app_provider",
	"appName":          "app_name",
	"operationalState": "operational_state",
	"usageState":       "usage_state",
}

const (
	listCols = "id, pos, doc, app_pkg_path, content_size, created, updated"
	fullCols = listCols + ", appd, appd_format, parsed"
)

func scanPackage(row pgx.Row, full bool) (*store.Package, int64, error) {
	var (
		p   store.Package
		pos int64
		doc []byte
	)
	dst := []any{&p.ID, &pos, &doc, &p.AppPkgPath, &p.ContentSize, &p.Created, &p.Updated}
	var parsed []byte
	if full {
		dst = append(dst, &p.AppD, &p.AppDFormat, &parsed)
	}
	if err := row.Scan(dst...); err != nil {
		return nil, 0, mapErr(err)
	}
	id := p.ID
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil, 0, fmt.Errorf("package %s: decode: %w", id, err)
	}
	p.ID = id
	if len(parsed) > 0 {
		p.Parsed = parsed
	}
	return &p, pos, nil
}

// CreatePackage implements store.Store.
func (s *Store) CreatePackage(ctx context.Context, p *store.Package) error {
	doc, err := json.Marshal(p)
	if err != nil {
		return err
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO app_packages (id, app_d_id, onboarding, doc, app_pkg_path)
		VALUES ($1, nullif($2, ''), $3, $4, $5) RETURNING created, updated`,
		p.ID, p.AppDID, p.OnboardingState, doc, p.AppPkgPath).Scan(&p.Created, &p.Updated)
	if err != nil {
		return fmt.Errorf("create package %s: %w", p.ID, mapErr(err))
	}
	return nil
}

// GetPackage implements store.Store.
func (s *Store) GetPackage(ctx context.Context, id string) (*store.Package, error) {
	p, _, err := scanPackage(s.pool.QueryRow(ctx, "SELECT "+fullCols+" FROM app_packages WHERE id = $1", id), true)
	if err != nil {
		return nil, fmt.Errorf("get package %s: %w", id, err)
	}
	return p, nil
}

// GetOnboardedByAppDID implements store.Store.
func (s *Store) GetOnboardedByAppDID(ctx context.Context, appDID string) (*store.Package, error) {
	p, _, err := scanPackage(s.pool.QueryRow(ctx, "SELECT "+fullCols+
		" FROM app_packages WHERE app_d_id = $1 AND onboarding = 'ONBOARDED'", appDID), true)
	if err != nil {
		return nil, fmt.Errorf("get package of appDId %s: %w", appDID, err)
	}
	return p, nil
}

// ListPackages implements store.Store.
func (s *Store) ListPackages(ctx context.Context, q store.ListQuery) (store.Page, error) {
	args := []any{q.After}
	where := []string{"pos > $1"}
	if q.OnboardedOnly {
		where = append(where, "onboarding = 'ONBOARDED'")
	}
	if q.Filter != nil {
		cond, err := q.Filter.SQLColumns("doc", Columns, &args)
		if err != nil {
			return store.Page{}, fmt.Errorf("list packages: %w", err)
		}
		if cond != "" {
			where = append(where, "("+cond+")")
		}
	}
	cols := listCols
	if len(q.Omit) > 0 {
		args = append(args, q.Omit)
		cols = strings.Replace(cols, "doc", "doc - $"+strconv.Itoa(len(args))+"::text[]", 1)
	}
	sql := "SELECT " + cols + " FROM app_packages WHERE " + strings.Join(where, " AND ") + " ORDER BY pos"
	if q.Limit > 0 {
		sql += " LIMIT " + strconv.Itoa(q.Limit+1)
	}
	rows, err := s.pool.Query(ctx, sql, append([]any{listMode}, args...)...)
	if err != nil {
		return store.Page{}, fmt.Errorf("list packages: %w", err)
	}
	defer rows.Close()
	var page store.Page
	var last int64
	for rows.Next() {
		if q.Limit > 0 && len(page.Packages) == q.Limit {
			page.Next = last
			break
		}
		p, pos, err := scanPackage(rows, false)
		if err != nil {
			return store.Page{}, fmt.Errorf("list packages: %w", err)
		}
		page.Packages = append(page.Packages, p)
		last = pos
	}
	if err := rows.Err(); err != nil {
		return store.Page{}, fmt.Errorf("list packages: %w", err)
	}
	return page, nil
}

// lockPackage reads the package under a row lock.
func lockPackage(ctx context.Context, tx pgx.Tx, id string) (*store.Package, error) {
	p, _, err := scanPackage(tx.QueryRow(ctx, "SELECT "+fullCols+" FROM app_packages WHERE id = $1 FOR UPDATE", id), true)
	return p, err
}

func writePackage(ctx context.Context, tx pgx.Tx, p *store.Package) error {
	doc, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var parsed any
	if len(p.Parsed) > 0 {
		parsed = []byte(p.Parsed)
	}
	return tx.QueryRow(ctx, `UPDATE app_packages SET app_d_id = nullif($2, ''), onboarding = $3, doc = $4,
		content_size = $5, appd = $6, appd_format = $7, parsed = $8, updated = now() WHERE id = $1 RETURNING updated`,
		p.ID, p.AppDID, p.OnboardingState, doc, p.ContentSize, p.AppD, p.AppDFormat, parsed).Scan(&p.Updated)
}

// apply writes the change's side effects: dropped content and queued notifications.
func (s *Store) apply(ctx context.Context, tx pgx.Tx, id string, ch store.Change) error {
	if ch.DropContent {
		if _, err := tx.Exec(ctx, "DELETE FROM app_package_chunks WHERE package_id = $1", id); err != nil {
			return err
		}
	}
	return s.enqueue(ctx, tx, ch.Events)
}

// enqueue routes events to the subscriptions and queues the notifications, claimed by this
// process; the rows are handed to OnQueued once the transaction commits.
func (s *Store) enqueue(ctx context.Context, tx pgx.Tx, events []store.Event) error {
	if len(events) == 0 || s.cfg.Router == nil {
		return nil
	}
	subs, err := listSubscriptions(ctx, tx)
	if err != nil {
		return err
	}
	return s.queue(ctx, tx, s.cfg.Router(subs, events))
}

// queue inserts the deliveries into the outbox, claimed by this process; the rows are
// handed to OnQueued once the transaction commits.
func (s *Store) queue(ctx context.Context, tx pgx.Tx, ds []store.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	subIDs, urls, bodies := make([]string, len(ds)), make([]string, len(ds)), make([][]byte, len(ds))
	for i, d := range ds {
		subIDs[i], urls[i], bodies[i] = d.SubscriptionID, d.CallbackURI, d.Body
	}
	rows, err := tx.Query(ctx, `INSERT INTO outbox (subscription_id, callback_uri, body, claimed_by, lease_until)
		SELECT s, u, b, $4, now() + $5::interval FROM unnest($1::text[], $2::text[], $3::bytea[]) AS t(s, u, b)
		RETURNING id, subscription_id, callback_uri, body, attempts, next_attempt, created`,
		subIDs, urls, bodies, s.cfg.Owner, s.cfg.Lease.String())
	if err != nil {
		return fmt.Errorf("queue notifications: %w", err)
	}
	queued, err := scanOutbox(rows)
	if err != nil {
		return fmt.Errorf("queue notifications: %w", err)
	}
	if s.cfg.OnQueued != nil {
		s.pending(tx, queued)
	}
	return nil
}

// UpdatePackage implements store.Store.
func (s *Store) UpdatePackage(ctx context.Context, id string, fn store.UpdateFunc) (*store.Package, error) {
	var out *store.Package
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		p, err := lockPackage(ctx, tx, id)
		if err != nil {
			return err
		}
		ch, err := fn(p)
		if err != nil {
			return err
		}
		if ch.DropContent {
			p.ContentSize = 0
		}
		if err := writePackage(ctx, tx, p); err != nil {
			return mapErr(err)
		}
		if err := s.apply(ctx, tx, id, ch); err != nil {
			return err
		}
		out = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update package %s: %w", id, err)
	}
	return out, nil
}

// DeletePackage implements store.Store.
func (s *Store) DeletePackage(ctx context.Context, id string, check store.UpdateFunc) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		p, err := lockPackage(ctx, tx, id)
		if err != nil {
			return err
		}
		ch, err := check(p)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM app_packages WHERE id = $1", id); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, ch.Events)
	})
	if err != nil {
		return fmt.Errorf("delete package %s: %w", id, err)
	}
	return nil
}

// StoreContent implements store.Store. The chunks and fn's change commit together or not
// at all, so a failed or refused upload leaves no content behind.
func (s *Store) StoreContent(ctx context.Context, id string, r io.Reader, max int64,
	fn func(p *store.Package, size int64) (store.Change, error)) (*store.Package, error) {
	var out *store.Package
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM app_package_chunks WHERE package_id = $1", id); err != nil {
			return err
		}
		// COPY streams the chunks in one statement; each row is encoded before the next is
		// read, so one chunk buffer serves them all.
		buf := make([]byte, ChunkSize)
		var size int64
		seq := 0
		var readErr error
		src := pgx.CopyFromFunc(func() ([]any, error) {
			n, err := io.ReadFull(r, buf)
			if n == 0 || (err != nil && !errors.Is(err, io.ErrUnexpectedEOF)) {
				if !errors.Is(err, io.EOF) {
					readErr = err
					return nil, fmt.Errorf("read content: %w", err)
				}
				return nil, nil
			}
			size += int64(n)
			if size > max {
				readErr = fmt.Errorf("%w: more than %d bytes", store.ErrTooLarge, max)
				return nil, readErr
			}
			seq++
			return []any{id, seq - 1, buf[:n]}, nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"app_package_chunks"}, []string{"package_id", "seq", "data"}, src); err != nil {
			if readErr != nil {
				return readErr
			}
			return mapErr(err)
		}
		p, err := lockPackage(ctx, tx, id)
		if err != nil {
			return err
		}
		ch, err := fn(p, size)
		if err != nil {
			return err
		}
		p.ContentSize = size
		if ch.DropContent {
			p.ContentSize = 0
		}
		if err := writePackage(ctx, tx, p); err != nil {
			return mapErr(err)
		}
		if err := s.apply(ctx, tx, id, ch); err != nil {
			return err
		}
		out = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store content of %s: %w", id, err)
	}
	return out, nil
}

// OpenContent implements store.Store.
func (s *Store) OpenContent(ctx context.Context, id string) (store.Content, error) {
	var size int64
	if err := s.pool.QueryRow(ctx, "SELECT content_size FROM app_packages WHERE id = $1", id).Scan(&size); err != nil {
		return nil, fmt.Errorf("open content of %s: %w", id, mapErr(err))
	}
	return &content{ctx: ctx, pool: s.pool, id: id, size: size}, nil
}

// content reads stored chunks on demand and keeps the last two it read. It holds the
// context of OpenContent because io.ReaderAt takes none; it is used within one request.
type content struct {
	ctx  context.Context
	pool *pgxpool.Pool
	id   string
	size int64

	mu    sync.Mutex
	cache [2]struct {
		seq  int64
		data []byte
	}
	next int
}

func (c *content) Size() int64  { return c.size }
func (c *content) Close() error { return nil }

func (c *content) chunk(seq int64) ([]byte, error) {
	for _, e := range c.cache {
		if e.data != nil && e.seq == seq {
			return e.data, nil
		}
	}
	var data []byte
	if err := c.pool.QueryRow(c.ctx, "SELECT data FROM app_package_chunks WHERE package_id = $1 AND seq = $2",
		c.id, seq).Scan(&data); err != nil {
		return nil, fmt.Errorf("read content of %s chunk %d: %w", c.id, seq, mapErr(err))
	}
	c.cache[c.next].seq, c.cache[c.next].data = seq, data
	c.next = (c.next + 1) % len(c.cache)
	return data, nil
}

// ReadAt implements io.ReaderAt.
func (c *content) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for n < len(p) {
		if off >= c.size {
			return n, io.EOF
		}
		data, err := c.chunk(off / ChunkSize)
		if err != nil {
			return n, err
		}
		i := int(off % ChunkSize)
		if i >= len(data) {
			return n, io.ErrUnexpectedEOF
		}
		k := copy(p[n:], data[i:])
		n += k
		off += int64(k)
	}
	return n, nil
}

// CreateSubscription implements store.Store.
func (s *Store) CreateSubscription(ctx context.Context, sub *store.Subscription) error {
	var filter any
	if len(sub.Filter) > 0 {
		filter = []byte(sub.Filter)
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO app_pkg_subscriptions (id, subscription_type, callback_uri, filter)
		VALUES ($1, $2, $3, $4) RETURNING created`, sub.ID, sub.SubscriptionType, sub.CallbackURI, filter).Scan(&sub.Created)
	if err != nil {
		return fmt.Errorf("create subscription %s: %w", sub.ID, mapErr(err))
	}
	return nil
}

const subCols = "id, subscription_type, callback_uri, filter, created"

func scanSub(row pgx.Row) (*store.Subscription, error) {
	var sub store.Subscription
	var filter []byte
	if err := row.Scan(&sub.ID, &sub.SubscriptionType, &sub.CallbackURI, &filter, &sub.Created); err != nil {
		return nil, mapErr(err)
	}
	if len(filter) > 0 {
		sub.Filter = filter
	}
	return &sub, nil
}

// GetSubscription implements store.Store.
func (s *Store) GetSubscription(ctx context.Context, id string) (*store.Subscription, error) {
	sub, err := scanSub(s.pool.QueryRow(ctx, "SELECT "+subCols+" FROM app_pkg_subscriptions WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("get subscription %s: %w", id, err)
	}
	return sub, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func listSubscriptions(ctx context.Context, q querier) ([]*store.Subscription, error) {
	rows, err := q.Query(ctx, "SELECT "+subCols+" FROM app_pkg_subscriptions ORDER BY pos")
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	defer rows.Close()
	var out []*store.Subscription
	for rows.Next() {
		sub, err := scanSub(rows)
		if err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		out = append(out, sub)
	}
	return out, rows.Err()
}

// ListSubscriptions implements store.Store.
func (s *Store) ListSubscriptions(ctx context.Context) ([]*store.Subscription, error) {
	return listSubscriptions(ctx, s.pool)
}

// DeleteSubscription implements store.Store.
func (s *Store) DeleteSubscription(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM app_pkg_subscriptions WHERE id = $1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		// Its queued notifications go with it.
		_, err = tx.Exec(ctx, "DELETE FROM outbox WHERE subscription_id = $1", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete subscription %s: %w", id, err)
	}
	return nil
}

// Secret returns the shared secret named name, creating it (size random bytes) on first
// use: every MEO process on the database gets the same one.
func (s *Store) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	// Two statements, not one: when another process inserts the key at the same time, the
	// INSERT waits for it and does nothing, and a SELECT in the same statement would still
	// read the snapshot from before its commit (no row). The SELECT after it takes a new one.
	var v []byte
	for range 3 {
		err := s.pool.QueryRow(ctx, `INSERT INTO meo_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value`, name, b).Scan(&v)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("secret %s: %w", name, err)
		}
		err = s.pool.QueryRow(ctx, `SELECT value FROM meo_meta WHERE key = $1`, name).Scan(&v)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) { // no row: removed in between, try once more
			return nil, fmt.Errorf("secret %s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("secret %s: inserted and removed again by other processes", name)
}
