package controlapi

import (
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/edgemec/edgemec/upgw/internal/dataplane"
	"github.com/edgemec/edgemec/upgw/internal/feed"
	"github.com/edgemec/edgemec/upgw/internal/ruleset"
)

// TestManualRuleSetWhileFollowingFeed: an agent that follows a MEP feed refuses a manual
// rule set with a 409 ProblemDetails unless told to allow them (issue 15 §4).
func TestManualRuleSetWhileFollowingFeed(t *testing.T) {
	live := func() feed.Status { return feed.Status{Connected: true} }
	tests := []struct {
		name  string
		fs    FeedStatus
		allow bool
		code  int
		body  string
	}{
		{"following a feed", live, false, http.StatusConflict, "follows the MEP's traffic-rule feed"},
		{"following a feed, manual sets allowed", live, true, http.StatusOK, `"source":"api"`},
		{"no feed", nil, false, http.StatusOK, `"source":"api"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := &fakeDP{count: map[uint32]dataplane.Counter{}}
			m := ruleset.New(dp, oneApp{}, "", slog.New(slog.DiscardHandler), noop.NewTracerProvider())
			h, err := NewHandler(m, tt.fs, Options{AllowManualRuleSets: tt.allow}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			code, ctype, body := do(t, h, http.MethodPut, "/upgw/v1/ruleset", snapV1)
			if code != tt.code || !strings.Contains(body, tt.body) {
				t.Errorf("PUT: %d %s %s; want %d containing %s", code, ctype, body, tt.code, tt.body)
			}
			if code == http.StatusConflict && !strings.HasPrefix(ctype, "application/problem+json") {
				t.Errorf("content type %s; want application/problem+json", ctype)
			}
		})
	}
}

// TestPutNotSaved: a rule set that could not be saved is answered 500, and the status shows
// it in force but not saved, with the failure count.
func TestPutNotSaved(t *testing.T) {
	state := filepath.Join(t.TempDir(), "missing-dir", "ruleset.json")
	m, h := newTestHandler(t, state)
	code, ctype, body := do(t, h, http.MethodPut, "/upgw/v1/ruleset", snapV1)
	if code != http.StatusInternalServerError || !strings.HasPrefix(ctype, "application/problem+json") || !strings.Contains(body, "not saved") {
		t.Errorf("PUT with an unwritable state file: %d %s %s; want a 500 ProblemDetails saying it was not saved", code, ctype, body)
	}
	if m.Current().Version != 1 {
		t.Errorf("version %d; want 1 in force", m.Current().Version)
	}
	code, _, body = do(t, h, http.MethodGet, "/upgw/v1/status", "")
	for _, want := range []string{`"ruleSetSaved":false`, `"ruleSetSaveFailures":1`, `"ruleSetVersion":1`, `"ruleSetSaveError":`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("status %d %s; want %s", code, body, want)
		}
	}
}
