package pgstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Leases are the per-site leases in the site_leases table: at most one holder (an MEO
// process) per site at a time. A lease lasts until lease_until unless its holder renews it;
// once it has lapsed any holder may take it. Times are the database's clock (now()), so
// the processes' clocks need not agree.
type Leases struct {
	pool *pgxpool.Pool
}

// NewLeases returns the Leases on pool.
func NewLeases(pool *pgxpool.Pool) *Leases { return &Leases{pool: pool} }

// Leases returns the store's site leases.
func (s *Store) Leases() *Leases { return NewLeases(s.pool) }

// Acquire takes, or renews, holder's lease until now+d on each of sites that no other
// holder holds with a lease still running, and returns the sites holder holds afterwards,
// sorted. One statement does it all: rows are locked in site order, so concurrent callers
// neither deadlock nor both win a site.
func (l *Leases) Acquire(ctx context.Context, holder string, sites []string, d time.Duration) ([]string, error) {
	if len(sites) == 0 {
		return nil, nil
	}
	ids := slices.Clone(sites)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := l.pool.Query(ctx, `INSERT INTO site_leases AS l (site_id, holder, lease_until)
		SELECT s, $2, now() + $3 * interval '1 millisecond' FROM unnest($1::text[]) AS s ORDER BY s
		ON CONFLICT (site_id) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until,
			acquired = CASE WHEN l.holder = excluded.holder THEN l.acquired ELSE now() END
		WHERE l.holder = excluded.holder OR l.lease_until < now()
		RETURNING site_id`, ids, holder, d.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("acquire site leases: %w", err)
	}
	defer rows.Close()
	var held []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("acquire site leases: %w", err)
		}
		held = append(held, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("acquire site leases: %w", err)
	}
	slices.Sort(held)
	return held, nil
}

// Release drops holder's leases on sites, or all of holder's leases when sites is nil, so
// that another holder takes them at once instead of after they lapse.
func (l *Leases) Release(ctx context.Context, holder string, sites []string) error {
	var err error
	if sites == nil {
		_, err = l.pool.Exec(ctx, "DELETE FROM site_leases WHERE holder = $1", holder)
	} else {
		_, err = l.pool.Exec(ctx, "DELETE FROM site_leases WHERE holder = $1 AND site_id = ANY($2)", holder, sites)
	}
	if err != nil {
		return fmt.Errorf("release site leases: %w", err)
	}
	return nil
}

// Holders returns the holder of each site whose lease has not lapsed.
func (l *Leases) Holders(ctx context.Context) (map[string]string, error) {
	rows, err := l.pool.Query(ctx, "SELECT site_id, holder FROM site_leases WHERE lease_until >= now()")
	if err != nil {
		return nil, fmt.Errorf("list site leases: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var site, holder string
		if err := rows.Scan(&site, &holder); err != nil {
			return nil, fmt.Errorf("list site leases: %w", err)
		}
		out[site] = holder
	}
	return out, rows.Err()
}
