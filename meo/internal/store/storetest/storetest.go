// Package storetest is the contract suite every store.Store backend must pass. Backends call
// Run with a constructor that returns a fresh, empty store routing events through the given
// router.
package storetest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/store"
)

// Opener returns a fresh empty store whose events go through router.
type Opener func(t *testing.T, router store.EventRouter) store.Store

// recorder is an EventRouter that remembers what it was asked to route.
type recorder struct {
	mu     sync.Mutex
	events []store.Event
	subs   int
}

func (r *recorder) route(subs []*store.Subscription, events []store.Event) []store.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, events...)
	r.subs = len(subs)
	var out []store.Delivery
	for _, s := range subs {
		for _, e := range events {
			out = append(out, store.Delivery{SubscriptionID: s.ID, CallbackURI: s.CallbackURI, Body: []byte(`{"t":"` + e.Type + `"}`)})
		}
	}
	return out
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

func pkg(id string) *store.Package {
	return &store.Package{ID: id, OnboardingState: store.Created, OperationalState: store.Disabled, UsageState: store.NotInUse,
		Checksum: store.Checksum{Algorithm: "SHA-256", Hash: "00"}, AppPkgName: "n-" + id}
}

// onboard sets the package ONBOARDED with the appDId.
func onboard(appDID string) store.UpdateFunc {
	return func(p *store.Package) (store.Change, error) {
		p.OnboardingState, p.AppDID, p.OperationalState = store.Onboarded, appDID, store.Enabled
		p.AppD, p.AppDFormat, p.Parsed = []byte("appDId: "+appDID), "yaml", []byte(`{"appDId":"`+appDID+`"}`)
		return store.Change{Events: []store.Event{{Type: store.AppPackageOnBoarded, PackageID: p.ID, AppDID: appDID}}}, nil
	}
}

// eqFilter matches packages whose attribute equals a value.
type eqFilter struct{ attr, value string }

