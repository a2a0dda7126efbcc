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
		body := []byte(`{"l":"","n":1}`)
		b := &store.Batch{Enqueue: []store.Notification{
			{Body: body, LinkAt: 6, Targets: []store.Target{
				{SubscriptionID: "s1", URL: "http://a/", Link: "x1"},
				{SubscriptionID: "s2", URL: "http://b/", Link: "x2"},
				{SubscriptionID: "s3", URL: "http://c/", Link: "x3"},
			}},
			{Body: []byte(`{"b":1}`), Targets: []store.Target{{SubscriptionID: "s4", URL: "http://d/"}}},
			{Body: []byte(`{"c":1}`), Targets: []store.Target{{SubscriptionID: "s5", URL: "http://e/"}}},
		}}
		require.NoError(t, s.Apply(ctx, b))
		require.Less(t, b.Enqueue[0].ID, b.Enqueue[1].ID, "ids must increase in enqueue order")
		require.Less(t, b.Enqueue[1].ID, b.Enqueue[2].ID)
		require.False(t, b.Enqueue[0].CreatedAt.IsZero(), "created_at not set")
		got, err := s.Pending(ctx, 2)
		require.NoError(t, err)
		require.Len(t, got, 2)
		n := got[0]
		require.Equal(t, b.Enqueue[0].ID, n.ID)
		require.Equal(t, body, n.Body)
		require.Equal(t, 6, n.LinkAt)
		require.Equal(t, []store.Target{
			{SubscriptionID: "s1", URL: "http://a/", Link: "x1"},
			{SubscriptionID: "s2", URL: "http://b/", Link: "x2"},
			{SubscriptionID: "s3", URL: "http://c/", Link: "x3"},
		}, n.Targets)
		require.Equal(t, `{"l":"x2","n":1}`, string(n.BodyFor(1)))
		require.Equal(t, `{"b":1}`, string(got[1].BodyFor(0)))

		// One target delivered, one to retry, one still in flight; the second notification done.
		due := time.Unix(1700000000, 5)
		require.NoError(t, s.Settle(ctx, []int64{got[1].ID}, []store.TargetState{
			{ID: n.ID, Target: 0, Done: true},
			{ID: n.ID, Target: 1, Attempts: 1, NextAt: due},
			{ID: n.ID, Target: 1, Attempts: 3, NextAt: due.Add(time.Minute)}, // the last state wins
		}))
		got, err = s.Pending(ctx, 10)
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, n.ID, got[0].ID)
		ts := got[0].Targets
		require.True(t, ts[0].Done)
		require.Equal(t, 3, ts[1].Attempts)
		require.True(t, ts[1].NextAt.Equal(due.Add(time.Minute)), "next_at %v; want %v", ts[1].NextAt, due.Add(time.Minute))
		require.False(t, ts[1].Done)
		require.Equal(t, store.Target{SubscriptionID: "s3", URL: "http://c/", Link: "x3"}, ts[2])
		require.Equal(t, "s5", got[1].Targets[0].SubscriptionID)

		// Finishing a notification removes its delivery state with it, also a state recorded in
		// the same call.
		require.NoError(t, s.Settle(ctx, []int64{n.ID, got[1].ID}, []store.TargetState{{ID: n.ID, Target: 2, Done: true}}))
		got, err = s.Pending(ctx, 10)
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("batch is atomic", func(t *testing.T) {
		s, _ := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := s.Apply(ctx, &store.Batch{Put: []store.Doc{{Kind: store.KindApp, ID: "a", Body: []byte(`1`)}},
			Enqueue: []store.Notification{{Body: []byte(`x`), Targets: []store.Target{{SubscriptionID: "s", URL: "u"}}}}})
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
		b := &store.Batch{
			Put:  []store.Doc{{Kind: store.KindSubscription, ID: "sub-1", Body: []byte(`{"x":1}`)}},
			Meta: map[string]string{"version": "7"},
			Enqueue: []store.Notification{{Body: []byte(`{}`), Targets: []store.Target{
				{SubscriptionID: "s", URL: "http://x/"}, {SubscriptionID: "t", URL: "http://y/"}}}},
		}
		require.NoError(t, s.Apply(ctx, b))
		due := time.Unix(1700000000, 0)
		require.NoError(t, s.Settle(ctx, nil, []store.TargetState{{ID: b.Enqueue[0].ID, Target: 1, Attempts: 2, NextAt: due}}))
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
		require.Len(t, pend[0].Targets, 2)
		require.Equal(t, 2, pend[0].Targets[1].Attempts)
		require.True(t, pend[0].Targets[1].NextAt.Equal(due))
		require.True(t, pend[0].CreatedAt.Equal(b.Enqueue[0].CreatedAt), "created_at %v; want %v", pend[0].CreatedAt, b.Enqueue[0].CreatedAt)
		// Outbox ids keep increasing across a reopen: a queued entry is never shadowed.
		b = &store.Batch{Enqueue: []store.Notification{{Body: []byte(`{}`), Targets: []store.Target{{SubscriptionID: "s", URL: "http://x/"}}}}}
		require.NoError(t, s2.Apply(ctx, b))
		require.Greater(t, b.Enqueue[0].ID, pend[0].ID)
	})
	t.Run("large fan-out", func(t *testing.T) {
		s, _ := open(t)
		ctx := t.Context()
		b := &store.Batch{}
		for i := range 1200 { // more than one multi-row INSERT
			b.Enqueue = append(b.Enqueue, store.Notification{Body: []byte(`{}`),
				Targets: []store.Target{{SubscriptionID: fmt.Sprint("s", i), URL: "http://x/"}}})
		}
		many := store.Notification{Body: []byte(`{}`)}
		for i := range 5000 {
			many.Targets = append(many.Targets, store.Target{SubscriptionID: fmt.Sprint("t", i), URL: "http://y/", Link: fmt.Sprint(i)})
		}
		b.Enqueue = append(b.Enqueue, many)
		require.NoError(t, s.Apply(ctx, b))
		got, err := s.Pending(ctx, 5000)
		require.NoError(t, err)
		require.Len(t, got, 1201)
		for i, n := range got[:1200] {
			require.Equal(t, b.Enqueue[i].ID, n.ID)
			require.Equal(t, fmt.Sprint("s", i), n.Targets[0].SubscriptionID, "enqueue order kept")
		}
		require.Equal(t, many.Targets, got[1200].Targets)
		// Settling more than one statement's worth of targets and notifications.
		var states []store.TargetState
		for i := range 1200 {
			states = append(states, store.TargetState{ID: got[1200].ID, Target: i, Done: true})
		}
		ids := make([]int64, 0, 1200)
		for _, n := range got[:1200] {
			ids = append(ids, n.ID)
		}
		require.NoError(t, s.Settle(ctx, ids, states))
		got, err = s.Pending(ctx, 5000)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.True(t, got[0].Targets[1199].Done)
		require.False(t, got[0].Targets[1200].Done)
	})
}
