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

// Notification is a queued outbound notification (the outbox): one body for one or more
// subscribers. It stays queued until every target has been delivered or given up on, so
// delivery is at least once across restarts.
//
// One row per change rather than one per subscriber keeps the commit that queues it short:
// the notifications of ETSI GS MEC 011 sent for one change differ between subscribers only
// in _links.subscription, which is spliced into Body at LinkAt.
type Notification struct {
	// ID is assigned by the store, increasing in enqueue order.
	ID int64
	// Body is the JSON body; each target's Link is inserted at byte offset LinkAt (0: none).
	Body   []byte
	LinkAt int
	// Targets are the subscribers, with their delivery state.
	Targets   []Target
	CreatedAt time.Time
}

// Target is one subscriber of a Notification.
type Target struct {
	SubscriptionID string
	URL            string
	// Link is JSON string content (escaped, unquoted) inserted into the body at LinkAt.
	Link string
	// Attempts counts failed attempts; the next one is due at NextAt (zero: at once).
	Attempts int
	NextAt   time.Time
	// Done marks a target delivered (or given up on) while others are still pending.
	Done bool
}

// BodyFor returns the body sent to target i.
func (n *Notification) BodyFor(i int) []byte {
	l := n.Targets[i].Link
	if n.LinkAt <= 0 || n.LinkAt > len(n.Body) || l == "" {
		return n.Body
	}
	b := make([]byte, 0, len(n.Body)+len(l))
	b = append(b, n.Body[:n.LinkAt]...)
	b = append(b, l...)
	return append(b, n.Body[n.LinkAt:]...)
}

// TargetState is the delivery state of one target of a queued notification.
type TargetState struct {
	ID     int64 // the notification
	Target int   // index in its Targets
	// Attempts and NextAt schedule a retry; Done ends the target.
	Attempts int
	NextAt   time.Time
	Done     bool
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
	// Pending returns up to limit queued notifications in enqueue order, with the state of
	// their targets.
	Pending(ctx context.Context, limit int) ([]Notification, error)
	// Settle removes finished notifications (every target delivered or given up on) and
	// records the state of targets of the others, in one transaction.
	Settle(ctx context.Context, finished []int64, targets []TargetState) error
	// Close releases the backend.
	Close() error
}
