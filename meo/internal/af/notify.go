package af

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/free5gc/openapi/models"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/internal/problem"
)

// ErrUnknownSubscription is returned by a Lookup for an app instance that has no
// subscription (any more).
var ErrUnknownSubscription = errors.New("unknown traffic influence subscription")

// Lookup finds the Binding of an app instance's subscription.
type Lookup interface {
	// NotifyBinding returns the instance's Binding, or an error matching
	// ErrUnknownSubscription.
	NotifyBinding(ctx context.Context, appInstanceID string) (Binding, error)
}

// UPPathChange is one user plane path change the NEF reported: the UE's traffic for the app
// now leaves the 5G core at TargetDNAI instead of SourceDNAI.
type UPPathChange struct {
	// UEIPv4 and UEIPv6Prefix identify the UE (the target values, else the source ones);
	// GPSI too, when the NEF sent it. Any may be zero.
	UEIPv4       netip.Addr
	UEIPv6Prefix netip.Prefix
	GPSI         string
	// SourceDNAI is empty when the traffic did not leave at a DNAI before.
	SourceDNAI, TargetDNAI string
	// ChangeType is the DNAI change type, EARLY, LATE or EARLY_LATE.
	ChangeType string
	// At is when the MEO received the notification.
	At time.Time
}

// Recorder keeps what notifications say. The LCM implements it to record the change on the
// app instance.
type Recorder interface {
	RecordUPPathChange(ctx context.Context, appInstanceID string, ch UPPathChange) error
}

// maxNotification bounds a notification body.
const maxNotification = 64 << 10

// NotifyHandler receives the NEF's UP path change notifications (TS 29.522 clause 5.4.4.2:
// POST of an EventNotification to the subscription's notificationDestination). It is an
// http.Handler whose request paths end in /{appInstanceId}/{token}, the form NotifyURLs
// makes; mount it under NotifyURLs.Base (with or without the prefix stripped). Each
// notification is checked in this order:
//
//  1. POST only: 405.
//  2. The instance has a subscription (Lookup): else 404.
//  3. The token's SHA-256 is the Binding's, compared in constant time: else 401.
//  4. application/json: else 415.
//  5. The body decodes strictly into free5gc's EventNotification (unknown members and
//     trailing data refused, at most 64 KiB), subscribedEvent is UP_PATH_CHANGE, targetDnai
//     is present, the UE addresses parse, dnaiChgType is known, and afTransId, if sent, is
//     the instance: else 400.
//  6. The Recorder keeps it: else 500, so that the NEF tries again.
//
// Then it answers 204. Nothing is recorded for a refused notification.
type NotifyHandler struct {
	lookup Lookup
	rec    Recorder
	log    *slog.Logger
	now    func() time.Time
}

// NewNotifyHandler returns a NotifyHandler.
func NewNotifyHandler(lookup Lookup, rec Recorder, log *slog.Logger) *NotifyHandler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &NotifyHandler{lookup: lookup, rec: rec, log: log, now: time.Now}
}

var _ http.Handler = (*NotifyHandler)(nil)

// ServeHTTP checks and records one notification, in the order of the type's comment.
func (h *NotifyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		return
	}
	segs := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	if len(segs) < 2 {
		h.refuse(w, r, http.StatusNotFound, "no subscription at this path")
		return
	}
	instID, err := url.PathUnescape(segs[len(segs)-2])
	tok := segs[len(segs)-1]
	if err != nil || instID == "" || tok == "" {
		h.refuse(w, r, http.StatusNotFound, "no subscription at this path")
		return
	}
	switch err := h.Check(ctx, instID, tok); {
	case errors.Is(err, ErrUnknownSubscription):
		h.refuse(w, r, http.StatusNotFound, "no subscription for app instance %s", instID)
		return
	case errors.Is(err, ErrUnauthenticated):
		h.log.WarnContext(ctx, "notification refused: bad token", logkeys.AppInstanceID, instID)
		h.refuse(w, r, http.StatusUnauthorized, "notification not authenticated")
		return
	case err != nil:
		h.fail(w, r, instID, fmt.Errorf("look up subscription: %w", err))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.refuse(w, r, http.StatusUnsupportedMediaType, "content type %q: want application/json", r.Header.Get("Content-Type"))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotification))
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, "read body: %v", err)
		return
	}
	ch, err := decodeNotification(raw, instID)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, "%v", err)
		return
	}
	ch.At = h.now()
	if err := h.rec.RecordUPPathChange(ctx, instID, ch); err != nil {
		h.fail(w, r, instID, fmt.Errorf("record up path change: %w", err))
		return
	}
	h.log.InfoContext(ctx, "up path change recorded", logkeys.AppInstanceID, instID)
	w.WriteHeader(http.StatusNoContent)
}

// ErrUnauthenticated is returned by Check for a token that is not the subscription's.
var ErrUnauthenticated = errors.New("notification not authenticated")

