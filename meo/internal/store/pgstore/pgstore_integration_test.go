//go:build integration

package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

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

// Events routed to subscriptions land in the outbox in the transaction of the change,
// claimed by the process that made it; a process whose claim lapsed loses its rows to
// another.
func TestOutbox(t *testing.T) {
	router := func(subs []*store.Subscription, events []store.Event) []store.Delivery {
		var out []store.Delivery
		for _, s := range subs {
			for _, e := range events {
				out = append(out, store.Delivery{SubscriptionID: s.ID, CallbackURI: s.CallbackURI, Body: []byte(e.Type)})
			}
		}
		return out
	}
	dsn := pgtest.New(t)
	var queued []pgstore.OutboxRow
	a, err := pgstore.Open(t.Context(), dsn, pgstore.Config{Router: router, Owner: "a", Lease: time.Hour,
		OnQueued: func(rs []pgstore.OutboxRow) { queued = append(queued, rs...) }})
	require.NoError(t, err)
	defer a.Close()
	b, err := pgstore.Open(t.Context(), dsn, pgstore.Config{Router: router, Owner: "b", Lease: time.Hour})
	require.NoError(t, err)
	defer b.Close()
	ctx := t.Context()
	require.NoError(t, a.CreateSubscription(ctx, &store.Subscription{ID: "s1", SubscriptionType: "t", CallbackURI: "http://cb/1"}))
	require.NoError(t, a.CreateSubscription(ctx, &store.Subscription{ID: "s2", SubscriptionType: "t", CallbackURI: "http://cb/2"}))
	require.NoError(t, a.CreatePackage(ctx, &store.Package{ID: "p", OnboardingState: store.Created}))

	// A refused change queues nothing.
	_, err = a.UpdatePackage(ctx, "p", func(*store.Package) (store.Change, error) {
		return store.Change{Events: []store.Event{{Type: "E0"}}}, errors.New("refused")
	})
	require.Error(t, err)
	assert.Empty(t, queued)

	_, err = a.UpdatePackage(ctx, "p", func(*store.Package) (store.Change, error) {
		return store.Change{Events: []store.Event{{Type: "E1"}}}, nil
	})
	require.NoError(t, err)
	require.Len(t, queued, 2)
	assert.Equal(t, "E1", string(queued[0].Body))
	assert.Equal(t, []string{"http://cb/1", "http://cb/2"}, []string{queued[0].CallbackURI, queued[1].CallbackURI})

	// B cannot take A's live claims.
	rows, err := b.ClaimOutbox(ctx)
	require.NoError(t, err)
	assert.Empty(t, rows)
	rows, err = a.ClaimOutbox(ctx)
	require.NoError(t, err)
	assert.Len(t, rows, 2)

	// A retry is recorded, a delivery finishes.
	due := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	require.NoError(t, a.SettleOutbox(ctx, []int64{queued[0].ID}, []pgstore.Retry{{ID: queued[1].ID, Attempts: 3, Due: due}}))
	require.NoError(t, a.SettleOutbox(ctx, []int64{queued[0].ID}, nil), "idempotent")
	rows, err = a.ClaimOutbox(ctx)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, 3, rows[0].Attempts)
	assert.WithinDuration(t, due, rows[0].Due, time.Millisecond)

	// A's claim lapses (A died): B takes the row over.
	_, err = a.Pool().Exec(ctx, "UPDATE outbox SET lease_until = now() - interval '1 second'")
	require.NoError(t, err)
	rows, err = b.ClaimOutbox(ctx)
	require.NoError(t, err)
	assert.Len(t, rows, 1)
	rows, err = a.ClaimOutbox(ctx)
	require.NoError(t, err)
	assert.Empty(t, rows)

	// Deleting a subscription drops its queued notifications.
	ids, err := b.SubscriptionIDs(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"s1": true, "s2": true}, ids)
	require.NoError(t, b.DeleteSubscription(ctx, "s2"))
	var n int
	require.NoError(t, b.Pool().QueryRow(ctx, "SELECT count(*) FROM outbox").Scan(&n))
	assert.Zero(t, n)
}
