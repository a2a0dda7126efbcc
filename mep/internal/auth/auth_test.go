package auth

import (
	"errors"
	"testing"
	"time"
)

func TestIssueAndAuthenticate(t *testing.T) {
	a, err := New(NewSiteKey(), "op-token", "mep-test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	exists := func(id string) (string, bool) { return "inc.0", id == "app1" }
	sec := a.ClientSecret("app1", "inc.0")
	if sec == a.ClientSecret("app2", "inc.0") {
		t.Fatal("two apps got the same secret")
	}
	if sec == a.ClientSecret("app1", "inc.1") || sec == a.ClientSecret("app1", "") {
		t.Fatal("two epochs of one app got the same secret")
	}
	if _, _, err := a.Issue("app1", "wrong", exists); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("wrong secret: got %v; want ErrInvalidClient", err)
	}
	if _, _, err := a.Issue("app2", a.ClientSecret("app2", "inc.0"), exists); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("unknown app: got %v; want ErrInvalidClient", err)
	}
	tok, ttl, err := a.Issue("app1", sec, exists)
	if err != nil || ttl != time.Minute {
		t.Fatalf("issue: %v %v", ttl, err)
	}
	p, err := a.Authenticate("Bearer " + tok)
	if err != nil || p.Operator || p.AppInstanceID != "app1" || p.Epoch != "inc.0" {
		t.Fatalf("authenticate: got %+v %v; want app1", p, err)
	}
	p, err = a.Authenticate("Bearer op-token")
	if err != nil || !p.Operator {
		t.Fatalf("operator: got %+v %v", p, err)
	}
	// Tokens of another site key, expired tokens and garbage are rejected.
	other, _ := New(NewSiteKey(), "", "mep-test", time.Minute)
	foreign, _, _ := other.Issue("app1", other.ClientSecret("app1", "inc.0"), exists)
	a.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	for name, h := range map[string]string{"foreign": "Bearer " + foreign, "expired": "Bearer " + tok,
		"garbage": "Bearer x.y.z", "empty": "", "basic": "Basic abc"} {
		if _, err := a.Authenticate(h); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: got %v; want ErrUnauthenticated", name, err)
		}
	}
}

func TestNewRejectsShortKey(t *testing.T) {
	if _, err := New("abcd", "", "x", 0); err == nil {
		t.Fatal("short site key accepted")
	}
}

// TestLimiter: Burst failures pass, the next waits about Every; keys are independent and
// a bucket refills with time.
func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := &Limiter{Burst: 3, Every: 10 * time.Second, Now: func() time.Time { return now }}
	for i := range 3 {
		if w := l.Wait("a", "x"); w != 0 {
			t.Fatalf("failure %d: got wait %v; want 0", i, w)
		}
		l.Fail("a", "x")
	}
	if w := l.Wait("a"); w != 10*time.Second {
		t.Fatalf("after burst: got wait %v; want 10s", w)
	}
	if w := l.Wait("b", "y"); w != 0 {
		t.Fatalf("other keys: got wait %v; want 0", w)
	}
	now = now.Add(4 * time.Second)
	if w := l.Wait("b", "x"); w != 6*time.Second {
		t.Fatalf("shared address: got wait %v; want 6s", w)
	}
	now = now.Add(6 * time.Second)
	if w := l.Wait("a"); w != 0 {
		t.Fatalf("after refill: got wait %v; want 0", w)
	}
	small := &Limiter{MaxKeys: 2}
	for _, k := range []string{"1", "2", "3", "4"} {
		small.Fail(k)
	}
	if len(small.buckets) > 2 {
		t.Fatalf("got %d buckets; want at most MaxKeys 2", len(small.buckets))
	}
}
