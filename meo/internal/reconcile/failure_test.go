package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		temporary bool
		title     string
		status    int
	}{
		{"image missing", vim.Errorf("status", "a", vim.ErrImageMissing, "pull registry.invalid/x: not found"), false, "image missing", 422},
		{"quota", vim.Errorf("status", "a", vim.ErrQuota, "exceeded quota"), false, "quota exceeded", 422},
		{"unschedulable", vim.Errorf("status", "a", vim.ErrUnschedulable, "0/2 nodes"), false, "unschedulable", 422},
		{"invalid", fmt.Errorf("deploy: %w", vim.ErrInvalid), false, "invalid request", 422},
		{"forbidden", vim.Errorf("deploy", "a", vim.ErrForbidden, "rbac"), false, "forbidden on the site", 403},
		{"workload failed", vim.Errorf("status", "a", vim.ErrFailed, "crash loop"), false, "workload failed", 500},
		{"vim unavailable", vim.Errorf("deploy", "a", vim.ErrUnavailable, "dial"), true, "vim unavailable", 503},
		{"vim conflict", vim.Errorf("deploy", "a", vim.ErrConflict, "busy"), true, "conflict on the site", 409},
		{"mep refused", mepError("put", 400, []byte("bad"), nil), false, "refused by the mep", 422},
		{"mep forbidden", mepError("put", 403, []byte("no"), nil), false, "refused by the mep", 422},
		{"mep conflict", mepError("put", 409, []byte("terminating"), nil), true, "conflict on the mep", 409},
		{"mep 5xx", mepError("get", 502, []byte("gateway"), nil), true, "mep unreachable", 503},
		{"mep transport", transportError("put", errors.New("connection refused")), true, "mep unreachable", 503},
		{"step timeout", fmt.Errorf("%w after 1s", ErrStepTimeout), true, "step timed out", 504},
		{"unknown", errors.New("something"), true, "step failed", 500},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := classify(StepVIMDeployed, c.err)
			if f.Temporary != c.temporary || f.Title != c.title || f.Status != c.status {
				t.Fatalf("got temporary %v title %q status %d; want %v %q %d", f.Temporary, f.Title, f.Status, c.temporary, c.title, c.status)
			}
			if !errors.Is(f, c.err) || f.Detail != c.err.Error() || f.Step != StepVIMDeployed {
				t.Fatalf("failure %+v does not carry the error %v", f, c.err)
			}
			if pd := f.Problem(); pd.Status != c.status || pd.Detail != c.err.Error() {
				t.Fatalf("problem %+v; want status %d with the error's words", pd, c.status)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.2}
	for _, c := range []struct {
		n    int
		base time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {40, time.Second}} {
		for range 50 {
			d := p.Backoff(c.n)
			if lo, hi := time.Duration(float64(c.base)*0.8), time.Duration(float64(c.base)*1.2); d < lo || d > hi {
				t.Fatalf("Backoff(%d) = %v; want within [%v, %v]", c.n, d, lo, hi)
			}
		}
	}
	if d := (RetryPolicy{Initial: time.Second, Jitter: -1}).Backoff(3); d != 4*time.Second {
		t.Fatalf("Backoff without jitter = %v; want 4s", d)
	}
}

func TestTaskValidate(t *testing.T) {
	ok := Task{ID: "op1", Kind: KindInstantiate, AppInstanceID: "app-1"}
	for _, c := range []struct {
		name string
		edit func(*Task)
		ok   bool
	}{
		{"valid", func(*Task) {}, true},
		{"no id", func(t *Task) { t.ID = "" }, false},
		{"bad instance id", func(t *Task) { t.AppInstanceID = "App_1" }, false},
		{"unknown kind", func(t *Task) { t.Kind = "SCALE" }, false},
		{"unknown stop type", func(t *Task) { t.StopType = "SOFT" }, false},
		{"graceful timeout too long", func(t *Task) { t.GracefulTimeout = 2 * time.Hour }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			task := ok
			c.edit(&task)
			if err := task.Validate(); (err == nil) != c.ok {
				t.Fatalf("Validate() = %v; want ok %v", err, c.ok)
			}
		})
	}
}

func TestMemoryJournalKeepsFailure(t *testing.T) {
	j := NewMemoryJournal()
	f := classify(StepMEPProvisioned, transportError("put", errors.New("connection refused")))
	in := Progress{Kind: KindInstantiate, AppInstanceID: "a", Done: StepNone, Attempts: 2, Outcome: FailedTemp, Failure: f}
	if err := j.Save(context.Background(), "op", in); err != nil {
		t.Fatal(err)
	}
	out, err := j.Load(context.Background(), "op")
	if err != nil {
		t.Fatal(err)
	}
	if out.Failure == nil || out.Failure.Title != f.Title || out.Failure.Status != http.StatusServiceUnavailable || out.Attempts != 2 || !siteUnreachable(out.Failure) {
		t.Fatalf("loaded %+v; want the saved failure, still seen as the site unreachable", out)
	}
	if p, _ := j.Load(context.Background(), "never"); p.Kind != "" {
		t.Fatalf("unknown task loaded %+v; want the zero Progress", p)
	}
}
