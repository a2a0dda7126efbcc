package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// The app lifecycle records (migration 0003). Locks are always taken in the order package,
// instance, op occurrence, site, so that the lifecycle's transactions cannot deadlock one another;
// ClaimOps, which locks op occurrences first, skips locked rows and reads instances without
// a lock.

// InstanceColumns maps AppInstanceInfo attributes to the columns that hold them, so that
// filters on them use the columns (and their indexes). The string attributes kept only in the
// document are read with ->> (text, NULL when absent), cheaper than a JSON path; the name
// has an index on (doc ->> 'appInstanceName', pos) (migration 0007).
var InstanceColumns = map[string]string{
	"id":                                    "id",
	"appInstanceName":                       "doc ->> 'appInstanceName'",
	"appInstanceDescription":                "doc ->> 'appInstanceDescription'",
	"appProvider":                           "doc ->> 'appProvider'",
	"appName":                               "doc ->> 'appName'",
	"appSoftVersion":                        "doc ->> 'appSoftVersion'",
	"appDVersion":                           "doc ->> 'appDVersion'",
	"appDId":                                "app_d_id",
	"appPkgId":                              "app_pkg_id",
	"instantiationState":                    "instantiation_state",
	"instantiatedAppState/operationalState": "operational_state",
	"mecHostInformation/hostId":             "site_id",
}

// OpColumns maps AppInstanceLcmOpOcc attributes to their columns.
var OpColumns = map[string]string{
	"id":             "id",
	"operationState": "state",
	"lcmOperation":   "operation",
	"appInstanceId":  "app_instance_id",
	"siteId":         "site_id",
	"cancelMode":     "cancel_mode",
}

// never is the next attempt of an op occurrence that waits for a retry to be asked.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// instCols ends with the instance's traffic steering view (af_subscriptions), read by a
// scalar subquery so that every SELECT of instances carries it without a join.
var instCols = instSelect("doc", "observed", steeringView)

const steeringView = "(SELECT af.view FROM af_subscriptions af WHERE af.app_instance_id = app_instances.id)"

// instSelect is the select list of instances with the expressions for the document, the
// observation and the steering view.
func instSelect(doc, observed, steering string) string {
	return "id, pos, " + doc + ", coalesce(site_id, ''), resources, " + observed + ", app_ready, created, updated, " + steering
}

func scanInstance(row pgx.Row) (*store.AppInstance, int64, error) {
	var (
		in                 store.AppInstance
		pos                int64
		doc, res, observed []byte
		steering           []byte
	)
	if err := row.Scan(&in.ID, &pos, &doc, &in.SiteID, &res, &observed, &in.AppConfirmedReady, &in.Created, &in.Updated,
		&steering); err != nil {
		return nil, 0, mapErr(err)
	}
	row0 := in
	if err := json.Unmarshal(doc, &in); err != nil {
		return nil, 0, fmt.Errorf("app instance %s: decode: %w", row0.ID, err)
	}
	in.ID, in.SiteID, in.AppConfirmedReady, in.Created, in.Updated = row0.ID, row0.SiteID, row0.AppConfirmedReady, row0.Created, row0.Updated
	if len(res) > 0 {
		if err := json.Unmarshal(res, &in.Resources); err != nil {
			return nil, 0, fmt.Errorf("app instance %s: decode resources: %w", in.ID, err)
		}
	}
	if len(observed) > 0 {
		in.Observed = observed
	}
	if len(steering) > 0 {
		in.Steering = steering
	}
	return &in, pos, nil
}

