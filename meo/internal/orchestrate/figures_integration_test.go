//go:build integration

package orchestrate_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/orchestrate"
)

// TestFigures measures, with two executors sharing 4 sites (real MEPs, fake VIMs, the
// PostgreSQL journal), the time from an op occurrence's creation (and Kick) to COMPLETED
// for a batch of instantiations, and the batch's total.
func TestFigures(t *testing.T) {
	const sites, n = 4, 40
	e := newEnv(t)
	for i := range sites {
		e.addSite("site-"+string(rune('a'+i)), node(16000))
	}
	x1 := e.start(e.config("meo-1"))
	x2 := e.start(e.config("meo-2"))
	// Let both take their site leases first.
	time.Sleep(500 * time.Millisecond)
	created := map[string]time.Time{}
	var ops []orchestrate.Op
	t0 := time.Now()
	for range n {
		op := instantiate("fig", 100)
		require.NoError(t, e.ops.Add(op))
		created[op.ID] = time.Now()
		x1.x.Kick()
		x2.x.Kick()
		ops = append(ops, op)
	}
	took := map[string]time.Duration{}
	deadline := time.Now().Add(2 * time.Minute)
	for len(took) < n {
		require.True(t, time.Now().Before(deadline), "%d of %d completed", len(took), n)
		for _, op := range ops {
			if _, ok := took[op.ID]; ok {
				continue
			}
			rec, _ := e.ops.Get(op.ID)
			switch rec.State {
			case orchestrate.Completed:
				took[op.ID] = time.Since(created[op.ID])
			case orchestrate.Failed, orchestrate.FailedTemp:
				t.Fatalf("op %s %s: %+v", op.ID, rec.State, rec.Error)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	total := time.Since(t0)
	var ds []time.Duration
	for _, d := range took {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	p := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1))].Round(time.Millisecond) }
	t.Logf("%d instantiations over %d sites, 2 executors: created → COMPLETED p50 %v, p99 %v, max %v; all done in %v",
		n, sites, p(0.5), p(0.99), ds[len(ds)-1].Round(time.Millisecond), total.Round(time.Millisecond))
}
