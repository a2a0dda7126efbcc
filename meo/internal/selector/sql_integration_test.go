//go:build integration

package selector_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo/internal/selector"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// corpusDB loads corpus into a fresh PostgreSQL table docs(id, doc jsonb, onboarding_state,
// app_name), the last two being text columns copied from the document for SQLColumns.
func corpusDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", pgtest.New(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	_, err = db.ExecContext(ctx, `CREATE TABLE docs (id text PRIMARY KEY, doc jsonb NOT NULL,
		onboarding_state text, app_name text)`)
	require.NoError(t, err)
	for _, s := range corpus {
		_, err := db.ExecContext(ctx, `INSERT INTO docs (id, doc, onboarding_state, app_name)
			SELECT d->>'id', d,
			       CASE WHEN jsonb_typeof(d->'onboardingState') = 'string' THEN d->>'onboardingState' END,
			       CASE WHEN jsonb_typeof(d->'appName') = 'string' THEN d->>'appName' END
			FROM (SELECT $1::text::jsonb AS d) s`, s)
		require.NoError(t, err)
	}
	return db
}

// sqlIDs runs the filter through SQLColumns with one argument already in place, so that the
// parameter numbering is checked too. ok is false when SQL reports ErrUnsupported.
func sqlIDs(t *testing.T, db *sql.DB, e selector.Expr, columns map[string]string) (ids []string, ok bool) {
	t.Helper()
	args := []any{1}
	frag, err := e.SQLColumns("doc", columns, &args)
	if errors.Is(err, selector.ErrUnsupported) {
		return nil, false
	}
	require.NoError(t, err)
	q := "SELECT id FROM docs WHERE $1::int = 1 AND " + frag + " ORDER BY id"
	rows, err := db.QueryContext(t.Context(), q, args...)
	require.NoError(t, err, "query %s %v", q, args)
	defer rows.Close()
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids, true
}

// TestSQLMatchCases: every Match case selects the same ids in PostgreSQL, except the
// timestamp orderings, which SQL declines.
func TestSQLMatchCases(t *testing.T) {
	db := corpusDB(t)
	docs := decode(t, true)
	declined := 0
	for _, tt := range matchCases {
		t.Run(tt.name, func(t *testing.T) {
			e, err := selector.ParseFilter(tt.filter)
			if err != nil {
				require.ErrorIs(t, err, selector.ErrInvalid, "only invalid filters fail; TestMatch covers them")
				return
			}
			got, ok := sqlIDs(t, db, e, nil)
			if !ok {
				declined++
				assert.True(t, strings.Contains(tt.name, "timestamp"), "SQL declined %s", tt.filter)
				return
			}
			assert.Equal(t, ids(docs, e), got, "SQL vs Match for %s", tt.filter)
			assert.Equal(t, tt.want, got, "SQL for %s", tt.filter)
		})
	}
	assert.Equal(t, 5, declined, "timestamp orderings declined")
}

var (
	allOps = []selector.Op{selector.OpEq, selector.OpNeq, selector.OpIn, selector.OpNin, selector.OpGt,
		selector.OpGte, selector.OpLt, selector.OpLte, selector.OpCont, selector.OpNcont}
	matrixPaths = []string{"id", "appName", "appProvider", "onboardingState", "size", "size2", "enabled", "tags",
		"softwareImages/name", "softwareImages/size", "softwareImages", "nested/x", "nested", "created",
		"userDefinedData/tier", "instantiatedAppState", "instantiatedAppState/operationalState", "missing/deeper"}
	matrixValues = []string{"10", "1e1", "100", "2.5", "-1", "0", "12345678901234567890", "true", "false", "null",
		"img-a", "edge", "video", "Video", "v", "", "a(b);c", "acme,inc", "it's", "é-app", "z", "%", "_", ".*",
		`\`, `"`, "ONBOARDED", "STARTED", "gold", "not a time", "2026"}
)

// TestSQLAgreesWithMatch: for every operator, path and value (and pairs of values for the
// list operators), PostgreSQL selects exactly the documents Match selects.
func TestSQLAgreesWithMatch(t *testing.T) {
	db := corpusDB(t)
	docs := decode(t, true)
	checked := 0
	for _, op := range allOps {
		for _, path := range matrixPaths {
			var lists [][]string
			for i, v := range matrixValues {
				lists = append(lists, []string{v})
				if op != selector.OpGt && op != selector.OpGte && op != selector.OpLt && op != selector.OpLte {
					lists = append(lists, []string{v, matrixValues[(i+7)%len(matrixValues)]})
				}
			}
			for _, vals := range lists {
				c := "(" + string(op) + "," + path
				for _, v := range vals {
					c += ",'" + strings.ReplaceAll(v, "'", "''") + "'"
				}
				filter := c + ")"
				e, err := selector.ParseFilter(filter)
				require.NoError(t, err, filter)
				got, ok := sqlIDs(t, db, e, nil)
				require.True(t, ok, "SQL declined %s", filter)
				if !assert.Equal(t, ids(docs, e), got, "SQL vs Match for %s", filter) {
					return
				}
				checked++
			}
		}
	}
	t.Logf("%d filters agree", checked)
	assert.Greater(t, checked, 5000)
}

