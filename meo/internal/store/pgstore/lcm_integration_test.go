//go:build integration

package pgstore_test

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo"
	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/lcm"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/pkgm/pkgmtest"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// lcmStore opens a store with a package of appDId "app" onboarded and returns the LCM over
// it.
func lcmStore(t *testing.T) (*pgstore.Store, *pkgm.Service, *lcm.Service, string) {
	t.Helper()
	st, err := pgstore.Open(t.Context(), pgtest.New(t), pgstore.Config{LCMRouter: lcm.Router("http://meo")})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	pk := pkgm.New(pkgm.Config{APIRoot: "http://meo", Reader: meo.PackageReader(apppkg.DefaultLimits())}, st, log)
	t.Cleanup(pk.Close)
	content := pkgmtest.Package("app", "app")
	p, err := pk.Create(t.Context(), pkgm.CreateInput{AppPkgName: "app", AppPkgVersion: "1",
		Checksum: store.Checksum{Algorithm: "SHA-256", Hash: pkgmtest.SHA256(content)}})
	require.NoError(t, err)
	require.NoError(t, pk.Upload(t.Context(), p.ID, bytes.NewReader(content)))
	return st, pk, lcm.New(lcm.Config{Apps: meo.PackageApp}, st, log), p.ID
}

// instantiating creates n instances with an instantiate each and returns the op ids.
func instantiating(t *testing.T, lc *lcm.Service, n int) []string {
	t.Helper()
	var ops []string
	for range n {
		in, err := lc.Create(t.Context(), lcm.CreateInput{AppDID: "app"})
		require.NoError(t, err)
		op, err := lc.Instantiate(t.Context(), in.ID, lcm.InstantiateInput{})
		require.NoError(t, err)
		ops = append(ops, op.ID)
	}
	return ops
}

// Two holders claiming at once never get the same op occurrence; a holder's next claim
// renews what it holds without returning it again.
func TestClaimTwoHolders(t *testing.T) {
	_, _, lc, _ := lcmStore(t)
	want := instantiating(t, lc, 24)
	var mu sync.Mutex
	got := map[string][]string{}
	var wg sync.WaitGroup
	for _, h := range []string{"meo-a", "meo-b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				ops, err := lc.Claim(t.Context(), h, time.Minute, 3)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				for _, o := range ops {
					got[o.ID] = append(got[o.ID], h)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, got, len(want))
	holders := map[string]int{}
	for id, hs := range got {
		assert.Len(t, hs, 1, "op %s claimed by %v", id, hs)
		holders[hs[0]]++
	}
	assert.Equal(t, len(want), holders["meo-a"]+holders["meo-b"])
	ops, err := lc.Claim(t.Context(), "meo-a", time.Minute, 100)
	require.NoError(t, err)
	assert.Empty(t, ops)
}

// A lapsed lease is taken over; the old holder's outcome is then refused.
func TestLapsedLeaseTakenOver(t *testing.T) {
	_, _, lc, _ := lcmStore(t)
	ctx := t.Context()
	id := instantiating(t, lc, 1)[0]
	ops, err := lc.Claim(ctx, "meo-a", 300*time.Millisecond, 10)
	require.NoError(t, err)
	require.Len(t, ops, 1)
	ops, err = lc.Claim(ctx, "meo-b", time.Minute, 10)
	require.NoError(t, err)
	assert.Empty(t, ops, "a live lease holds")
	time.Sleep(500 * time.Millisecond)
	ops, err = lc.Claim(ctx, "meo-b", time.Minute, 10)
	require.NoError(t, err)
	require.Len(t, ops, 1)
	assert.Equal(t, id, ops[0].ID)

	err = lc.Finished(ctx, "meo-a", id, orchestrate.Completed, nil, time.Time{})
	require.ErrorIs(t, err, orchestrate.ErrLeaseLost)
	op, err := lc.GetOp(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, store.OpStarting, op.OperationState, "a lost lease changes nothing")
	assert.Equal(t, "meo-b", op.ClaimedBy)

	require.NoError(t, lc.Placed(ctx, id, "site-1", nil, vim0()))
	require.NoError(t, lc.Finished(ctx, "meo-b", id, orchestrate.Completed, nil, time.Time{}))
	require.ErrorIs(t, lc.Finished(ctx, "meo-b", id, orchestrate.Completed, nil, time.Time{}), orchestrate.ErrLeaseLost,
		"an op finishes once")
	op, err = lc.GetOp(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, store.OpCompleted, op.OperationState)
	assert.Empty(t, op.ClaimedBy)
}