func nullRaw(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func instanceArgs(in *store.AppInstance) ([]any, error) {
	doc, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var op any
	if in.InstantiatedAppState != nil {
		op = in.InstantiatedAppState.OperationalState
	}
	var res any
	if in.SiteID != "" {
		b, err := json.Marshal(in.Resources)
		if err != nil {
			return nil, err
		}
		res = b
	}
	return []any{in.ID, in.AppDID, in.AppPkgID, in.InstantiationState, op, in.SiteID, res, nullRaw(in.Observed), doc,
		in.AppConfirmedReady}, nil
}

func insertInstance(ctx context.Context, tx pgx.Tx, in *store.AppInstance) error {
	args, err := instanceArgs(in)
	if err != nil {
		return err
	}
	return tx.QueryRow(ctx, `INSERT INTO app_instances (id, app_d_id, app_pkg_id, instantiation_state, operational_state,
		site_id, resources, observed, doc, app_ready) VALUES ($1, $2, $3, $4, $5, nullif($6, ''), $7, $8, $9, $10)
		RETURNING created, updated`,
		args...).Scan(&in.Created, &in.Updated)
}

func writeInstance(ctx context.Context, tx pgx.Tx, in *store.AppInstance) error {
	args, err := instanceArgs(in)
	if err != nil {
		return err
	}
	return tx.QueryRow(ctx, `UPDATE app_instances SET app_d_id = $2, app_pkg_id = $3, instantiation_state = $4,
		operational_state = $5, site_id = nullif($6, ''), resources = $7, observed = $8, doc = $9, app_ready = $10,
		updated = now()
		WHERE id = $1 RETURNING updated`, args...).Scan(&in.Updated)
}

func lockInstance(ctx context.Context, tx pgx.Tx, id string) (*store.AppInstance, error) {
	in, _, err := scanInstance(tx.QueryRow(ctx, "SELECT "+instCols+" FROM app_instances WHERE id = $1 FOR UPDATE", id))
	return in, err
}

var opCols = opSelect("doc")

// opSelect is the select list of op occurrences with the expression for the document.
func opSelect(doc string) string {
	return "id, pos, " + doc + `, task, placement, coalesce(site_id, ''), coalesce(claimed_by, ''),
	coalesce(lease_until, 'epoch'::timestamptz), next_attempt`
}

func scanOp(row pgx.Row) (*store.OpOcc, int64, error) {
	var (
		op              store.OpOcc
		pos             int64
		doc, task, preq []byte
	)
	if err := row.Scan(&op.ID, &pos, &doc, &task, &preq, &op.SiteID, &op.ClaimedBy, &op.LeaseUntil, &op.NextAttempt); err != nil {
		return nil, 0, mapErr(err)
	}
	row0 := op
	if err := json.Unmarshal(doc, &op); err != nil {
		return nil, 0, fmt.Errorf("op occurrence %s: decode: %w", row0.ID, err)
	}
	op.ID, op.SiteID, op.ClaimedBy, op.LeaseUntil, op.NextAttempt = row0.ID, row0.SiteID, row0.ClaimedBy, row0.LeaseUntil, row0.NextAttempt
	if len(task) > 0 {
		op.Task = task
	}
	if len(preq) > 0 {
		op.PlacementRequest = preq
	}
	if op.NextAttempt.Equal(never) {
		op.NextAttempt = time.Time{}
	}
	if op.ClaimedBy == "" {
		op.LeaseUntil = time.Time{}
	}
	return &op, pos, nil
}

func opArgs(op *store.OpOcc) ([]any, error) {
	doc, err := json.Marshal(op)
	if err != nil {
		return nil, err
	}
	next := op.NextAttempt
	if next.IsZero() {
		next = never
	}
	var lease any
	if op.ClaimedBy != "" {
		lease = op.LeaseUntil
	}
	var errDoc any
	if op.Error != nil {
		b, err := json.Marshal(op.Error)
		if err != nil {
			return nil, err
		}
		errDoc = b
	}
	var params any
	if len(op.OperationParams) > 0 {
		params = []byte(op.OperationParams)
	} else {
		params = []byte("{}")
	}
	return []any{op.ID, op.AppInstanceID, op.LcmOperation, op.OperationState, params, nullRaw(op.Task),
		op.SiteID, nullRaw(op.Placement), errDoc, op.CancelMode, op.Attempts, doc, op.ClaimedBy, lease, next,
		op.StartTime.Time(), op.StateEnteredTime.Time(), nullRaw(op.PlacementRequest)}, nil
}

func insertOp(ctx context.Context, tx pgx.Tx, op *store.OpOcc) error {
	args, err := opArgs(op)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO app_lcm_op_occs (id, app_instance_id, operation, state, request, task, site_id,
		decision, error, cancel_mode, attempts, doc, claimed_by, lease_until, next_attempt, started, state_entered, placement)
		VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''), $8, $9, nullif($10, ''), $11, $12, nullif($13, ''), $14, $15, $16, $17, $18)`,
		args...)
	return err
}

func writeOp(ctx context.Context, tx pgx.Tx, op *store.OpOcc) error {
	args, err := opArgs(op)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE app_lcm_op_occs SET app_instance_id = $2, operation = $3, state = $4, request = $5,
		task = $6, site_id = nullif($7, ''), decision = $8, error = $9, cancel_mode = nullif($10, ''), attempts = $11,
		doc = $12, claimed_by = nullif($13, ''), lease_until = $14, next_attempt = $15, started = $16, state_entered = $17,
		placement = $18 WHERE id = $1`, args...)
	return err
}

