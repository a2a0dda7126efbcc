//go:build integration

package pgstore_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
)

// TestSecretConcurrentFirstUse: replicas starting together on a new database all ask for the
// same secret at once; every one gets it, and the same bytes. Each round uses a new name, so
// every round races on the first insert.
func TestSecretConcurrentFirstUse(t *testing.T) {
	dsn := pgtest.New(t)
	const stores = 8
	var sts []*pgstore.Store
	for range stores {
		st, err := pgstore.Open(t.Context(), dsn, pgstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		sts = append(sts, st)
	}
	for round := range 20 {
		name := "race-" + string(rune('a'+round))
		got := make([][]byte, stores)
		errs := make([]error, stores)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, st := range sts {
			wg.Go(func() {
				<-start
				got[i], errs[i] = st.Secret(t.Context(), name, 32)
			})
		}
		close(start)
		wg.Wait()
		for i := range stores {
			if errs[i] != nil {
				t.Fatalf("round %d, store %d: %v", round, i, errs[i])
			}
			if len(got[i]) != 32 || !bytes.Equal(got[i], got[0]) {
				t.Fatalf("round %d: store %d got %x; store 0 got %x", round, i, got[i], got[0])
			}
		}
	}
}
