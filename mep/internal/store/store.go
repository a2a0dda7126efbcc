// Package store defines the MEP's durable state contract. The MEP keeps its working state in
// memory and writes every change through a Store in one atomic Batch, so that a crash loses
// nothing that was acknowledged and a restart rebuilds the same state. Backends live in
// sqlstore (embedded SQLite by default, PostgreSQL as an option); storetest holds the one
// contract suite every backend passes.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a keyed item does not exist.
var ErrNotFound = errors.New("not found")

// Kind names a document collection.
type Kind string

// The document kinds of the MEP. Documents are JSON; an app instance's document holds its
// traffic and DNS rules.
const (
	KindApp          Kind = "app"
	KindService      Kind = "service"
	KindSubscription Kind = "subscription"
)

// Doc is one stored JSON document.
type Doc struct {
	Kind Kind
	ID   string
	Body []byte
}

// Key addresses a document.
type Key struct {
	Kind Kind
	ID   string
}

// Notification is a queued outbound notification (the outbox). It stays queued until it has
// been delivered or given up on, so delivery is at least once across restarts.
type Notification struct {
	// ID is assigned by the store, increasing in enqueue order.
	ID             int64
	SubscriptionID string
	URL            string
	Body           []byte
	Attempts       int
	NextAt         time.Time
	CreatedAt      time.Time
}

// Batch is a set of changes applied atomically.
type Batch struct {
	Put     []Doc
	Delete  []Key
	Enqueue []Notification
	// Meta sets small named values (counters, keys).
	Meta map[string]string
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool {
	return len(b.Put) == 0 && len(b.Delete) == 0 && len(b.Enqueue) == 0 && len(b.Meta) == 0
}

// Store is the durable backend of a MEP.
type Store interface {
	// LoadAll returns every document, ordered by kind and id.
	LoadAll(ctx context.Context) ([]Doc, error)
	// Apply writes the batch in one transaction and fills the IDs of b.Enqueue.
	Apply(ctx context.Context, b *Batch) error
	// Meta returns a named value, or ErrNotFound.
	Meta(ctx context.Context, key string) (string, error)
	// Pending returns up to limit queued notifications in enqueue order.
	Pending(ctx context.Context, limit int) ([]Notification, error)
	// Settle removes delivered (or abandoned) notifications and records new attempt counts and
	// due times for retried ones, in one transaction.
	Settle(ctx context.Context, done []int64, retry []Notification) error
	// Close releases the backend.
	Close() error
}