// activeOp returns the instance's op occurrence that has not ended for good, or nil.
func activeOp(ctx context.Context, tx pgx.Tx, instanceID string) (*store.OpOcc, error) {
	op, _, err := scanOp(tx.QueryRow(ctx, "SELECT "+opCols+` FROM app_lcm_op_occs
		WHERE app_instance_id = $1 AND state IN ('STARTING', 'PROCESSING', 'FAILED_TEMP')`, instanceID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return op, err
}

// setUsage marks the locked package IN_USE or NOT_IN_USE.
func setUsage(ctx context.Context, tx pgx.Tx, p *store.Package, inUse bool) error {
	want := store.NotInUse
	if inUse {
		want = store.InUse
	}
	if p.UsageState == want {
		return nil
	}
	p.UsageState = want
	return writePackage(ctx, tx, p)
}

// CreateAppInstance locks the onboarded package of appDID, runs fn on it and inserts the
// instance fn returns, marks the package IN_USE and queues the change's events, in one
// transaction. It returns store.ErrNotFound when no package with the appDId is onboarded.
func (s *Store) CreateAppInstance(ctx context.Context, appDID string,
	fn func(p *store.Package) (*store.AppInstance, store.LCMChange, error)) (*store.AppInstance, error) {
	var out *store.AppInstance
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		p, _, err := scanPackage(tx.QueryRow(ctx, "SELECT "+fullCols+
			" FROM app_packages WHERE app_d_id = $1 AND onboarding = 'ONBOARDED' FOR UPDATE", appDID), true)
		if err != nil {
			return err
		}
		in, ch, err := fn(p)
		if err != nil {
			return err
		}
		if err := insertInstance(ctx, tx, in); err != nil {
			return mapErr(err)
		}
		if err := setUsage(ctx, tx, p, true); err != nil {
			return err
		}
		out = in
		return s.enqueueLCM(ctx, tx, ch.Events)
	})
	if err != nil {
		return nil, fmt.Errorf("create app instance of %s: %w", appDID, err)
	}
	return out, nil
}

