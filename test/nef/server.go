package nef

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/free5gc/openapi/models"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
)

// BasePath is the API root of Nnef_TrafficInfluence (TS 29.522 clause 5.4.1).
const BasePath = "/3gpp-traffic-influence/v1"

// TokenPath is where the server issues OAuth 2.0 access tokens.
const TokenPath = "/oauth2/token"

// maxBody bounds a request body.
const maxBody = 1 << 20

// Media types of the API.
const (
	mediaJSON       = "application/json"
	mediaMergePatch = "application/merge-patch+json"
	mediaProblem    = "application/problem+json"
)

// Config configures a Server. With neither StaticToken nor Clients, every request is
// accepted unauthenticated.
type Config struct {
	// StaticToken, if set, is a bearer token accepted on every request.
	StaticToken string
	// Clients maps OAuth 2.0 client ids to their secrets; with any, /oauth2/token issues
	// tokens to them (client credentials grant).
	Clients map[string]string
	// TokenTTL is the lifetime of an issued token (default 1 h).
	TokenTTL time.Duration
	// NotifyClient sends notifications (default: a client with a 5 s timeout).
	NotifyClient *http.Client
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger
}

// Request is one request the server answered, for tests to assert on.
type Request struct {
	Method string
	Path   string
	Status int
}

// Subscription is a stored traffic influence subscription.
type Subscription struct {
	AFID string
	ID   string
	// Sub is the subscription as the NEF holds it, self included.
	Sub models.NefTrafficInfluSub
}

// Server is the test NEF. Its methods are safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	subs     map[string]map[string]*Subscription // afId → subscription id → subscription
	tokens   map[string]time.Time                // issued token → expiry
	issued   int
	requests []Request
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.NotifyClient == nil {
		cfg.NotifyClient = &http.Client{Timeout: 5 * time.Second}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:    cfg,
		log:    log,
		subs:   map[string]map[string]*Subscription{},
		tokens: map[string]time.Time{},
	}
}

// Handler returns the HTTP handler of the API and the token endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(TokenPath, s.serveToken)
	mux.HandleFunc(BasePath+"/{afId}/subscriptions", s.authenticated(s.serveCollection))
	mux.HandleFunc(BasePath+"/{afId}/subscriptions/{subscriptionId}", s.authenticated(s.serveIndividual))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "RESOURCE_URI_STRUCTURE_NOT_FOUND", "no resource at %s", r.URL.Path)
	})
	return s.logRequests(mux)
}

