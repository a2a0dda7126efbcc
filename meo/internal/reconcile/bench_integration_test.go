//go:build integration

package reconcile_test

import (
	"slices"
	"testing"
	"time"

	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// BenchmarkInstantiate measures instantiate → COMPLETED with a real MEP and the in-memory
// VIM (the app confirms ready as soon as it runs), next to the bare VIM deploy → Running of
// the same requests. The difference is what the reconciler adds: two Mm5 round trips, the
// journal saves and the polls (PollInterval 20 ms here).
func BenchmarkInstantiate(b *testing.B) {
	s := newSite(b, "site-a")
	j := reconcile.NewMemoryJournal()
	rec := reconcile.New(j, fastConfig())
	var full, bare []time.Duration
	for b.Loop() {
		task := instantiateTask("bench")
		t0 := time.Now()
		p, err := rec.Run(b.Context(), s.site, task)
		if err != nil || p.Outcome != reconcile.Completed {
			b.Fatalf("outcome %s failure %+v err %v", p.Outcome, p.Failure, err)
		}
		full = append(full, time.Since(t0))
		req := task.Deploy
		req.AppInstanceID = task.AppInstanceID + "-bare"
		t0 = time.Now()
		if err := s.vim.Deploy(b.Context(), req); err != nil {
			b.Fatal(err)
		}
		if _, err := vim.WaitPhase(b.Context(), s.vim, req.AppInstanceID, 20*time.Millisecond, vim.PhaseRunning); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(t0))
		// Free the fake site's room for the next round.
		for _, id := range []string{task.AppInstanceID, req.AppInstanceID} {
			if err := s.vim.Terminate(b.Context(), id); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(pct(full, 50), "p50-ms")
	b.ReportMetric(pct(full, 99), "p99-ms")
	b.ReportMetric(pct(bare, 50), "bare-p50-ms")
	b.ReportMetric(pct(bare, 99), "bare-p99-ms")
}

func pct(d []time.Duration, p int) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return float64(s[i].Microseconds()) / 1000
}