// GetAppInstance returns the app instance.
func (s *Store) GetAppInstance(ctx context.Context, id string) (*store.AppInstance, error) {
	in, _, err := scanInstance(s.pool.QueryRow(ctx, "SELECT "+instCols+" FROM app_instances WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("get app instance %s: %w", id, err)
	}
	return in, nil
}

// listMode runs the list queries (and the usage of a page of sites) as unnamed statements,
// which PostgreSQL plans with the values of their parameters every time. A cached prepared
// statement goes over to a generic plan after a few runs, and a generic plan cannot tell a
// filter that keeps 1 % of the rows (operationState FAILED, an array of 200 site ids) from
// one that keeps 99 %: it walks the rows in page order and filters, tens of milliseconds
// on 100,000 instances, where the custom plan reads the matching rows from an index.
const listMode = pgx.QueryExecModeExec

// omitted splits the attributes a list leaves out into those of the document, in a
// parameter appended to args, and the rendered ones of the set render. The document
// expression is doc less the former.
func omitted(omit []string, rendered map[string]bool, args *[]any) (doc string, out map[string]bool) {
	var inDoc []string
	for _, name := range omit {
		if rendered[name] {
			if out == nil {
				out = map[string]bool{}
			}
			out[name] = true
			continue
		}
		inDoc = append(inDoc, name)
	}
	if len(inDoc) == 0 {
		return "doc", out
	}
	*args = append(*args, inDoc)
	return "doc - $" + strconv.Itoa(len(*args)) + "::text[]", out
}

// instList is the select list of an instance list that leaves out omit: the document less
// the omitted attributes, and NULL for the observation (observedState) and the steering view
// (trafficSteering) when they are omitted.
func instList(omit []string, args *[]any) string {
	doc, out := omitted(omit, map[string]bool{"observedState": true, "trafficSteering": true}, args)
	observed, steering := "observed", steeringView
	if out["observedState"] {
		observed = "NULL::jsonb"
	}
	if out["trafficSteering"] {
		steering = "NULL::jsonb"
	}
	return instSelect(doc, observed, steering)
}

// opList is the select list of an op occurrence list that leaves out omit.
func opList(omit []string, args *[]any) string {
	doc, _ := omitted(omit, nil, args)
	return opSelect(doc)
}

// list runs a paged, filtered query over table and hands each row to scan.
func (s *Store) list(ctx context.Context, table string, cols func(omit []string, args *[]any) string,
	columns map[string]string, q store.LCMListQuery,
	scan func(pgx.Row) (int64, error)) (int64, error) {
	args := []any{q.After}
	where := []string{"pos > $1"}
	if q.Filter != nil {
		cond, err := q.Filter.SQLColumns("doc", columns, &args)
		if err != nil {
			return 0, err
		}
		if cond != "" {
			where = append(where, "("+cond+")")
		}
	}
	sql := "SELECT " + cols(q.Omit, &args) + " FROM " + table + " WHERE " + strings.Join(where, " AND ") + " ORDER BY pos"
	if q.Limit > 0 {
		sql += " LIMIT " + strconv.Itoa(q.Limit+1)
	}
	rows, err := s.pool.Query(ctx, sql, append([]any{listMode}, args...)...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int
	var last, next int64
	for rows.Next() {
		if q.Limit > 0 && n == q.Limit {
			next = last
			break
		}
		pos, err := scan(rows)
		if err != nil {
			return 0, err
		}
		n++
		last = pos
	}
	return next, rows.Err()
}

// ListAppInstances returns app instances in creation order.
func (s *Store) ListAppInstances(ctx context.Context, q store.LCMListQuery) (store.InstancePage, error) {
	var page store.InstancePage
	next, err := s.list(ctx, "app_instances", instList, InstanceColumns, q, func(r pgx.Row) (int64, error) {
		in, pos, err := scanInstance(r)
		if err == nil {
			page.Instances = append(page.Instances, in)
		}
		return pos, err
	})
	if err != nil {
		return store.InstancePage{}, fmt.Errorf("list app instances: %w", err)
	}
	page.Next = next
	return page, nil
}

// DeleteAppInstance locks the instance, runs check with its active op occurrence (nil when
// none) and, when check returns nil, deletes it, marks its package NOT_IN_USE if it was the
// package's last instance, and queues the change's events.
func (s *Store) DeleteAppInstance(ctx context.Context, id string,
	check func(in *store.AppInstance, active *store.OpOcc) (store.LCMChange, error)) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		in, err := lockInstance(ctx, tx, id)
		if err != nil {
			return err
		}
		active, err := activeOp(ctx, tx, id)
		if err != nil {
			return err
		}
		ch, err := check(in, active)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM app_instances WHERE id = $1", id); err != nil {
			return err
		}
		p, err := lockPackage(ctx, tx, in.AppPkgID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			var left bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM app_instances WHERE app_pkg_id = $1)", p.ID).Scan(&left); err != nil {
				return err
			}
			if err := setUsage(ctx, tx, p, left); err != nil {
				return err
			}
		}
		return s.enqueueLCM(ctx, tx, ch.Events)
	})
	if err != nil {
		return fmt.Errorf("delete app instance %s: %w", id, err)
	}
	return nil
}