// Subscriptions returns the AF's stored subscriptions, ordered by id.
func (s *Server) Subscriptions(afID string) []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Subscription
	for _, sub := range s.subs[afID] {
		out = append(out, clone(sub))
	}
	slices.SortFunc(out, func(a, b Subscription) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Subscription returns one stored subscription.
func (s *Server) Subscription(afID, id string) (Subscription, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[afID][id]
	if !ok {
		return Subscription{}, false
	}
	return clone(sub), true
}

// Requests returns the requests answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// TokensIssued returns how many access tokens /oauth2/token has issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// RevokeTokens forgets every issued token, as a NEF does when its authorisation server
// rotates keys: clients must fetch new ones.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// clone deep-copies a subscription through JSON so callers cannot alias stored state.
func clone(sub *Subscription) Subscription {
	b, err := json.Marshal(sub.Sub)
	if err != nil {
		panic(fmt.Sprintf("nef: marshal stored subscription: %v", err))
	}
	out := Subscription{AFID: sub.AFID, ID: sub.ID}
	if err := json.Unmarshal(b, &out.Sub); err != nil {
		panic(fmt.Sprintf("nef: unmarshal stored subscription: %v", err))
	}
	return out
}

func (s *Server) serveCollection(w http.ResponseWriter, r *http.Request) {
	afID := r.PathValue("afId")
	switch r.Method {
	case http.MethodGet:
		list := s.Subscriptions(afID)
		body := make([]models.NefTrafficInfluSub, 0, len(list))
		for _, sub := range list {
			body = append(body, sub.Sub)
		}
		writeJSON(w, http.StatusOK, body)
	case http.MethodPost:
		var sub models.NefTrafficInfluSub
		if !decode(w, r, mediaJSON, &sub) {
			return
		}
		if sub.Self != "" {
			writeInvalid(w, r, []models.InvalidParam{{Param: "/self", Reason: "read-only: set by the NEF"}})
			return
		}
		if bad := Validate(&sub); len(bad) > 0 {
			writeInvalid(w, r, bad)
			return
		}
		id := newID()
		sub.Self = resourceURL(r, afID, id)
		s.mu.Lock()
		if s.subs[afID] == nil {
			s.subs[afID] = map[string]*Subscription{}
		}
		s.subs[afID][id] = &Subscription{AFID: afID, ID: id, Sub: sub}
		s.mu.Unlock()
		s.log.InfoContext(r.Context(), "subscription created", logkeys.SubscriptionID, id)
		w.Header().Set("Location", sub.Self)
		writeJSON(w, http.StatusCreated, sub)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeProblem(w, r, http.StatusMethodNotAllowed, "", "method %s not allowed", r.Method)
	}
}

func (s *Server) serveIndividual(w http.ResponseWriter, r *http.Request) {
	afID, id := r.PathValue("afId"), r.PathValue("subscriptionId")
	cur, ok := s.Subscription(afID, id)
	if !ok {
		writeProblem(w, r, http.StatusNotFound, "SUBSCRIPTION_NOT_FOUND", "no subscription %s of AF %s", id, afID)
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, cur.Sub)
	case http.MethodDelete:
		s.mu.Lock()
		delete(s.subs[afID], id)
		s.mu.Unlock()
		s.log.InfoContext(r.Context(), "subscription deleted", logkeys.SubscriptionID, id)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		var sub models.NefTrafficInfluSub
		if !decode(w, r, mediaJSON, &sub) {
			return
		}
		if sub.Self != "" && sub.Self != cur.Sub.Self {
			writeInvalid(w, r, []models.InvalidParam{{Param: "/self", Reason: "read-only: differs from the resource"}})
			return
		}
		if bad := Validate(&sub); len(bad) > 0 {
			writeInvalid(w, r, bad)
			return
		}
		sub.Self = cur.Sub.Self
		s.store(afID, id, sub)
		writeJSON(w, http.StatusOK, sub)
	case http.MethodPatch:
		s.patch(w, r, cur)
	default:
		w.Header().Set("Allow", "GET, PUT, PATCH, DELETE")
		writeProblem(w, r, http.StatusMethodNotAllowed, "", "method %s not allowed", r.Method)
	}
}

// patch applies a JSON merge patch (RFC 7396) to the stored subscription. The patch itself
// must decode strictly into NefTrafficInfluSubPatch, which limits it to the members TS
// 29.522 lets an AF modify; the merged result is decoded and checked like a new one.
func (s *Server) patch(w http.ResponseWriter, r *http.Request, cur Subscription) {
	raw, ok := readBody(w, r, mediaMergePatch)
	if !ok {
		return
	}
	var p models.NefTrafficInfluSubPatch
	if err := strictUnmarshal(raw, &p); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "INVALID_MSG_FORMAT", "body is not a TrafficInfluSubPatch: %v", err)
		return
	}
	var patch map[string]any
	if err := json.Unmarshal(raw, &patch); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "INVALID_MSG_FORMAT", "body is not a JSON object: %v", err)
		return
	}
	doc, err := json.Marshal(cur.Sub)
	if err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "SYSTEM_FAILURE", "marshal stored subscription: %v", err)
		return
	}
	var target map[string]any
	if err := json.Unmarshal(doc, &target); err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "SYSTEM_FAILURE", "unmarshal stored subscription: %v", err)
		return
	}
	merged, err := json.Marshal(MergePatch(target, patch))
	if err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "SYSTEM_FAILURE", "marshal merged subscription: %v", err)
		return
	}
	var sub models.NefTrafficInfluSub
	if err := strictUnmarshal(merged, &sub); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "INVALID_MSG_FORMAT", "patched subscription does not decode: %v", err)
		return
	}
	if bad := Validate(&sub); len(bad) > 0 {
		writeInvalid(w, r, bad)
		return
	}
	sub.Self = cur.Sub.Self
	s.store(cur.AFID, cur.ID, sub)
	s.log.InfoContext(r.Context(), "subscription patched", logkeys.SubscriptionID, cur.ID)
	writeJSON(w, http.StatusOK, sub)
}

