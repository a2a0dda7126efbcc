// Package auth implements Mp1 authentication: OAuth 2.0 client credentials (RFC 6749 §4.4)
// with per-app-instance credentials derived from the site key, short-lived HS256 JWT bearer
// tokens, static operator tokens for the MEO and for operations, and static feed tokens that
// may only read the rule feeds (for the UPGW).
//
// Client secrets are never stored: secret = HMAC-SHA256(k, appInstanceId + 0 + epoch), k
// derived from the site key. The epoch names the instance's incarnation (new each time the
// id is created on the site) and its secret generation (new at each rotation), and every
// token carries it: a replace of the instance (an idempotent Mm5 PUT) keeps the credentials,
// while a termination and re-creation of the same id, or a rotation of one app's secret,
// revokes that app's secret and tokens. Rotating the site key revokes every credential and
// token at once. Instances from before epochs have the epoch "" and keep the secret derived
// from the id alone.
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrInvalidClient   = errors.New("invalid client")
)

// Principal is who a request acts for.
type Principal struct {
	// Operator is true for the operator token: every route, every app.
	Operator bool
	// Feed is true for a feed token: read-only access to the rule feeds, nothing else.
	Feed bool
	// AppInstanceID is the app a token was issued to (empty for the operator).
	AppInstanceID string
	// Epoch is the credential epoch the token was issued in: the token is the app's only
	// while the app is still in that epoch.
	Epoch string
}

// claims are the claims of an app token.
type claims struct {
	jwt.RegisteredClaims
	Epoch string `json:"mep_epoch,omitempty"`
}

// Authority issues and checks credentials and tokens of one site.
type Authority struct {
	secretKey []byte
	jwtKey    []byte
	// operators are the valid operator tokens: one, or two while one is being rotated.
	operators atomic.Pointer[[][]byte]
	// feeds are the valid feed tokens (read the rule feeds only).
	feeds  atomic.Pointer[[][]byte]
	issuer string
	ttl    time.Duration
	now    func() time.Time

	// verified caches tokens whose signature and claims were checked, until they expire:
	// verifying an HS256 JWT costs more than the rest of a discovery request. The cache is
	// keyed by the whole token, so a hit is exactly as strong as a verification.
	mu       sync.RWMutex
	verified map[string]cachedToken
}

type cachedToken struct {
	p   Principal
	exp time.Time
}

// maxCachedTokens bounds the verified-token cache (≈ 3 MB at the limit); when full it is
// emptied and refills with the tokens in use.
const maxCachedTokens = 10000

// NewSiteKey returns a new random site key, hex encoded.
func NewSiteKey() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// New returns an Authority. siteKey is the hex key from NewSiteKey; operatorToken may be
// empty (no operator access; see SetOperatorTokens for more than one); ttl is the token
// lifetime (default 1 h).
func New(siteKey, operatorToken, issuer string, ttl time.Duration) (*Authority, error) {
	k, err := hex.DecodeString(siteKey)
	if err != nil || len(k) < 16 {
		return nil, fmt.Errorf("site key: want at least 16 hex-encoded bytes")
	}
	if ttl == 0 {
		ttl = time.Hour
	}
	a := &Authority{secretKey: derive(k, "client-secret"), jwtKey: derive(k, "jwt"),
		issuer: issuer, ttl: ttl, now: time.Now, verified: map[string]cachedToken{}}
	a.SetOperatorTokens(operatorToken)
	a.SetFeedTokens()
	return a, nil
}

// SetFeedTokens replaces the valid feed tokens (empty ones are ignored): bearer tokens that
// authenticate as a Feed principal, which may only read the rule feeds. Two at once let
// one be rotated without downtime.
func (a *Authority) SetFeedTokens(tokens ...string) {
	a.feeds.Store(tokenList(tokens))
}

func tokenList(tokens []string) *[][]byte {
	var ts [][]byte
	for _, t := range tokens {
		if t != "" {
			ts = append(ts, []byte(t))
		}
	}
	return &ts
}

// SetOperatorTokens replaces the valid operator tokens (empty ones are ignored). Two at
// once let the operator token be rotated without downtime: add the new one, move the
// clients, drop the old one.
func (a *Authority) SetOperatorTokens(tokens ...string) {
	a.operators.Store(tokenList(tokens))
}

// oneOf compares tok with every token of ts in constant time.
func oneOf(tok string, ts *[][]byte) bool {
	ok := 0
	for _, t := range *ts {
		ok |= subtle.ConstantTimeCompare([]byte(tok), t)
	}
	return ok == 1
}

func derive(k []byte, label string) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// ClientSecret returns the client secret of an app instance in a credential epoch.
func (a *Authority) ClientSecret(appInstanceID, epoch string) string {
	m := hmac.New(sha256.New, a.secretKey)
	m.Write([]byte(appInstanceID))
	if epoch != "" {
		m.Write([]byte{0})
		m.Write([]byte(epoch))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// EpochFunc returns the current credential epoch of an app instance and whether the
// instance is on the site.
type EpochFunc func(appInstanceID string) (string, bool)

// Issue checks client credentials and returns a bearer token and its lifetime. epoch gives
// the app instance's current credential epoch: only the secret of that epoch is accepted,
// and the token carries it.
func (a *Authority) Issue(clientID, secret string, epoch EpochFunc) (string, time.Duration, error) {
	ep, ok := epoch(clientID)
	want := a.ClientSecret(clientID, ep)
	if clientID == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 || !ok {
		return "", 0, ErrInvalidClient
	}
	now := a.now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: a.issuer, Subject: clientID, Audience: jwt.ClaimStrings{"mp1"},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(a.ttl)),
	}, Epoch: ep})
	s, err := tok.SignedString(a.jwtKey)
	if err != nil {
		return "", 0, fmt.Errorf("sign token: %w", err)
	}
	return s, a.ttl, nil
}

// Authenticate resolves an Authorization header value to a Principal.
func (a *Authority) Authenticate(header string) (Principal, error) {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || tok == "" {
		return Principal{}, fmt.Errorf("%w: missing bearer token", ErrUnauthenticated)
	}
	if oneOf(tok, a.operators.Load()) {
		return Principal{Operator: true}, nil
	}
	if oneOf(tok, a.feeds.Load()) {
		return Principal{Feed: true}, nil
	}
	now := a.now()
	a.mu.RLock()
	c, ok := a.verified[tok]
	a.mu.RUnlock()
	if ok && now.Before(c.exp) {
		return c.p, nil
	}
	var cl claims
	_, err := jwt.ParseWithClaims(tok, &cl, func(*jwt.Token) (any, error) { return a.jwtKey, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(a.issuer), jwt.WithAudience("mp1"),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(a.now))
	if err != nil || cl.Subject == "" {
		return Principal{}, fmt.Errorf("%w: invalid or expired token", ErrUnauthenticated)
	}
	p := Principal{AppInstanceID: cl.Subject, Epoch: cl.Epoch}
	a.mu.Lock()
	if len(a.verified) >= maxCachedTokens {
		clear(a.verified)
	}
	a.verified[tok] = cachedToken{p: p, exp: cl.ExpiresAt.Time}
	a.mu.Unlock()
	return p, nil
}
