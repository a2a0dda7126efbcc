//go:build integration

package pgstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
	"github.com/edgemec/edgemec/meo/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, router store.EventRouter) store.Store {
		s, err := pgstore.Open(t.Context(), pgtest.New(t), pgstore.Config{Router: router})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// Several processes starting at once on a fresh database migrate it exactly once.
func TestConcurrentMigrations(t *testing.T) {
	dsn := pgtest.New(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := pgstore.Open(context.Background(), dsn, pgstore.Config{})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	pool, err := pgxpool.New(t.Context(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	var n, v int
	require.NoError(t, pool.QueryRow(t.Context(), "SELECT count(*), max(version) FROM meo_schema_version").Scan(&n, &v))
	assert.Equal(t, pgstore.LatestVersion(), n)
	assert.Equal(t, pgstore.LatestVersion(), v)
}

func TestRefusesNewerSchema(t *testing.T) {
	dsn := pgtest.New(t)
	s, err := pgstore.Open(t.Context(), dsn, pgstore.Config{})
	require.NoError(t, err)
	_, err = s.Pool().Exec(t.Context(), "INSERT INTO meo_schema_version (version) VALUES ($1)", pgstore.LatestVersion()+1)
	require.NoError(t, err)
	s.Close()
	_, err = pgstore.Open(t.Context(), dsn, pgstore.Config{})
	require.ErrorIs(t, err, store.ErrSchemaNewer)
	assert.Contains(t, err.Error(), "upgrade the MEO")
}

// Events routed to subscriptions land in the outbox in the transaction of the change.
func TestOutboxRows(t *testing.T) {
	router := func(subs []*store.Subscription, events []store.Event) []store.Delivery {
		var out []store.Delivery
		for _, s := range subs {
			out = append(out, store.Delivery{SubscriptionID: s.ID, CallbackURI: s.CallbackURI, Body: []byte(events[0].Type)})
		}
		return out
	}
	s, err := pgstore.Open(t.Context(), pgtest.New(t), pgstore.Config{Router: router})
	require.NoError(t, err)
	defer s.Close()
	ctx := t.Context()
	require.NoError(t, s.CreateSubscription(ctx, &store.Subscription{ID: "s", SubscriptionType: "t", CallbackURI: "http://cb"}))
	require.NoError(t, s.CreatePackage(ctx, &store.Package{ID: "p", OnboardingState: store.Created}))
	_, err = s.UpdatePackage(ctx, "p", func(*store.Package) (store.Change, error) {
		return store.Change{Events: []store.Event{{Type: "E1"}}}, nil
	})
	require.NoError(t, err)
	var bodies []string
	rows, err := s.Pool().Query(ctx, "SELECT convert_from(body, 'UTF8') FROM outbox WHERE subscription_id = 's'")
	require.NoError(t, err)
	for rows.Next() {
		var b string
		require.NoError(t, rows.Scan(&b))
		bodies = append(bodies, b)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"E1"}, bodies)
}
