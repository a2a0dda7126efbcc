package controlapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/edgemec/edgemec/upgw/internal/dataplane"
	"github.com/edgemec/edgemec/upgw/internal/ruleset"
)

func newTestHandler(t *testing.T, state string) (*ruleset.Manager, http.Handler) {
	t.Helper()
	dp := &fakeDP{count: map[uint32]dataplane.Counter{}}
	m := ruleset.New(dp, oneApp{}, state, slog.New(slog.DiscardHandler), noop.NewTracerProvider())
	h, err := NewHandler(m, nil, Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return m, h
}

// bigBody is a syntactically valid rule set just over the body limit.
func bigBody() string {
	return `{"version":2,"rules":[{"appInstanceId":"` + strings.Repeat("a", 17<<20) + `","trafficRule":{}}]}`
}

func TestPutRuleSetBodyLimit(t *testing.T) {
	_, h := newTestHandler(t, "")
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			var body io.Reader = strings.NewReader(bigBody())
			if chunked {
				body = io.MultiReader(body) // hides the length: no Content-Length
			}
			req := httptest.NewRequest(http.MethodPut, "/upgw/v1/ruleset", body)
			req.Header.Set("Content-Type", "application/json")
			if chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusRequestEntityTooLarge || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") ||
				!strings.Contains(rec.Body.String(), `"status":413`) || !strings.Contains(rec.Body.String(), "16 MiB") {
				t.Errorf("got %d %s %.200s; want 413 problem+json naming 16 MiB", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
			}
		})
	}
	// A body under the limit still goes through.
	code, _, body := do(t, h, http.MethodPut, "/upgw/v1/ruleset", snapV1)
	if code != 200 {
		t.Fatalf("PUT ruleset: %d %s; want 200", code, body)
	}
}

func TestPutRuleSetVersionLimit(t *testing.T) {
	state := filepath.Join(t.TempDir(), "ruleset.json")
	m, h := newTestHandler(t, state)
	for _, v := range []string{"9007199254740993", "9223372036854775807"} {
		code, ctype, body := do(t, h, http.MethodPut, "/upgw/v1/ruleset", `{"version":`+v+`,"rules":[]}`)
		if code != 400 || !strings.HasPrefix(ctype, "application/problem+json") || !strings.Contains(body, "9007199254740992") {
			t.Errorf("PUT version %s: %d %s %s; want 400 problem+json naming the limit 9007199254740992", v, code, ctype, body)
		}
	}
	if cur := m.Current(); cur.Version != 0 {
		t.Fatalf("active version %d after rejected PUTs; want 0", cur.Version)
	}
	if _, err := os.Stat(state); err == nil {
		t.Errorf("state file written for a rejected version")
	}
	// A normal PUT still works afterwards, and the limit itself is accepted.
	if code, _, body := do(t, h, http.MethodPut, "/upgw/v1/ruleset", snapV1); code != 200 {
		t.Fatalf("PUT version 1: %d %s; want 200", code, body)
	}
	if code, _, body := do(t, h, http.MethodPut, "/upgw/v1/ruleset", `{"version":9007199254740992,"rules":[]}`); code != 200 {
		t.Fatalf("PUT version 2^53: %d %s; want 200", code, body)
	}

	// A state file left with an out-of-range version (written before the limit existed) is
	// not restored: the agent would otherwise answer 409 to every PUT forever.
	bad := filepath.Join(t.TempDir(), "ruleset.json")
	if err := os.WriteFile(bad, []byte(`{"version":9223372036854775807,"rules":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m2, h2 := newTestHandler(t, bad)
	if v, err := m2.Restore(t.Context()); err == nil || v.Version != 0 {
		t.Errorf("restore of version 2^63-1: %d, %v; want an error", v.Version, err)
	}
	if code, _, body := do(t, h2, http.MethodPut, "/upgw/v1/ruleset", snapV1); code != 200 {
		t.Fatalf("PUT after refused restore: %d %s; want 200", code, body)
	}
}
