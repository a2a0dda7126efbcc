package platform_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/internal/store"
	"github.com/edgemec/edgemec/mep/internal/store/sqlstore"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

var discard = slog.New(slog.DiscardHandler)

func openStore(t testing.TB, dir string) store.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "mep.db"))
	require.NoError(t, err)
	return st
}

func newMEP(t testing.TB, st store.Store, cfg platform.Config) *wireMEP {
	t.Helper()
	if cfg.APIRoot == "" {
		cfg.APIRoot = "http://mep.test"
	}
	s, err := platform.New(context.Background(), cfg, st, discard)
	require.NoError(t, err)
	return &wireMEP{s}
}

func putApp(t testing.TB, s *wireMEP, id string) {
	t.Helper()
	_, _, err := s.PutApp(context.Background(), id, mm5api.AppInstance{AppName: id, AppProvider: "acme", AppDId: "d-" + id}, nil)
	require.NoError(t, err)
}

func subscribe(t testing.TB, s *wireMEP, app, callback string) string {
	t.Helper()
	_, loc, err := s.Subscribe(context.Background(), app, &mp1api.SerAvailabilityNotificationSubscription{
		SubscriptionType: platform.SerAvailSubscriptionType, CallbackReference: callback})
	require.NoError(t, err)
	return loc
}

func restID() *string { s := "rest-http"; return &s }

func registerService(t testing.TB, s *wireMEP, app, name string) string {
	t.Helper()
	_, _, loc, err := s.RegisterService(context.Background(), platform.Operator, app, mp1api.ServiceInfoPost{
		SerName: name, Version: "1", State: mp1api.ServiceStateACTIVE, Serializer: mp1api.JSON, TransportId: restID()})
	require.NoError(t, err)
	return loc
}

// memStore is an in-memory store.Store for fuzzing, where SQLite's fsyncs would dominate.
type memStore struct {
	mu     sync.Mutex
	docs   map[store.Key][]byte
	meta   map[string]string
	outbox []store.Notification
	next   int64
}

func newMemStore() *memStore {
	return &memStore{docs: map[store.Key][]byte{}, meta: map[string]string{}}
}

func (m *memStore) LoadAll(context.Context) ([]store.Doc, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Doc
	for k, b := range m.docs {
		out = append(out, store.Doc{Kind: k.Kind, ID: k.ID, Body: b})
	}
	slices.SortFunc(out, func(a, b store.Doc) int {
		if a.Kind != b.Kind {
			return map[bool]int{true: -1, false: 1}[a.Kind < b.Kind]
		}
		return map[bool]int{true: -1, false: 1}[a.ID < b.ID]
	})
	return out, nil
}

func (m *memStore) Apply(_ context.Context, b *store.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range b.Put {
		m.docs[store.Key{Kind: d.Kind, ID: d.ID}] = d.Body
	}
	for _, k := range b.Delete {
		delete(m.docs, k)
	}
	for i := range b.Enqueue {
		m.next++
		b.Enqueue[i].ID = m.next
		b.Enqueue[i].CreatedAt = time.Now()
	}
	m.outbox = append(m.outbox, b.Enqueue...)
	if len(m.outbox) > 1000 { // fuzzing never delivers; keep memory bounded
		m.outbox = m.outbox[len(m.outbox)-1000:]
	}
	for k, v := range b.Meta {
		m.meta[k] = v
	}
	return nil
}

func (m *memStore) Meta(_ context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.meta[key]
	if !ok {
		return "", store.ErrNotFound
	}
	return v, nil
}

func (m *memStore) Pending(_ context.Context, limit int) ([]store.Notification, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.outbox[:min(limit, len(m.outbox))]), nil
}

func (m *memStore) Settle(context.Context, []int64, []store.TargetState) error { return nil }
func (m *memStore) Close() error                                               { return nil }
