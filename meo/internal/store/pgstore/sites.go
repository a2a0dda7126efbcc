package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/edgemec/edgemec/meo/internal/inventory/record"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

const siteColumns = `id, pos, name, labels, location, mep_endpoint, mep_token, mep_ca_cert, mp1_endpoint,
	vim_kind, vim_kubeconfig, vim_libvirt_uri, vim_libvirt_socket, generation, cordoned, draining,
	capacity, capacity_at, mep_health, vim_health, created, updated, five_g`

// siteDoc is a site as the inventory API shows it, as far as record.SiteFilterable lets a
// filter name it: the columns in the view's JSON shape (empty strings that the view leaves
// out are absent), for ETSI GS MEC 009 filters.
const siteDoc = `jsonb_strip_nulls(jsonb_build_object('id', id, 'name', name, 'labels', labels, 'location', location,
	'mep', jsonb_build_object('endpoint', mep_endpoint), 'mp1Endpoint', nullif(mp1_endpoint, ''),
	'vim', jsonb_build_object('kind', vim_kind, 'libvirtUri', nullif(vim_libvirt_uri, ''), 'libvirtSocket', nullif(vim_libvirt_socket, '')),
	'state', jsonb_build_object('schedulable', NOT cordoned, 'draining', draining, 'capacity', capacity,
		'mep', mep_health, 'vim', vim_health)))`

// siteFilterColumns are the filter attributes read from their own columns.
var siteFilterColumns = map[string]string{"id": "id", "name": "name", "mep/endpoint": "mep_endpoint", "vim/kind": "vim_kind"}

func scanSite(row pgx.Row) (*record.Site, error) {
	var (
		s                      record.Site
		labels, loc            []byte
		token, kubeconfig, cap []byte
		mh, vh                 []byte
		kind                   string
		fiveG                  []byte
	)
	if err := row.Scan(&s.ID, &s.Pos, &s.Name, &labels, &loc, &s.MEP.Endpoint, &token, &s.MEP.CACert, &s.MP1Endpoint,
		&kind, &kubeconfig, &s.VIM.LibvirtURI, &s.VIM.LibvirtSocket, &s.Generation, &s.Cordoned, &s.Draining,
		&cap, &s.CapacityAt, &mh, &vh, &s.Created, &s.Updated, &fiveG); err != nil {
		return nil, mapErr(err)
	}
	s.VIM.Kind = vim.Kind(kind)
	for _, f := range []struct {
		b []byte
		v any
	}{{labels, &s.Labels}, {loc, &s.Location}, {mh, &s.MEPHealth}, {vh, &s.VIMHealth}} {
		if len(f.b) > 0 {
			if err := json.Unmarshal(f.b, f.v); err != nil {
				return nil, fmt.Errorf("site %s: decode: %w", s.ID, err)
			}
		}
	}
	var err error
	if s.MEP.Token, err = unsealedJSON(token); err != nil {
		return nil, fmt.Errorf("site %s: mep token: %w", s.ID, err)
	}
	if s.VIM.Kubeconfig, err = unsealedJSON(kubeconfig); err != nil {
		return nil, fmt.Errorf("site %s: kubeconfig: %w", s.ID, err)
	}
	if len(fiveG) > 0 {
		s.FiveG = new(record.FiveG)
		if err := json.Unmarshal(fiveG, s.FiveG); err != nil {
			return nil, fmt.Errorf("site %s: 5G data: %w", s.ID, err)
		}
	}
	if len(cap) > 0 {
		s.Capacity = new(vim.Capabilities)
		if err := json.Unmarshal(cap, s.Capacity); err != nil {
			return nil, fmt.Errorf("site %s: capacity: %w", s.ID, err)
		}
	}
	return &s, nil
}