// ObserveAppInstance records what the instance's site reports of it. The observation counts
// only from the site the instance is placed on (its "siteId" member): a VIM shared by several
// sites, or a site the instance left, reports instances that are not its own. An unknown id,
// or one on another site, is ignored.
func (s *Store) ObserveAppInstance(ctx context.Context, id string, observed json.RawMessage) error {
	if _, err := s.pool.Exec(ctx, `UPDATE app_instances SET observed = $2
		WHERE id = $1 AND site_id = $2::jsonb->>'siteId'`, id, []byte(observed)); err != nil {
		return fmt.Errorf("observe app instance %s: %w", id, err)
	}
	return nil
}

// StartOp locks the instance, runs fn with it and its active op occurrence (nil when none),
// and inserts the op occurrence fn returns, writing the instance back and queuing the events
// when the change says so. A second op occurrence of the instance that has not ended for
// good is refused by the database (the one-active-op index) with store.ErrActiveOp.
func (s *Store) StartOp(ctx context.Context, instanceID string,
	fn func(in *store.AppInstance, active *store.OpOcc) (*store.OpOcc, store.LCMChange, error)) (*store.OpOcc, error) {
	var out *store.OpOcc
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		in, err := lockInstance(ctx, tx, instanceID)
		if err != nil {
			return err
		}
		active, err := activeOp(ctx, tx, instanceID)
		if err != nil {
			return err
		}
		op, ch, err := fn(in, active)
		if err != nil {
			return err
		}
		if err := insertOp(ctx, tx, op); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "app_lcm_op_occs_one_active" {
				return store.ErrActiveOp
			}
			return mapErr(err)
		}
		if ch.WriteInstance {
			if err := writeInstance(ctx, tx, in); err != nil {
				return err
			}
		}
		out = op
		return s.enqueueLCM(ctx, tx, ch.Events)
	})
	if err != nil {
		return nil, fmt.Errorf("start operation on app instance %s: %w", instanceID, err)
	}
	return out, nil
}

// UpdateOp locks the op occurrence's instance (nil if it is gone) and the op occurrence,
// runs fn, and writes the op occurrence, the instance when the change says so, and queues
// the events.
func (s *Store) UpdateOp(ctx context.Context, id string,
	fn func(op *store.OpOcc, in *store.AppInstance) (store.LCMChange, error)) (*store.OpOcc, error) {
	return s.updateOp(ctx, id, "", func(op *store.OpOcc, in *store.AppInstance, _ store.SiteLoad) (store.LCMChange, error) {
		return fn(op, in)
	})
}

// PlaceOp is UpdateOp for the placement of an op occurrence on siteID: after the instance
// and the op occurrence it locks the site's row, so that the placements on one site commit
// one after the other whichever MEO process makes them, and it hands fn the site's load
// (its allocatable resources and what the other instances on it commit) as of that lock.
// A site not in the inventory has no known capacity.
func (s *Store) PlaceOp(ctx context.Context, id, siteID string,
	fn func(op *store.OpOcc, in *store.AppInstance, load store.SiteLoad) (store.LCMChange, error)) (*store.OpOcc, error) {
	if siteID == "" {
		return nil, fmt.Errorf("place op occurrence %s: no site", id)
	}
	return s.updateOp(ctx, id, siteID, fn)
}

// siteResources are the resources committed per site: each instance's on the site it is
// placed on, and again on the site its relocation in progress goes to (both copies run
// until the relocation completes). Columns: site_id, id, app_d_id, resources.
const siteResources = `SELECT site_id, id, app_d_id, resources FROM app_instances WHERE site_id IS NOT NULL
	UNION ALL
	SELECT o.site_id, i.id, i.app_d_id, i.resources FROM app_lcm_op_occs o JOIN app_instances i ON i.id = o.app_instance_id
	WHERE o.state IN ('STARTING', 'PROCESSING', 'FAILED_TEMP') AND o.site_id IS NOT NULL AND o.operation = 'INSTANTIATE'
	  AND i.instantiation_state = 'INSTANTIATED' AND i.site_id IS DISTINCT FROM o.site_id`

