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
	exists := func(id string) bool { return id == "app1" }
	sec := a.ClientSecret("app1")
	if sec == a.ClientSecret("app2") {
		t.Fatal("two apps got the same secret")
	}
	if _, _, err := a.Issue("app1", "wrong", exists); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("wrong secret: got %v; want ErrInvalidClient", err)
	}
	if _, _, err := a.Issue("app2", a.ClientSecret("app2"), exists); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("unknown app: got %v; want ErrInvalidClient", err)
	}
	tok, ttl, err := a.Issue("app1", sec, exists)
	if err != nil || ttl != time.Minute {
		t.Fatalf("issue: %v %v", ttl, err)
	}
	p, err := a.Authenticate("Bearer " + tok)
	if err != nil || p.Operator || p.AppInstanceID != "app1" {
		t.Fatalf("authenticate: got %+v %v; want app1", p, err)
	}
	p, err = a.Authenticate("Bearer op-token")
	if err != nil || !p.Operator {
		t.Fatalf("operator: got %+v %v", p, err)
	}
	// Tokens of another site key, expired tokens and garbage are rejected.
	other, _ := New(NewSiteKey(), "", "mep-test", time.Minute)
	foreign, _, _ := other.Issue("app1", other.ClientSecret("app1"), exists)
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
