package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// MemoryJournal is a Journal in memory, for tests and single-process use without a
// database. Entries go through JSON, as they would through a database column, so what
// survives a save is what a durable journal keeps.
type MemoryJournal struct {
	mu      sync.Mutex
	entries map[string][]byte
}

var _ Journal = (*MemoryJournal)(nil)

// NewMemoryJournal returns an empty MemoryJournal.
func NewMemoryJournal() *MemoryJournal { return &MemoryJournal{entries: map[string][]byte{}} }

// Load implements Journal.
func (j *MemoryJournal) Load(_ context.Context, taskID string) (Progress, error) {
	j.mu.Lock()
	b, ok := j.entries[taskID]
	j.mu.Unlock()
	var p Progress
	if !ok {
		return p, nil
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode progress of %s: %w", taskID, err)
	}
	return p, nil
}

// Save implements Journal.
func (j *MemoryJournal) Save(_ context.Context, taskID string, p Progress) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode progress of %s: %w", taskID, err)
	}
	j.mu.Lock()
	j.entries[taskID] = b
	j.mu.Unlock()
	return nil
}