// A FAILED_TEMP run with a retry time is claimed again once it is due, and moves back to
// PROCESSING where it was placed; Release lets another holder take what one held.
func TestAutomaticRetryAndRelease(t *testing.T) {
	_, _, lc, _ := lcmStore(t)
	ctx := t.Context()
	id := instantiating(t, lc, 1)[0]
	_, err := lc.Claim(ctx, "meo-a", time.Minute, 10)
	require.NoError(t, err)
	require.NoError(t, lc.Placed(ctx, id, "site-1", nil, vim0()))
	require.NoError(t, lc.Finished(ctx, "meo-a", id, orchestrate.FailedTemp,
		&problem.Details{Status: 503, Detail: "site unreachable"}, time.Now().Add(300*time.Millisecond)))
	ops, err := lc.Claim(ctx, "meo-a", time.Minute, 10)
	require.NoError(t, err)
	assert.Empty(t, ops, "not due yet")
	time.Sleep(400 * time.Millisecond)
	ops, err = lc.Claim(ctx, "meo-b", time.Minute, 10)
	require.NoError(t, err)
	require.Len(t, ops, 1)
	assert.Equal(t, orchestrate.Processing, ops[0].State)
	assert.Equal(t, "site-1", ops[0].SiteID)
	assert.Equal(t, 1, ops[0].Attempts)

	require.NoError(t, lc.Release(ctx, "meo-b"))
	ops, err = lc.Claim(ctx, "meo-a", time.Minute, 10)
	require.NoError(t, err)
	require.Len(t, ops, 1, "released: another holder takes it at once")
}

// The package is IN_USE while an instance exists; LCM subscriptions count for the outbox.
func TestUsageAndSubscriptionIDs(t *testing.T) {
	st, pk, lc, pkgID := lcmStore(t)
	ctx := t.Context()
	usage := func() string {
		p, err := pk.Get(ctx, pkgID)
		require.NoError(t, err)
		return p.UsageState
	}
	assert.Equal(t, store.NotInUse, usage())
	a, err := lc.Create(ctx, lcm.CreateInput{AppDID: "app"})
	require.NoError(t, err)
	b, err := lc.Create(ctx, lcm.CreateInput{AppDID: "app"})
	require.NoError(t, err)
	assert.Equal(t, store.InUse, usage())
	require.NoError(t, lc.Delete(ctx, a.ID))
	assert.Equal(t, store.InUse, usage())
	require.NoError(t, lc.Delete(ctx, b.ID))
	assert.Equal(t, store.NotInUse, usage())
	err = lc.Delete(ctx, b.ID)
	require.True(t, errors.Is(err, lcm.ErrNotFound), "got %v", err)

	sub, err := lc.Subscribe(ctx, lcm.SubscriptionInput{CallbackURI: "http://cb/x", SubscriptionType: lcm.IdentifierCreation})
	require.NoError(t, err)
	ids, err := st.SubscriptionIDs(ctx)
	require.NoError(t, err)
	assert.True(t, ids[sub.ID])
	_, err = lc.Create(ctx, lcm.CreateInput{AppDID: "app"})
	require.NoError(t, err)
	rows, err := st.ClaimOutbox(ctx)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, sub.ID, rows[0].SubscriptionID)
	require.NoError(t, lc.Unsubscribe(ctx, sub.ID))
	rows, err = st.ClaimOutbox(ctx)
	require.NoError(t, err)
	assert.Empty(t, rows, "its queued notifications went with it")
}

func vim0() vim.Resources { return vim.Resources{MilliCPU: 1000, MemoryBytes: 512 << 20} }

// The one-active-op index refuses a second active op occurrence of an instance even when the
// caller does not look (two transactions racing past their checks).
func TestOneActiveOpIndex(t *testing.T) {
	st, _, lc, _ := lcmStore(t)
	ctx := t.Context()
	in, err := lc.Create(ctx, lcm.CreateInput{AppDID: "app"})
	require.NoError(t, err)
	errs := make([]error, 6)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = st.StartOp(ctx, in.ID, func(cur *store.AppInstance, _ *store.OpOcc) (*store.OpOcc, store.LCMChange, error) {
				op := &store.OpOcc{ID: "op-" + string(rune('a'+i)), LcmOperation: store.OpInstantiate, AppInstanceID: cur.ID,
					NextAttempt: time.Now()}
				op.SetState(store.OpStarting, time.Now())
				return op, store.LCMChange{}, nil
			})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		assert.ErrorIs(t, err, store.ErrActiveOp)
	}
	assert.Equal(t, 1, ok)
}