func (s *Server) store(afID, id string, sub models.NefTrafficInfluSub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.subs[afID]; m != nil {
		if _, ok := m[id]; ok {
			m[id] = &Subscription{AFID: afID, ID: id, Sub: sub}
		}
	}
}

// MergePatch applies an RFC 7396 JSON merge patch to target and returns the result: members
// of patch replace those of target, null members delete them, and objects merge recursively.
func MergePatch(target any, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = MergePatch(t[k], v)
	}
	return t
}

// decode reads a body of the wanted media type into v, refusing unknown members.
func decode(w http.ResponseWriter, r *http.Request, media string, v any) bool {
	raw, ok := readBody(w, r, media)
	if !ok {
		return false
	}
	if err := strictUnmarshal(raw, v); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "INVALID_MSG_FORMAT", "body does not decode: %v", err)
		return false
	}
	return true
}

func readBody(w http.ResponseWriter, r *http.Request, media string) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != media {
		writeProblem(w, r, http.StatusUnsupportedMediaType, "", "content type %q: want %s", r.Header.Get("Content-Type"), media)
		return nil, false
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeProblem(w, r, http.StatusRequestEntityTooLarge, "", "body larger than %d bytes", maxBody)
			return nil, false
		}
		writeProblem(w, r, http.StatusBadRequest, "", "read body: %v", err)
		return nil, false
	}
	return raw, true
}

func resourceURL(r *http.Request, afID, id string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s%s/%s/subscriptions/%s", scheme, r.Host, BasePath, afID, id)
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeProblem sends a TS 29.122 ProblemDetails.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, cause, format string, args ...any) {
	writeProblemDetails(w, models.ProblemDetails{
		Title:    http.StatusText(status),
		Status:   int32(status),
		Detail:   fmt.Sprintf(format, args...),
		Instance: r.URL.Path,
		Cause:    cause,
	})
}

func writeInvalid(w http.ResponseWriter, r *http.Request, bad []models.InvalidParam) {
	reasons := make([]string, 0, len(bad))
	for _, p := range bad {
		reasons = append(reasons, p.Param+": "+p.Reason)
	}
	writeProblemDetails(w, models.ProblemDetails{
		Title:         http.StatusText(http.StatusBadRequest),
		Status:        http.StatusBadRequest,
		Detail:        strings.Join(reasons, "; "),
		Instance:      r.URL.Path,
		Cause:         "INVALID_MSG_FORMAT",
		InvalidParams: bad,
	})
}

func writeProblemDetails(w http.ResponseWriter, p models.ProblemDetails) {
	w.Header().Set("Content-Type", mediaProblem)
	w.WriteHeader(int(p.Status))
	_ = json.NewEncoder(w).Encode(p)
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader remembers the first status.
func (sw *statusWriter) WriteHeader(status int) {
	if sw.status == 0 {
		sw.status = status
	}
	sw.ResponseWriter.WriteHeader(status)
}

// Write counts an implicit 200.
func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: sw.status})
		s.mu.Unlock()
		s.log.DebugContext(r.Context(), "request served", logkeys.Method, r.Method, logkeys.Path, r.URL.Path, logkeys.Status, sw.status)
	})
}