// siteLoad locks the site's row and sums what the instances on it other than exclude
// commit.
func siteLoad(ctx context.Context, tx pgx.Tx, siteID, exclude string) (store.SiteLoad, error) {
	var capDoc []byte
	err := tx.QueryRow(ctx, "SELECT capacity FROM sites WHERE id = $1 FOR UPDATE", siteID).Scan(&capDoc)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return store.SiteLoad{}, err
	}
	load := store.SiteLoad{SiteID: siteID}
	if len(capDoc) > 0 {
		var c vim.Capabilities
		if err := json.Unmarshal(capDoc, &c); err != nil {
			return store.SiteLoad{}, fmt.Errorf("site %s: decode capacity: %w", siteID, err)
		}
		load.Allocatable, load.Known = c.Allocatable, true
	}
	err = tx.QueryRow(ctx, `SELECT count(*),
		coalesce(sum((resources->>'milliCPU')::bigint), 0),
		coalesce(sum((resources->>'memoryBytes')::bigint), 0),
		coalesce(sum((resources->>'pods')::bigint), 0)
		FROM (`+siteResources+`) u WHERE site_id = $1 AND id <> $2`, siteID, exclude).
		Scan(&load.Instances, &load.Committed.MilliCPU, &load.Committed.MemoryBytes, &load.Committed.Pods)
	return load, err
}

func (s *Store) updateOp(ctx context.Context, id, siteID string,
	fn func(op *store.OpOcc, in *store.AppInstance, load store.SiteLoad) (store.LCMChange, error)) (*store.OpOcc, error) {
	var out *store.OpOcc
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var instID string
		if err := tx.QueryRow(ctx, "SELECT app_instance_id FROM app_lcm_op_occs WHERE id = $1", id).Scan(&instID); err != nil {
			return mapErr(err)
		}
		in, err := lockInstance(ctx, tx, instID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		op, _, err := scanOp(tx.QueryRow(ctx, "SELECT "+opCols+" FROM app_lcm_op_occs WHERE id = $1 FOR UPDATE", id))
		if err != nil {
			return err
		}
		var load store.SiteLoad
		if siteID != "" {
			if load, err = siteLoad(ctx, tx, siteID, instID); err != nil {
				return err
			}
		}
		ch, err := fn(op, in, load)
		if err != nil {
			return err
		}
		if err := writeOp(ctx, tx, op); err != nil {
			return mapErr(err)
		}
		if ch.WriteInstance && in != nil {
			if err := writeInstance(ctx, tx, in); err != nil {
				return err
			}
		}
		out = op
		return s.enqueueLCM(ctx, tx, ch.Events)
	})
	if err != nil {
		return nil, fmt.Errorf("update op occurrence %s: %w", id, err)
	}
	return out, nil
}

