// Package storetest is the contract suite every store.Store backend must pass. Backends call
// Run with a constructor that returns a fresh, empty store (and can reopen the same one, to
// check durability).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/internal/store"
)

// Opener returns a fresh empty store on first call for a test; reopen returns a new handle
// on the same data.
type Opener func(t *testing.T) (s store.Store, reopen func() store.Store)

// Run runs the contract suite.
func Run(t *testing.T, open Opener) {
	t.Run("put load delete", func(t *testing.T) {
		s, _ := open(t)
		ctx := t.Context()
		docs, err := s.LoadAll(ctx)
		require.NoError(t, err)
		require.Empty(t, docs)
		require.NoError(t, s.Apply(ctx, &store.Batch{Put: []store.Doc{
			{Kind: store.KindService, ID: "b", Body: []byte(`{"n":2}`)},
			{Kind: store.KindApp, ID: "a", Body: []byte(`{"n":1}`)},
		}}))
		docs, err = s.LoadAll(ctx)
		require.NoError(t, err)
		require.Equal(t, []store.Doc{
			{Kind: store.KindApp, ID: "a", Body: []byte(`{"n":1}`)},
			{Kind: store.KindService, ID: "b", Body: []byte(`{"n":2}`)},
		}, docs)
		// Upsert replaces; delete of a missing key is not an error.
		require.NoError(t, s.Apply(ctx, &store.Batch{
			Put:    []store.Doc{{Kind: store.KindApp, ID: "a", Body: []byte(`{"n":3}`)}},
			Delete: []store.Key{{Kind: store.KindService, ID: "b"}, {Kind: store.KindService, ID: "nope"}},
		}))
		docs, err = s.LoadAll(ctx)
		require.NoError(t, err)
		require.Equal(t, []store.Doc{{Kind: store.KindApp, ID: "a", Body: []byte(`{"n":3}`)}}, docs)
	})
	t.Run("same id in different kinds", func(t *testing.T) {
		s, _ := open(t)
		ctx := t.Context()
		require.NoError(t, s.Apply(ctx, &store.Batch{Put: []store.Doc{
			{Kind: store.KindApp, ID: "x", Body: []byte(`1`)}, {Kind: store.KindService, ID: "x", Body: []byte(`2`)},
		}}))
		docs, err := s.LoadAll(ctx)
		require.NoError(t, err)
		require.Len(t, docs, 2)
	})
	t.Run("meta", func(t *testing.T) {
		s, _ := open(t)
		ctx := t.Context()
		_, err := s.Meta(ctx, "k")
		require.True(t, errors.Is(err, store.ErrNotFound), "got %v; want ErrNotFound", err)
		require.NoError(t, s.Apply(ctx, &store.Batch{Meta: map[string]string{"k": "1"}}))
		require.NoError(t, s.Apply(ctx, &store.Batch{Meta: map[string]string{"k": "2"}}))
		v, err := s.Meta(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, "2", v)
	})
	t.Run("outbox", func(t *testing.T) {
		s, _ := open(t)
		ctx := t.Context()
		due := time.Unix(1700000000, 5)
		b := &store.Batch{Enqueue: []store.Notification{
			{SubscriptionID: "s1", URL: "http://a/", Body: []byte(`{"a":1}`), NextAt: due},
			{SubscriptionID: "s2", URL: "http://b/", Body: []byte(`{"b":1}`), NextAt: due},
			{SubscriptionID: "s3", URL: "http://c/", Body: []byte(`{"c":1}`), NextAt: due},
		}}
		require.NoError(t, s.Apply(ctx, b))
		require.Less(t, b.Enqueue[0].ID, b.Enqueue[1].ID, "ids must increase in enqueue order")
		require.Less(t, b.Enqueue[1].ID, b.Enqueue[2].ID)
		got, err := s.Pending(ctx, 2)
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, "s1", got[0].SubscriptionID)
		require.Equal(t, []byte(`{"a":1}`), got[0].Body)
		require.True(t, got[0].NextAt.Equal(due), "next_at %v; want %v", got[0].NextAt, due)
		retry := got[1]
		retry.Attempts, retry.NextAt = 3, due.Add(time.Minute)
		require.NoError(t, s.Settle(ctx, []int64{got[0].ID}, []store.Notification{retry}))
		got, err = s.Pending(ctx, 10)
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, "s2", got[0].SubscriptionID)
		require.Equal(t, 3, got[0].Attempts)
		require.True(t, got[0].NextAt.Equal(due.Add(time.Minute)))
	})
	t.Run("batch is atomic", func(t *testing.T) {
		s, _ := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := s.Apply(ctx, &store.Batch{Put: []store.Doc{{Kind: store.KindApp, ID: "a", Body: []byte(`1`)}},
			Enqueue: []store.Notification{{SubscriptionID: "s", URL: "u", Body: []byte(`x`)}}})
		require.Error(t, err, "apply with a cancelled context must fail")
		docs, err := s.LoadAll(t.Context())
		require.NoError(t, err)
		require.Empty(t, docs, "a failed batch must leave nothing behind")
		pend, err := s.Pending(t.Context(), 10)
		require.NoError(t, err)
		require.Empty(t, pend)
	})
	t.Run("durable across reopen", func(t *testing.T) {
		s, reopen := open(t)
		ctx := t.Context()
		require.NoError(t, s.Apply(ctx, &store.Batch{
			Put:     []store.Doc{{Kind: store.KindSubscription, ID: "sub-1", Body: []byte(`{"x":1}`)}},
			Meta:    map[string]string{"version": "7"},
			Enqueue: []store.Notification{{SubscriptionID: "s", URL: "http://x/", Body: []byte(`{}`)}},
		}))
		require.NoError(t, s.Close())
		s2 := reopen()
		docs, err := s2.LoadAll(ctx)
		require.NoError(t, err)
		require.Equal(t, []store.Doc{{Kind: store.KindSubscription, ID: "sub-1", Body: []byte(`{"x":1}`)}}, docs)
		v, err := s2.Meta(ctx, "version")
		require.NoError(t, err)
		require.Equal(t, "7", v)
		pend, err := s2.Pending(ctx, 10)
		require.NoError(t, err)
		require.Len(t, pend, 1)
		// Outbox ids keep increasing across a reopen: a queued entry is never shadowed.
		b := &store.Batch{Enqueue: []store.Notification{{SubscriptionID: "s", URL: "http://x/", Body: []byte(`{}`)}}}
		require.NoError(t, s2.Apply(ctx, b))
		require.Greater(t, b.Enqueue[0].ID, pend[0].ID)
	})
	t.Run("large fan-out", func(t *testing.T) {
		s, _ := open(t)
		ctx := t.Context()
		b := &store.Batch{}
		for i := range 1200 { // more than one multi-row INSERT
			b.Enqueue = append(b.Enqueue, store.Notification{SubscriptionID: fmt.Sprint("s", i), URL: "http://x/", Body: []byte(`{}`)})
		}
		require.NoError(t, s.Apply(ctx, b))
		got, err := s.Pending(ctx, 5000)
		require.NoError(t, err)
		require.Len(t, got, 1200)
		for i, n := range got {
			require.Equal(t, b.Enqueue[i].ID, n.ID)
			require.Equal(t, fmt.Sprint("s", i), n.SubscriptionID, "enqueue order kept")
		}
	})
}