func unsealedJSON(b []byte) (*record.Sealed, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var s record.Sealed
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// nullJSON encodes v, or NULL for a nil pointer.
func nullJSON[T any](v *T) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// siteArgs are the values of every column but id, pos, created and updated, in siteColumns
// order.
func siteArgs(s *record.Site) ([]any, error) {
	labels := s.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	lb, err := json.Marshal(labels)
	if err != nil {
		return nil, err
	}
	loc, err := json.Marshal(s.Location)
	if err != nil {
		return nil, err
	}
	tok, err := nullJSON(s.MEP.Token)
	if err != nil {
		return nil, err
	}
	kc, err := nullJSON(s.VIM.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cp, err := nullJSON(s.Capacity)
	if err != nil {
		return nil, err
	}
	mh, err := json.Marshal(s.MEPHealth)
	if err != nil {
		return nil, err
	}
	vh, err := json.Marshal(s.VIMHealth)
	if err != nil {
		return nil, err
	}
	fg, err := nullJSON(s.FiveG)
	if err != nil {
		return nil, err
	}
	return []any{s.Name, lb, loc, s.MEP.Endpoint, tok, s.MEP.CACert, s.MP1Endpoint, string(s.VIM.Kind), kc,
		s.VIM.LibvirtURI, s.VIM.LibvirtSocket, s.Generation, s.Cordoned, s.Draining, cp, s.CapacityAt, mh, vh, fg}, nil
}

// CreateSite stores a new site; its first probe is due after probeIn. A site with the same id
// gives an error matching store.ErrConflict.
func (s *Store) CreateSite(ctx context.Context, site *record.Site, probeIn time.Duration) (*record.Site, error) {
	args, err := siteArgs(site)
	if err != nil {
		return nil, fmt.Errorf("create site %s: %w", site.ID, err)
	}
	args = append([]any{site.ID}, args...)
	args = append(args, probeIn)
	row := s.pool.QueryRow(ctx, `INSERT INTO sites (id, name, labels, location, mep_endpoint, mep_token, mep_ca_cert,
		mp1_endpoint, vim_kind, vim_kubeconfig, vim_libvirt_uri, vim_libvirt_socket, generation, cordoned, draining,
		capacity, capacity_at, mep_health, vim_health, five_g, probe_due)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, now() + $21::interval)
		RETURNING `+siteColumns, args...)
	out, err := scanSite(row)
	if err != nil {
		return nil, fmt.Errorf("create site %s: %w", site.ID, err)
	}
	return out, nil
}

// GetSite returns one site (store.ErrNotFound if there is none).
func (s *Store) GetSite(ctx context.Context, id string) (*record.Site, error) {
	out, err := scanSite(s.pool.QueryRow(ctx, `SELECT `+siteColumns+` FROM sites WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get site %s: %w", id, err)
	}
	return out, nil
}

// ListSites returns a page of sites in creation order.
func (s *Store) ListSites(ctx context.Context, q record.ListQuery) (record.Page, error) {
	sql := `SELECT ` + siteColumns + ` FROM sites WHERE pos > $1`
	args := []any{q.After}
	if len(q.Labels) > 0 {
		b, err := json.Marshal(q.Labels)
		if err != nil {
			return record.Page{}, err
		}
		args = append(args, string(b)) // text, which the server reads as jsonb (listMode)
		sql += ` AND labels @> $2`
	}
	if q.Filter != nil {
		cond, err := q.Filter.SQLColumns(siteDoc, siteFilterColumns, &args)
		if err != nil {
			return record.Page{}, fmt.Errorf("list sites: %w", err)
		}
		sql += ` AND (` + cond + `)`
	}
	sql += ` ORDER BY pos`
	if q.Limit > 0 {
		sql += fmt.Sprintf(` LIMIT %d`, q.Limit+1)
	}
	rows, err := s.pool.Query(ctx, sql, append([]any{listMode}, args...)...)
	if err != nil {
		return record.Page{}, fmt.Errorf("list sites: %w", err)
	}
	defer rows.Close()
	var page record.Page
	for rows.Next() {
		site, err := scanSite(rows)
		if err != nil {
			return record.Page{}, fmt.Errorf("list sites: %w", err)
		}
		page.Sites = append(page.Sites, site)
	}
	if err := rows.Err(); err != nil {
		return record.Page{}, fmt.Errorf("list sites: %w", err)
	}
	if q.Limit > 0 && len(page.Sites) > q.Limit {
		page.Sites = page.Sites[:q.Limit]
		page.Next = page.Sites[q.Limit-1].Pos
	}
	return page, nil
}

// UpdateSite reads a site under a row lock, lets change modify it, and writes it back in the
// same transaction; change's error aborts the update and is returned as is. The id, pos and
// created time cannot change; a Generation change is the caller's.
func (s *Store) UpdateSite(ctx context.Context, id string, change func(*record.Site) error) (*record.Site, error) {
	var out *record.Site
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		site, err := scanSite(tx.QueryRow(ctx, `SELECT `+siteColumns+` FROM sites WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if err := change(site); err != nil {
			return err
		}
		args, err := siteArgs(site)
		if err != nil {
			return err
		}
		args = append([]any{id}, args...)
		out, err = scanSite(tx.QueryRow(ctx, `UPDATE sites SET name = $2, labels = $3, location = $4, mep_endpoint = $5,
			mep_token = $6, mep_ca_cert = $7, mp1_endpoint = $8, vim_kind = $9, vim_kubeconfig = $10,
			vim_libvirt_uri = $11, vim_libvirt_socket = $12, generation = $13, cordoned = $14, draining = $15,
			capacity = $16, capacity_at = $17, mep_health = $18, vim_health = $19, five_g = $20, updated = now()
			WHERE id = $1 RETURNING `+siteColumns, args...))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update site %s: %w", id, err)
	}
	return out, nil
}

// DeleteSite removes a site. While an app instance is placed on it (app_instances.site_id)
// it fails with an error matching record.ErrInUse; a site that does not exist gives
// store.ErrNotFound. The site's row is locked first, so a concurrent update waits.
func (s *Store) DeleteSite(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var found string
		if err := tx.QueryRow(ctx, `SELECT id FROM sites WHERE id = $1 FOR UPDATE`, id).Scan(&found); err != nil {
			return mapErr(err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM app_instances WHERE site_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %d app instances are placed on it", record.ErrInUse, n)
		}
		_, err := tx.Exec(ctx, `DELETE FROM sites WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete site %s: %w", id, err)
	}
	return nil
}

// SiteIDs lists every site id in creation order.
func (s *Store) SiteIDs(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM sites ORDER BY pos`)
	if err != nil {
		return nil, fmt.Errorf("list site ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list site ids: %w", err)
	}
	return ids, nil
}

// ClaimProbes claims up to n sites whose probe is due and moves their next probe interval
// ahead. Replicas on one database skip each other's locked rows, so each due site is claimed
// by one of them per interval.
func (s *Store) ClaimProbes(ctx context.Context, n int, interval time.Duration) ([]*record.Site, error) {
	rows, err := s.pool.Query(ctx, `UPDATE sites SET probe_due = now() + $2::interval
		WHERE id IN (SELECT id FROM sites WHERE probe_due <= now() ORDER BY probe_due FOR UPDATE SKIP LOCKED LIMIT $1)
		RETURNING `+siteColumns, n, interval)
	if err != nil {
		return nil, fmt.Errorf("claim site probes: %w", err)
	}
	defer rows.Close()
	var out []*record.Site
	for rows.Next() {
		site, err := scanSite(rows)
		if err != nil {
			return nil, fmt.Errorf("claim site probes: %w", err)
		}
		out = append(out, site)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim site probes: %w", err)
	}
	return out, nil
}

// SaveProbe records a probe of a site made with the connection settings of generation. A
// probe of older settings (the site was changed meanwhile) is dropped; so is one of a site
// deleted meanwhile. The capacity is kept when the VIM did not answer.
func (s *Store) SaveProbe(ctx context.Context, id string, generation int64, p record.Probe) error {
	mh, err := json.Marshal(p.MEP)
	if err != nil {
		return err
	}
	vh, err := json.Marshal(p.VIM)
	if err != nil {
		return err
	}
	cp, err := nullJSON(p.Capacity)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `UPDATE sites SET mep_health = $3, vim_health = $4,
		capacity = coalesce($5, capacity), capacity_at = CASE WHEN $5::jsonb IS NULL THEN capacity_at ELSE $6 END
		WHERE id = $1 AND generation = $2`, id, generation, mh, vh, cp, p.At)
	if err != nil {
		return fmt.Errorf("save probe of site %s: %w", id, err)
	}
	return nil
}

// SiteUsage sums, per site, the resources of the app instances placed there (and of those
// whose relocation there is in progress) and counts them per appDId: for the sites named, or
// for every site when none is.
func (s *Store) SiteUsage(ctx context.Context, ids ...string) (map[string]record.Usage, error) {
	where, args := `true`, []any{}
	if len(ids) > 0 {
		where, args = `site_id = ANY($1)`, []any{ids}
	}
	rows, err := s.pool.Query(ctx, `SELECT site_id, app_d_id, count(*),
		coalesce(sum((resources->>'milliCPU')::bigint), 0),
		coalesce(sum((resources->>'memoryBytes')::bigint), 0),
		coalesce(sum((resources->>'pods')::bigint), 0)
		FROM (`+siteResources+`) u WHERE `+where+` GROUP BY site_id, app_d_id`, append([]any{listMode}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("site usage: %w", err)
	}
	defer rows.Close()
	out := map[string]record.Usage{}
	for rows.Next() {
		var (
			site, appD string
			n          int
			r          vim.Resources
		)
		if err := rows.Scan(&site, &appD, &n, &r.MilliCPU, &r.MemoryBytes, &r.Pods); err != nil {
			return nil, fmt.Errorf("site usage: %w", err)
		}
		u := out[site]
		if u.Instances == nil {
			u.Instances = map[string]int{}
		}
		u.Instances[appD] += n
		u.Committed.MilliCPU += r.MilliCPU
		u.Committed.MemoryBytes += r.MemoryBytes
		u.Committed.Pods += r.Pods
		out[site] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("site usage: %w", err)
	}
	return out, nil
}

// SiteHealth counts the sites by health: "healthy" (MEP and VIM answered the last probe),
// "unreachable" (one of them did not) and "unknown" (not probed yet).
func (s *Store) SiteHealth(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT CASE
		WHEN mep_health->'reachable' IS NULL OR vim_health->'reachable' IS NULL THEN 'unknown'
		WHEN (mep_health->>'reachable')::boolean AND (vim_health->>'reachable')::boolean THEN 'healthy'
		ELSE 'unreachable' END AS health, count(*) FROM sites GROUP BY 1`)
	if err != nil {
		return nil, fmt.Errorf("count sites by health: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			h string
			n int
		)
		if err := rows.Scan(&h, &n); err != nil {
			return nil, fmt.Errorf("count sites by health: %w", err)
		}
		out[h] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count sites by health: %w", err)
	}
	return out, nil
}
