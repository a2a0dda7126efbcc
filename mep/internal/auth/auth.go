// Package auth implements Mp1 authentication: OAuth 2.0 client credentials (RFC 6749 §4.4)
// with per-app-instance credentials derived from the site key, short-lived HS256 JWT bearer
// tokens, and a static operator token for the MEO and for operations.
//
// Client secrets are never stored: secret = HMAC-SHA256(siteKey, "client-secret/"+appInstanceId).
// Re-provisioning an instance therefore returns the same credentials (an idempotent Mm5 PUT),
// and rotating the site key revokes every credential and token at once.
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
	// AppInstanceID is the app a token was issued to (empty for the operator).
	AppInstanceID string
}

// Authority issues and checks credentials and tokens of one site.
type Authority struct {
	secretKey []byte
	jwtKey    []byte
	operator  []byte
	issuer    string
	ttl       time.Duration
	now       func() time.Time

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
// empty (no operator access); ttl is the token lifetime (default 1 h).
func New(siteKey, operatorToken, issuer string, ttl time.Duration) (*Authority, error) {
	k, err := hex.DecodeString(siteKey)
	if err != nil || len(k) < 16 {
		return nil, fmt.Errorf("site key: want at least 16 hex-encoded bytes")
	}
	if ttl == 0 {
		ttl = time.Hour
	}
	return &Authority{secretKey: derive(k, "client-secret"), jwtKey: derive(k, "jwt"), operator: []byte(operatorToken),
		issuer: issuer, ttl: ttl, now: time.Now, verified: map[string]cachedToken{}}, nil
}

func derive(k []byte, label string) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// ClientSecret returns the client secret of an app instance.
func (a *Authority) ClientSecret(appInstanceID string) string {
	m := hmac.New(sha256.New, a.secretKey)
	m.Write([]byte(appInstanceID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Issue checks client credentials and returns a bearer token and its lifetime. exists
// reports whether the app instance is (still) on the site.
func (a *Authority) Issue(clientID, secret string, exists func(string) bool) (string, time.Duration, error) {
	want := a.ClientSecret(clientID)
	if clientID == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 || !exists(clientID) {
		return "", 0, ErrInvalidClient
	}
	now := a.now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer: a.issuer, Subject: clientID, Audience: jwt.ClaimStrings{"mp1"},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(a.ttl)),
	})
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
	if len(a.operator) > 0 && subtle.ConstantTimeCompare([]byte(tok), a.operator) == 1 {
		return Principal{Operator: true}, nil
	}
	now := a.now()
	a.mu.RLock()
	c, ok := a.verified[tok]
	a.mu.RUnlock()
	if ok && now.Before(c.exp) {
		return c.p, nil
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return a.jwtKey, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(a.issuer), jwt.WithAudience("mp1"),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(a.now))
	if err != nil || claims.Subject == "" {
		return Principal{}, fmt.Errorf("%w: invalid or expired token", ErrUnauthenticated)
	}
	p := Principal{AppInstanceID: claims.Subject}
	a.mu.Lock()
	if len(a.verified) >= maxCachedTokens {
		clear(a.verified)
	}
	a.verified[tok] = cachedToken{p: p, exp: claims.ExpiresAt.Time}
	a.mu.Unlock()
	return p, nil
}
