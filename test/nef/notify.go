package nef

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/free5gc/openapi/models"
)

// ErrNotFound is returned by NotifyUPPathChange for an unknown subscription.
var ErrNotFound = errors.New("no such subscription")

// ErrNotSubscribed is returned by NotifyUPPathChange when the subscription did not ask for
// UP_PATH_CHANGE events.
var ErrNotSubscribed = errors.New("subscription has no UP_PATH_CHANGE event")

// UPPathChange is the user plane path change the SMF reported for one UE.
type UPPathChange struct {
	// SourceDNAI is the DNAI the UE's traffic left at before, TargetDNAI the one it leaves at
	// now.
	SourceDNAI, TargetDNAI string
	// UEIPv4 is the UE's IPv4 address (sent as srcUeIpv4Addr and tgtUeIpv4Addr); UEIPv6Prefix
	// its IPv6 prefix; GPSI its identity. Any may be empty.
	UEIPv4, UEIPv6Prefix, GPSI string
	// ChangeType defaults to the subscription's dnaiChgType, else EARLY.
	ChangeType models.DnaiChangeType
}

// NotificationError is a notification the AF did not accept.
type NotificationError struct {
	Status int
	Body   string
}

// Error reads "notification answered <status>: <body>".
func (e *NotificationError) Error() string {
	return fmt.Sprintf("notification answered %d: %s", e.Status, e.Body)
}

// NotifyUPPathChange sends a UP_PATH_CHANGE EventNotification (TS 29.522 clause 5.4.4.2) for
// the subscription to its notificationDestination and returns the notification sent. The AF
// must answer 204 (or 200); any other answer is a *NotificationError.
func (s *Server) NotifyUPPathChange(ctx context.Context, afID, subID string, ch UPPathChange) (models.EventNotification, error) {
	sub, ok := s.Subscription(afID, subID)
	if !ok {
		return models.EventNotification{}, fmt.Errorf("notify %s/%s: %w", afID, subID, ErrNotFound)
	}
	if !slices.Contains(sub.Sub.SubscribedEvents, models.SubscribedEvent_UP_PATH_CHANGE) {
		return models.EventNotification{}, fmt.Errorf("notify %s/%s: %w", afID, subID, ErrNotSubscribed)
	}
	ev := models.EventNotification{
		AfTransId:       sub.Sub.AfTransId,
		DnaiChgType:     ch.ChangeType,
		SubscribedEvent: models.SubscribedEvent_UP_PATH_CHANGE,
		SourceDnai:      ch.SourceDNAI,
		TargetDnai:      ch.TargetDNAI,
		Gpsi:            ch.GPSI,
		SrcUeIpv4Addr:   ch.UEIPv4,
		TgtUeIpv4Addr:   ch.UEIPv4,
		SrcUeIpv6Prefix: ch.UEIPv6Prefix,
		TgtUeIpv6Prefix: ch.UEIPv6Prefix,
	}
	if ev.DnaiChgType == "" {
		ev.DnaiChgType = sub.Sub.DnaiChgType
	}
	if ev.DnaiChgType == "" {
		ev.DnaiChgType = models.DnaiChangeType_EARLY
	}
	for _, rt := range sub.Sub.TrafficRoutes {
		if rt != nil && rt.Dnai == ch.TargetDNAI {
			ev.TargetTrafficRoute = rt
		}
	}
	return ev, s.post(ctx, sub.Sub.NotificationDestination, ev)
}

// Post sends any body to a subscription's notification destination as the NEF would, for
// tests of how the AF treats malformed notifications.
func (s *Server) Post(ctx context.Context, afID, subID string, body []byte) (int, error) {
	sub, ok := s.Subscription(afID, subID)
	if !ok {
		return 0, fmt.Errorf("post %s/%s: %w", afID, subID, ErrNotFound)
	}
	return s.postRaw(ctx, sub.Sub.NotificationDestination, body)
}

func (s *Server) post(ctx context.Context, dest string, ev models.EventNotification) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("marshal notification: %w", err)
	}
	_, err = s.postRaw(ctx, dest, body)
	return err
}

func (s *Server) postRaw(ctx context.Context, dest string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("notification request: %w", err)
	}
	req.Header.Set("Content-Type", mediaJSON)
	resp, err := s.cfg.NotifyClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post notification: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return resp.StatusCode, &NotificationError{Status: resp.StatusCode, Body: string(b)}
	}
	return resp.StatusCode, nil
}