// GetOp returns the op occurrence.
func (s *Store) GetOp(ctx context.Context, id string) (*store.OpOcc, error) {
	op, _, err := scanOp(s.pool.QueryRow(ctx, "SELECT "+opCols+" FROM app_lcm_op_occs WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("get op occurrence %s: %w", id, err)
	}
	return op, nil
}

// ListOps returns op occurrences in creation order.
func (s *Store) ListOps(ctx context.Context, q store.LCMListQuery) (store.OpPage, error) {
	var page store.OpPage
	next, err := s.list(ctx, "app_lcm_op_occs", opList, OpColumns, q, func(r pgx.Row) (int64, error) {
		op, pos, err := scanOp(r)
		if err == nil {
			page.Ops = append(page.Ops, op)
		}
		return pos, err
	})
	if err != nil {
		return store.OpPage{}, fmt.Errorf("list op occurrences: %w", err)
	}
	page.Next = next
	return page, nil
}

// ClaimOps leases to holder, until now+lease, up to n op occurrences that are due (STARTING
// or PROCESSING, or FAILED_TEMP whose retry time has come) and that no live holder leases,
// oldest first, skipping rows other transactions hold; it renews holder's leases on those it
// holds already. fn runs on each newly leased op occurrence (with its instance, read without
// a lock, nil if gone) and may change it (a FAILED_TEMP one moves back to STARTING or
// PROCESSING); the instance is never written. It returns the newly leased op occurrences.
func (s *Store) ClaimOps(ctx context.Context, holder string, lease time.Duration, n int,
	fn func(op *store.OpOcc, in *store.AppInstance) (store.LCMChange, error)) ([]*store.OpOcc, error) {
	var out []*store.OpOcc
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE app_lcm_op_occs SET lease_until = now() + $2::interval
			WHERE claimed_by = $1 AND state IN ('STARTING', 'PROCESSING')`, holder, lease.String()); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT "+opCols+` FROM app_lcm_op_occs
			WHERE state IN ('STARTING', 'PROCESSING', 'FAILED_TEMP') AND next_attempt <= now()
			  AND (claimed_by IS NULL OR (claimed_by <> $1 AND lease_until < now()))
			ORDER BY pos LIMIT $2 FOR UPDATE SKIP LOCKED`, holder, n)
		if err != nil {
			return err
		}
		var ops []*store.OpOcc
		for rows.Next() {
			op, _, err := scanOp(rows)
			if err != nil {
				rows.Close()
				return err
			}
			ops = append(ops, op)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var events []store.LCMEvent
		var now time.Time
		if len(ops) > 0 {
			if err := tx.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
				return err
			}
		}
		for _, op := range ops {
			in, _, err := scanInstance(tx.QueryRow(ctx, "SELECT "+instCols+" FROM app_instances WHERE id = $1", op.AppInstanceID))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			ch, err := fn(op, in)
			if err != nil {
				return err
			}
			op.ClaimedBy, op.LeaseUntil = holder, now.Add(lease)
			if err := writeOp(ctx, tx, op); err != nil {
				return err
			}
			events = append(events, ch.Events...)
		}
		out = ops
		return s.enqueueLCM(ctx, tx, events)
	})
	if err != nil {
		return nil, fmt.Errorf("claim op occurrences: %w", err)
	}
	return out, nil
}

// RenewOps extends holder's leases and returns the ids of the op occurrences it holds (held)
// and of those among them on which a cancel is pending.
func (s *Store) RenewOps(ctx context.Context, holder string, lease time.Duration) (held, cancelled []string, err error) {
	rows, err := s.pool.Query(ctx, `UPDATE app_lcm_op_occs SET lease_until = now() + $2::interval
		WHERE claimed_by = $1 AND state IN ('STARTING', 'PROCESSING')
		RETURNING id, (doc->>'isCancelPending')::boolean`, holder, lease.String())
	if err != nil {
		return nil, nil, fmt.Errorf("renew op occurrence leases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var pending *bool
		if err := rows.Scan(&id, &pending); err != nil {
			return nil, nil, fmt.Errorf("renew op occurrence leases: %w", err)
		}
		held = append(held, id)
		if pending != nil && *pending {
			cancelled = append(cancelled, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("renew op occurrence leases: %w", err)
	}
	return held, cancelled, nil
}

// ReleaseOps drops holder's leases.
func (s *Store) ReleaseOps(ctx context.Context, holder string) error {
	if _, err := s.pool.Exec(ctx, "UPDATE app_lcm_op_occs SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = $1", holder); err != nil {
		return fmt.Errorf("release op occurrence leases: %w", err)
	}
	return nil
}

// DeployedTasks returns, for the instances INSTANTIATED on the site with no TERMINATE in
// progress, the task of the INSTANTIATE that put each there (the latest completed one). An
// INSTANTIATE in progress on an INSTANTIATED instance is its relocation, which removes the
// copy on the site: the instance leaves the list before that starts.
func (s *Store) DeployedTasks(ctx context.Context, siteID string) ([]json.RawMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (i.id) o.task FROM app_instances i
		JOIN app_lcm_op_occs o ON o.app_instance_id = i.id AND o.operation = 'INSTANTIATE' AND o.state = 'COMPLETED'
		WHERE i.site_id = $1 AND i.instantiation_state = 'INSTANTIATED' AND o.task IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM app_lcm_op_occs t WHERE t.app_instance_id = i.id
		                  AND t.operation IN ('TERMINATE', 'INSTANTIATE') AND t.state IN ('STARTING', 'PROCESSING', 'FAILED_TEMP'))
		ORDER BY i.id, o.pos DESC`, siteID)
	if err != nil {
		return nil, fmt.Errorf("deployed tasks of site %s: %w", siteID, err)
	}
	tasks, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("deployed tasks of site %s: %w", siteID, err)
	}
	out := make([]json.RawMessage, len(tasks))
	for i, t := range tasks {
		out[i] = t
	}
	return out, nil
}

