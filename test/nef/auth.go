package nef

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// serveToken is the OAuth 2.0 token endpoint, client credentials grant only (RFC 6749
// clause 4.4). Clients authenticate by HTTP Basic (clause 2.3.1, preferred) or by
// client_id and client_secret form parameters. Errors follow clause 5.2.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request")
		return
	}
	if len(s.cfg.Clients) == 0 {
		tokenError(w, http.StatusNotFound, "invalid_request")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	want, known := s.cfg.Clients[id]
	if !known || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="nef"`)
		}
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(s.cfg.TokenTTL)
	s.issued++
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(s.cfg.TokenTTL / time.Second),
	})
}

func tokenError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

// authenticated requires a valid bearer token (RFC 6750) when the server has any
// credentials configured.
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.StaticToken == "" && len(s.cfg.Clients) == 0 {
			next(w, r)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !s.validToken(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nef"`)
			writeProblem(w, r, http.StatusUnauthorized, "", "missing or invalid bearer token")
			return
		}
		next(w, r)
	}
}

func (s *Server) validToken(tok string) bool {
	if tok == "" {
		return false
	}
	if s.cfg.StaticToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.StaticToken)) == 1 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	return ok && time.Now().Before(exp)
}