// Check authenticates a notification by its path: the instance must have a subscription
// (else an error matching ErrUnknownSubscription) whose token is tok, compared by SHA-256
// in constant time (else ErrUnauthenticated). ServeHTTP runs it first; a server that checks
// bodies before its handlers (against an OpenAPI document) runs it before that, so that an
// unauthenticated sender learns nothing from the body checks.
func (h *NotifyHandler) Check(ctx context.Context, appInstanceID, tok string) error {
	b, err := h.lookup.NotifyBinding(ctx, appInstanceID)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(tokenHash(tok)), []byte(b.TokenSHA256)) != 1 {
		return fmt.Errorf("app instance %s: %w", appInstanceID, ErrUnauthenticated)
	}
	return nil
}

// decodeNotification decodes and checks an EventNotification.
func decodeNotification(raw []byte, instID string) (UPPathChange, error) {
	var ev models.EventNotification
	if err := decodeStrict(raw, &ev); err != nil {
		return UPPathChange{}, fmt.Errorf("body is not an EventNotification: %w", err)
	}
	if ev.SubscribedEvent != models.SubscribedEvent_UP_PATH_CHANGE {
		return UPPathChange{}, fmt.Errorf("subscribedEvent %q: want UP_PATH_CHANGE", ev.SubscribedEvent)
	}
	switch ev.DnaiChgType {
	case models.DnaiChangeType_EARLY, models.DnaiChangeType_LATE, models.DnaiChangeType_EARLY_LATE:
	default:
		return UPPathChange{}, fmt.Errorf("dnaiChgType %q is not a DnaiChangeType", ev.DnaiChgType)
	}
	if ev.TargetDnai == "" {
		return UPPathChange{}, errors.New("targetDnai: required")
	}
	if ev.AfTransId != "" && ev.AfTransId != instID {
		return UPPathChange{}, fmt.Errorf("afTransId %q is not this subscription's", ev.AfTransId)
	}
	ch := UPPathChange{SourceDNAI: ev.SourceDnai, TargetDNAI: ev.TargetDnai, GPSI: ev.Gpsi, ChangeType: string(ev.DnaiChgType)}
	var err error
	for _, s := range []struct{ name, v string }{{"tgtUeIpv4Addr", ev.TgtUeIpv4Addr}, {"srcUeIpv4Addr", ev.SrcUeIpv4Addr}} {
		if s.v == "" {
			continue
		}
		a, perr := netip.ParseAddr(s.v)
		if perr != nil || !a.Is4() {
			return UPPathChange{}, fmt.Errorf("%s %q is not an IPv4 address", s.name, s.v)
		}
		if !ch.UEIPv4.IsValid() {
			ch.UEIPv4 = a
		}
	}
	for _, s := range []struct{ name, v string }{{"tgtUeIpv6Prefix", ev.TgtUeIpv6Prefix}, {"srcUeIpv6Prefix", ev.SrcUeIpv6Prefix}} {
		if s.v == "" {
			continue
		}
		var p netip.Prefix
		if p, err = netip.ParsePrefix(s.v); err != nil || !p.Addr().Is6() {
			return UPPathChange{}, fmt.Errorf("%s %q is not an IPv6 prefix", s.name, s.v)
		}
		if !ch.UEIPv6Prefix.IsValid() {
			ch.UEIPv6Prefix = p
		}
	}
	return ch, nil
}

func (h *NotifyHandler) refuse(w http.ResponseWriter, r *http.Request, status int, format string, args ...any) {
	h.log.DebugContext(r.Context(), "notification refused", logkeys.Status, status)
	problem.Write(w, status, fmt.Sprintf(format, args...), "")
}

func (h *NotifyHandler) fail(w http.ResponseWriter, r *http.Request, instID string, err error) {
	h.log.ErrorContext(r.Context(), "notification not recorded", logkeys.AppInstanceID, instID, logkeys.Error, err)
	problem.Write(w, http.StatusInternalServerError, "notification not recorded", "")
}

// Bindings is an in-memory Lookup, for tests and for a MEO that keeps bindings in memory.
type Bindings struct {
	mu sync.Mutex
	m  map[string]Binding
}

var _ Lookup = (*Bindings)(nil)

// Put adds or replaces the binding of b.AppInstanceID.
func (bs *Bindings) Put(b Binding) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.m == nil {
		bs.m = map[string]Binding{}
	}
	bs.m[b.AppInstanceID] = b
}

// Remove forgets the instance's binding.
func (bs *Bindings) Remove(appInstanceID string) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	delete(bs.m, appInstanceID)
}

// NotifyBinding implements Lookup.
func (bs *Bindings) NotifyBinding(_ context.Context, appInstanceID string) (Binding, error) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b, ok := bs.m[appInstanceID]
	if !ok {
		return Binding{}, fmt.Errorf("app instance %s: %w", appInstanceID, ErrUnknownSubscription)
	}
	return b, nil
}
