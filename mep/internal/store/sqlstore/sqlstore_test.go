package sqlstore_test

import (
	"path/filepath"
	"testing"

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