// TestSQLColumnsAgreesWithMatch: attributes mapped to text columns select as the jsonb form.
func TestSQLColumnsAgreesWithMatch(t *testing.T) {
	db := corpusDB(t)
	docs := decode(t, true)
	columns := map[string]string{"onboardingState": "onboarding_state", "appName": "app_name"}
	for _, op := range allOps {
		for _, path := range []string{"onboardingState", "appName"} {
			for _, vals := range [][]string{{"ONBOARDED"}, {"video"}, {"b"}, {"z"}, {"it's"}, {""}, {"%"}, {"ide"},
				{"CREATED", "PROCESSING"}, {"ai", "é-app"}} {
				if len(vals) > 1 && (op == selector.OpGt || op == selector.OpGte || op == selector.OpLt || op == selector.OpLte) {
					continue
				}
				filter := fmt.Sprintf("(%s,%s", op, path)
				for _, v := range vals {
					filter += ",'" + strings.ReplaceAll(v, "'", "''") + "'"
				}
				filter += ");(neq,id,p6)"
				t.Run(filter, func(t *testing.T) {
					e, err := selector.ParseFilter(filter)
					require.NoError(t, err)
					args := []any{}
					frag, err := e.SQLColumns("doc", columns, &args)
					require.NoError(t, err)
					require.Contains(t, frag, columns[path], "mapped column used")
					got, ok := sqlIDs(t, db, e, columns)
					require.True(t, ok)
					assert.Equal(t, ids(docs, e), got)
				})
			}
		}
	}
}

// TestSQL10k: over 10,000 generated rows SQL selects what Match selects, and a mapped column
// is served by its index.
func TestSQL10k(t *testing.T) {
	db, err := sql.Open("pgx", pgtest.New(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	_, err = db.ExecContext(ctx, `CREATE TABLE docs (id text PRIMARY KEY, doc jsonb NOT NULL, onboarding_state text);
		INSERT INTO docs SELECT 'pkg-' || i, jsonb_build_object(
			'id', 'pkg-' || i, 'appName', 'app-' || (i % 100), 'size', i,
			'onboardingState', CASE WHEN i % 3 = 0 THEN 'CREATED' ELSE 'ONBOARDED' END,
			'softwareImages', jsonb_build_array(jsonb_build_object('name', 'img-' || (i % 7)), jsonb_build_object('name', 'sidecar'))),
			CASE WHEN i % 3 = 0 THEN 'CREATED' ELSE 'ONBOARDED' END
		FROM generate_series(0, 9999) i;
		CREATE INDEX docs_onboarding_state_idx ON docs (onboarding_state);
		ANALYZE docs`)
	require.NoError(t, err)

	var docs []map[string]any
	rows, err := db.QueryContext(ctx, `SELECT doc::text FROM docs`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		var d map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &d))
		docs = append(docs, d)
	}
	require.NoError(t, rows.Err())
	require.Len(t, docs, 10000)

	e, err := selector.ParseFilter("(eq,onboardingState,ONBOARDED);(in,softwareImages/name,img-3,img-5);(gte,size,100);(ncont,appName,-99)")
	require.NoError(t, err)
	want := 0
	for _, d := range docs {
		if e.Match(d) {
			want++
		}
	}
	columns := map[string]string{"onboardingState": "onboarding_state"}
	for _, cols := range []map[string]string{nil, columns} {
		var args []any
		where, err := e.SQLColumns("doc", cols, &args)
		require.NoError(t, err)
		start := time.Now()
		var got int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM docs WHERE "+where, args...).Scan(&got))
		t.Logf("columns=%v: %d of 10000 rows in %v", cols != nil, got, time.Since(start))
		assert.Equal(t, want, got)
	}

	var args []any
	where, err := selector.Expr{}.SQL("doc", &args)
	require.NoError(t, err)
	require.Equal(t, "TRUE", where)
	idx, err := selector.ParseFilter("(eq,onboardingState,CREATED)")
	require.NoError(t, err)
	where, err = idx.SQLColumns("doc", columns, &args)
	require.NoError(t, err)
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "SET enable_seqscan = off")
	require.NoError(t, err)
	var plan strings.Builder
	prow, err := conn.QueryContext(ctx, "EXPLAIN SELECT id FROM docs WHERE "+where, args...)
	require.NoError(t, err)
	for prow.Next() {
		var line string
		require.NoError(t, prow.Scan(&line))
		plan.WriteString(line + "\n")
	}
	require.NoError(t, prow.Err())
	assert.Contains(t, plan.String(), "docs_onboarding_state_idx", "plan:\n%s", plan.String())
}
