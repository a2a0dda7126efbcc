// Package notify delivers the MEO's queued notifications: it is the internal/outbox
// engine's Store over the PostgreSQL outbox of pgstore. Rows are queued in the transaction
// of the change that caused them and claimed by the MEO process that made the change;
// Pending also claims the rows of processes whose claim lapsed (a dead replica's) and
// renews this process's claims, so it is called every Config.ReloadEvery.
package notify

import (
	"context"
	"sync"

	"github.com/edgemec/edgemec/internal/outbox"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
)

// Store implements outbox.Store[int64].
type Store struct {
	st *pgstore.Store

	mu   sync.Mutex
	live map[string]bool // subscription ids known to exist
}

var _ outbox.Store[int64] = (*Store)(nil)

// New returns a Store over st.
func New(st *pgstore.Store) *Store { return &Store{st: st, live: map[string]bool{}} }

// Deliveries converts outbox rows and marks their subscriptions live: a row is queued in
// the transaction that saw its subscription.
func (s *Store) Deliveries(rows []pgstore.OutboxRow) []outbox.Delivery[int64] {
	out := make([]outbox.Delivery[int64], len(rows))
	s.mu.Lock()
	for i, r := range rows {
		s.live[r.SubscriptionID] = true
		body := r.Body
		out[i] = outbox.Delivery[int64]{ID: r.ID, Owner: r.SubscriptionID, URL: r.CallbackURI,
			Body: func() []byte { return body }, Created: r.Created, Attempts: r.Attempts, Due: r.Due}
	}
	s.mu.Unlock()
	return out
}

// Pending implements outbox.Store.
func (s *Store) Pending(ctx context.Context) ([]outbox.Delivery[int64], error) {
	ids, err := s.st.SubscriptionIDs(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.st.ClaimOutbox(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.live = ids
	s.mu.Unlock()
	return s.Deliveries(rows), nil
}

// Settle implements outbox.Store.
func (s *Store) Settle(ctx context.Context, outcomes []outbox.Outcome[int64]) error {
	var finished []int64
	var retries []pgstore.Retry
	for _, o := range outcomes {
		if o.Result == outbox.Retry {
			retries = append(retries, pgstore.Retry{ID: o.ID, Attempts: o.Attempts, Due: o.Due})
		} else {
			finished = append(finished, o.ID)
		}
	}
	return s.st.SettleOutbox(ctx, finished, retries)
}

// Live implements outbox.Store.
func (s *Store) Live(d *outbox.Delivery[int64]) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[d.Owner]
}

// Forget marks a subscription deleted: its queued deliveries are dropped unsent.
func (s *Store) Forget(subscriptionID string) {
	s.mu.Lock()
	delete(s.live, subscriptionID)
	s.mu.Unlock()
}