// CreateLCMSubscription inserts sub; ID must be set.
func (s *Store) CreateLCMSubscription(ctx context.Context, sub *store.LCMSubscription) error {
	err := s.pool.QueryRow(ctx, `INSERT INTO app_lcm_subscriptions (id, subscription_type, callback_uri, filter)
		VALUES ($1, $2, $3, $4) RETURNING created`, sub.ID, sub.SubscriptionType, sub.CallbackURI, nullRaw(sub.Filter)).Scan(&sub.Created)
	if err != nil {
		return fmt.Errorf("create lcm subscription %s: %w", sub.ID, mapErr(err))
	}
	return nil
}

const lcmSubCols = "id, subscription_type, callback_uri, filter, created"

func scanLCMSub(row pgx.Row) (*store.LCMSubscription, error) {
	var sub store.LCMSubscription
	var filter []byte
	if err := row.Scan(&sub.ID, &sub.SubscriptionType, &sub.CallbackURI, &filter, &sub.Created); err != nil {
		return nil, mapErr(err)
	}
	if len(filter) > 0 {
		sub.Filter = filter
	}
	return &sub, nil
}

// GetLCMSubscription returns the LCM subscription.
func (s *Store) GetLCMSubscription(ctx context.Context, id string) (*store.LCMSubscription, error) {
	sub, err := scanLCMSub(s.pool.QueryRow(ctx, "SELECT "+lcmSubCols+" FROM app_lcm_subscriptions WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("get lcm subscription %s: %w", id, err)
	}
	return sub, nil
}

func listLCMSubscriptions(ctx context.Context, q querier) ([]*store.LCMSubscription, error) {
	rows, err := q.Query(ctx, "SELECT "+lcmSubCols+" FROM app_lcm_subscriptions ORDER BY pos")
	if err != nil {
		return nil, fmt.Errorf("list lcm subscriptions: %w", err)
	}
	defer rows.Close()
	var out []*store.LCMSubscription
	for rows.Next() {
		sub, err := scanLCMSub(rows)
		if err != nil {
			return nil, fmt.Errorf("list lcm subscriptions: %w", err)
		}
		out = append(out, sub)
	}
	return out, rows.Err()
}

// ListLCMSubscriptions returns every LCM subscription in creation order.
func (s *Store) ListLCMSubscriptions(ctx context.Context) ([]*store.LCMSubscription, error) {
	return listLCMSubscriptions(ctx, s.pool)
}

// DeleteLCMSubscription deletes the LCM subscription and its queued notifications.
func (s *Store) DeleteLCMSubscription(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM app_lcm_subscriptions WHERE id = $1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		_, err = tx.Exec(ctx, "DELETE FROM outbox WHERE subscription_id = $1", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete lcm subscription %s: %w", id, err)
	}
	return nil
}

// enqueueLCM routes LCM events to the LCM subscriptions and queues the notifications.
func (s *Store) enqueueLCM(ctx context.Context, tx pgx.Tx, events []store.LCMEvent) error {
	if len(events) == 0 || s.cfg.LCMRouter == nil {
		return nil
	}
	subs, err := listLCMSubscriptions(ctx, tx)
	if err != nil {
		return err
	}
	if len(subs) == 0 {
		return nil
	}
	return s.queue(ctx, tx, s.cfg.LCMRouter(subs, events))
}