func (f eqFilter) SQLColumns(col string, _ map[string]string, args *[]any) (string, error) {
	*args = append(*args, f.value)
	return col + "->>'" + f.attr + "' = $" + itoa(len(*args)), nil
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

var errRefused = errors.New("refused")

// Run runs the contract suite.
func Run(t *testing.T, open Opener) {
	t.Run("create get", func(t *testing.T) {
		s := open(t, nil)
		ctx := t.Context()
		p := pkg("a")
		p.UserDefinedData = map[string]any{"k": "v"}
		p.AppPkgPath = "http://x/y.zip"
		require.NoError(t, s.CreatePackage(ctx, p))
		assert.False(t, p.Created.IsZero())
		got, err := s.GetPackage(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, "n-a", got.AppPkgName)
		assert.Equal(t, map[string]any{"k": "v"}, got.UserDefinedData)
		assert.Equal(t, "http://x/y.zip", got.AppPkgPath)
		assert.Equal(t, store.Created, got.OnboardingState)
		assert.ErrorIs(t, s.CreatePackage(ctx, pkg("a")), store.ErrConflict)
		_, err = s.GetPackage(ctx, "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("onboarded by appDId", func(t *testing.T) {
		rec := &recorder{}
		s := open(t, rec.route)
		ctx := t.Context()
		require.NoError(t, s.CreatePackage(ctx, pkg("a")))
		require.NoError(t, s.CreatePackage(ctx, pkg("b")))
		_, err := s.GetOnboardedByAppDID(ctx, "d1")
		assert.ErrorIs(t, err, store.ErrNotFound)
		got, err := s.UpdatePackage(ctx, "a", onboard("d1"))
		require.NoError(t, err)
		assert.Equal(t, store.Onboarded, got.OnboardingState)
		p, err := s.GetOnboardedByAppDID(ctx, "d1")
		require.NoError(t, err)
		assert.Equal(t, "a", p.ID)
		assert.Equal(t, []byte("appDId: d1"), p.AppD)
		assert.JSONEq(t, `{"appDId":"d1"}`, string(p.Parsed))
		// A second onboarded package with the same appDId is a conflict, and changes nothing.
		_, err = s.UpdatePackage(ctx, "b", onboard("d1"))
		assert.ErrorIs(t, err, store.ErrConflict)
		b, err := s.GetPackage(ctx, "b")
		require.NoError(t, err)
		assert.Equal(t, store.Created, b.OnboardingState)
		assert.Contains(t, rec.types(), store.AppPackageOnBoarded)
	})
	t.Run("update refused", func(t *testing.T) {
		rec := &recorder{}
		s := open(t, rec.route)
		ctx := t.Context()
		require.NoError(t, s.CreatePackage(ctx, pkg("a")))
		_, err := s.UpdatePackage(ctx, "a", func(p *store.Package) (store.Change, error) {
			p.OperationalState = store.Enabled
			return store.Change{}, errRefused
		})
		assert.ErrorIs(t, err, errRefused)
		p, err := s.GetPackage(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, store.Disabled, p.OperationalState)
		assert.Empty(t, rec.types())
		_, err = s.UpdatePackage(ctx, "nope", onboard("x"))
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("list paging and filter", func(t *testing.T) {
		s := open(t, nil)
		ctx := t.Context()
		for _, id := range []string{"p1", "p2", "p3", "p4", "p5"} {
			require.NoError(t, s.CreatePackage(ctx, pkg(id)))
		}
		_, err := s.UpdatePackage(ctx, "p2", onboard("d2"))
		require.NoError(t, err)
		_, err = s.UpdatePackage(ctx, "p4", onboard("d4"))
		require.NoError(t, err)
		ids := func(pg store.Page) []string {
			var out []string
			for _, p := range pg.Packages {
				out = append(out, p.ID)
			}
			return out
		}
		pg, err := s.ListPackages(ctx, store.ListQuery{})
		require.NoError(t, err)
		assert.Equal(t, []string{"p1", "p2", "p3", "p4", "p5"}, ids(pg))
		assert.Zero(t, pg.Next)
		pg, err = s.ListPackages(ctx, store.ListQuery{Limit: 2})
		require.NoError(t, err)
		assert.Equal(t, []string{"p1", "p2"}, ids(pg))
		require.NotZero(t, pg.Next)
		pg, err = s.ListPackages(ctx, store.ListQuery{Limit: 2, After: pg.Next})
		require.NoError(t, err)
		assert.Equal(t, []string{"p3", "p4"}, ids(pg))
		pg, err = s.ListPackages(ctx, store.ListQuery{Limit: 2, After: pg.Next})
		require.NoError(t, err)
		assert.Equal(t, []string{"p5"}, ids(pg))
		assert.Zero(t, pg.Next)
		pg, err = s.ListPackages(ctx, store.ListQuery{OnboardedOnly: true})
		require.NoError(t, err)
		assert.Equal(t, []string{"p2", "p4"}, ids(pg))
		pg, err = s.ListPackages(ctx, store.ListQuery{Filter: eqFilter{"appDId", "d4"}})
		require.NoError(t, err)
		assert.Equal(t, []string{"p4"}, ids(pg))
		pg, err = s.ListPackages(ctx, store.ListQuery{Filter: eqFilter{"onboardingState", "CREATED"}, Limit: 2})
		require.NoError(t, err)
		assert.Equal(t, []string{"p1", "p3"}, ids(pg))
		// Omitted attributes may be left out; the others and the filter are untouched.
		pg, err = s.ListPackages(ctx, store.ListQuery{Filter: eqFilter{"appPkgName", "n-p5"}, Omit: []string{"checksum", "appPkgName"}})
		require.NoError(t, err)
		require.Equal(t, []string{"p5"}, ids(pg))
		assert.Equal(t, store.Created, pg.Packages[0].OnboardingState)
		assert.Equal(t, store.Disabled, pg.Packages[0].OperationalState)
	})
	t.Run("content", func(t *testing.T) {
		s := open(t, nil)
		ctx := t.Context()
		require.NoError(t, s.CreatePackage(ctx, pkg("a")))
		data := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/32) // 2.5 MiB: three chunks
		var sizeSeen int64
		p, err := s.StoreContent(ctx, "a", bytes.NewReader(data), 10<<20, func(p *store.Package, size int64) (store.Change, error) {
			sizeSeen = size
			p.OnboardingState = store.Processing
			return store.Change{}, nil
		})
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), sizeSeen)
		assert.Equal(t, int64(len(data)), p.ContentSize)
		assert.Equal(t, store.Processing, p.OnboardingState)
		c, err := s.OpenContent(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), c.Size())
		for _, off := range []int64{0, 1<<20 - 3, 2<<20 + 17, int64(len(data)) - 5} {
			buf := make([]byte, 10)
			n, err := c.ReadAt(buf, off)
			want := data[off:min(off+10, int64(len(data)))]
			if len(want) < 10 {
				assert.ErrorIs(t, err, io.EOF)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, want, buf[:n], "offset %d", off)
		}
		all, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
		require.NoError(t, err)
		assert.Equal(t, data, all)
		require.NoError(t, c.Close())

		// A refused replacement keeps the old content.
		_, err = s.StoreContent(ctx, "a", strings.NewReader("other"), 10<<20, func(*store.Package, int64) (store.Change, error) {
			return store.Change{}, errRefused
		})
		assert.ErrorIs(t, err, errRefused)
		c, err = s.OpenContent(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), c.Size())
		// Too large: nothing stored.
		_, err = s.StoreContent(ctx, "a", bytes.NewReader(data), 1<<20, func(*store.Package, int64) (store.Change, error) {
			t.Fatal("fn called for too large content")
			return store.Change{}, nil
		})
		assert.ErrorIs(t, err, store.ErrTooLarge)
		// DropContent removes it.
		p, err = s.UpdatePackage(ctx, "a", func(*store.Package) (store.Change, error) { return store.Change{DropContent: true}, nil })
		require.NoError(t, err)
		assert.Zero(t, p.ContentSize)
		c, err = s.OpenContent(ctx, "a")
		require.NoError(t, err)
		assert.Zero(t, c.Size())
		_, err = s.OpenContent(ctx, "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("delete", func(t *testing.T) {
		rec := &recorder{}
		s := open(t, rec.route)
		ctx := t.Context()
		require.NoError(t, s.CreatePackage(ctx, pkg("a")))
		_, err := s.StoreContent(ctx, "a", strings.NewReader("zip"), 100, func(*store.Package, int64) (store.Change, error) { return store.Change{}, nil })
		require.NoError(t, err)
		assert.ErrorIs(t, s.DeletePackage(ctx, "a", func(*store.Package) (store.Change, error) { return store.Change{}, errRefused }), errRefused)
		_, err = s.GetPackage(ctx, "a")
		require.NoError(t, err)
		require.NoError(t, s.DeletePackage(ctx, "a", func(p *store.Package) (store.Change, error) {
			return store.Change{Events: []store.Event{{Type: store.AppPackageDeleted, PackageID: p.ID}}}, nil
		}))
		_, err = s.GetPackage(ctx, "a")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.OpenContent(ctx, "a")
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Equal(t, []string{store.AppPackageDeleted}, rec.types())
		assert.ErrorIs(t, s.DeletePackage(ctx, "a", func(*store.Package) (store.Change, error) { return store.Change{}, nil }), store.ErrNotFound)
	})
	t.Run("subscriptions", func(t *testing.T) {
		rec := &recorder{}
		s := open(t, rec.route)
		ctx := t.Context()
		subs, err := s.ListSubscriptions(ctx)
		require.NoError(t, err)
		assert.Empty(t, subs)
		a := &store.Subscription{ID: "s1", SubscriptionType: "AppPackageOnBoarding", CallbackURI: "http://a/cb", Filter: []byte(`[{"appDId":["x"]}]`)}
		require.NoError(t, s.CreateSubscription(ctx, a))
		require.NoError(t, s.CreateSubscription(ctx, &store.Subscription{ID: "s2", SubscriptionType: "AppPackageDeletion", CallbackURI: "http://b/cb"}))
		assert.ErrorIs(t, s.CreateSubscription(ctx, &store.Subscription{ID: "s1", SubscriptionType: "x", CallbackURI: "y"}), store.ErrConflict)
		got, err := s.GetSubscription(ctx, "s1")
		require.NoError(t, err)
		assert.Equal(t, "http://a/cb", got.CallbackURI)
		assert.JSONEq(t, `[{"appDId":["x"]}]`, string(got.Filter))
		subs, err = s.ListSubscriptions(ctx)
		require.NoError(t, err)
		require.Len(t, subs, 2)
		assert.Equal(t, "s1", subs[0].ID)
		assert.Nil(t, subs[1].Filter)
		// Events are routed with the subscriptions there are.
		require.NoError(t, s.CreatePackage(ctx, pkg("a")))
		_, err = s.UpdatePackage(ctx, "a", onboard("d"))
		require.NoError(t, err)
		assert.Equal(t, 2, rec.subs)
		require.NoError(t, s.DeleteSubscription(ctx, "s1"))
		assert.ErrorIs(t, s.DeleteSubscription(ctx, "s1"), store.ErrNotFound)
		_, err = s.GetSubscription(ctx, "s1")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}
