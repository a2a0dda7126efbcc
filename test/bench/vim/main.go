// Command vim measures deploy → Running through the Kubernetes adapter on a test-bed
// site (test/bench.d/vim.sh runs it): it deploys N image-only instances at once, follows them
// with one Watch, and prints the p50/p99/max of the time from each Deploy call to its Running
// event, then terminates them.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// run deploys the instances and prints the figures; main exits on its error after the
// deferred cancels ran.
func run() error {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "site kubeconfig")
	n := flag.Int("n", 100, "instances")
	timeout := flag.Duration("timeout", 5*time.Minute, "overall timeout")
	label := flag.String("label", "", "label for the printed figures")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := kubernetes.New(kubernetes.Config{Site: "bench", Clients: kubernetes.FromKubeconfig(*kubeconfig), Logger: quiet})
	if err != nil {
		return err
	}
	events, err := a.Watch(ctx)
	if err != nil {
		return err
	}
	run := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	ids := make([]string, *n)
	begin := make(map[string]time.Time, *n)
	var mu sync.Mutex
	for i := range ids {
		ids[i] = fmt.Sprintf("b%s-%03d", run, i)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			begin[id] = time.Now()
			mu.Unlock()
			req := vim.DeployRequest{AppInstanceID: id, AppDID: "bench-appd", AppName: "bench",
				Image: vim.SwImage{Ref: "local/mec-app:dev"}, Artifacts: vim.Artifacts{Ports: []vim.Port{{Name: "http", Port: 8080}}},
				Compute: vim.VirtualCompute{VirtualCPUs: 0.01, MemoryMiB: 16}}
			if err := a.Deploy(ctx, req); err != nil {
				errs <- fmt.Errorf("deploy %s: %w", id, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	applied := time.Since(start)
	var durs []time.Duration
	seen := map[string]bool{}
	for len(seen) < *n {
		select {
		case ev := <-events:
			mu.Lock()
			t0, ok := begin[ev.Status.AppInstanceID]
			mu.Unlock()
			if ok && !seen[ev.Status.AppInstanceID] && ev.Status.Phase == vim.PhaseRunning {
				seen[ev.Status.AppInstanceID] = true
				durs = append(durs, time.Since(t0))
			}
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d instances Running before the timeout", len(seen), *n)
		}
	}
	total := time.Since(start)
	slices.Sort(durs)
	pct := func(p float64) time.Duration {
		return durs[min(len(durs)-1, int(p*float64(len(durs))))].Round(time.Millisecond)
	}
	fmt.Printf("vim/kubernetes %s: %d instances deployed concurrently on a kwok site; all applied in %v, all Running in %v\n",
		*label, *n, applied.Round(time.Millisecond), total.Round(time.Millisecond))
	fmt.Printf("vim/kubernetes %s: deploy → Running p50 %v  p99 %v  max %v\n", *label, pct(0.50), pct(0.99), durs[len(durs)-1].Round(time.Millisecond))
	tctx, tcancel := context.WithTimeout(context.Background(), time.Minute)
	defer tcancel()
	for _, id := range ids {
		if err := a.Terminate(tctx, id); err != nil {
			log.Printf("terminate %s: %v", id, err)
		}
	}
	return nil
}
