package pkgm

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/google/uuid"

	"github.com/edgemec/edgemec/meo/internal/store"
)

// Subscription types (the correct spellings, ETSI GS MEC 010-2 V2.2.1).
const (
	OnBoarding      = "AppPackageOnBoarding"
	OperationChange = "AppPackageOperationChange"
	Deletion        = "AppPackageDeletion"
)

// NormalizeSubscriptionType maps the accepted spellings to the correct one ("" if unknown).
func NormalizeSubscriptionType(t string) string {
	switch t {
	case OnBoarding, Deletion, OperationChange:
		return t
	case "AppPacakgeOperationChange":
		return OperationChange
	}
	return ""
}

// NormalizeNotificationType maps the accepted spellings to the correct one ("" if unknown).
func NormalizeNotificationType(t string) string {
	switch t {
	case store.AppPackageOnBoarded, store.AppPackageEnabled, store.AppPackageDisabled, store.AppPackageDeleted:
		return t
	case "AppPacakgeEnabled":
		return store.AppPackageEnabled
	case "AppPacakgeDisabled":
		return store.AppPackageDisabled
	}
	return ""
}

// Filter narrows a subscription: a notification matches when every list given holds its
// value. A subscription with several filters matches when any of them does.
type Filter struct {
	AppPkgID          []string `json:"appPkgId,omitempty"`
	AppDID            []string `json:"appDId,omitempty"`
	AppProvider       []string `json:"appProvider,omitempty"`
	AppName           []string `json:"appName,omitempty"`
	NotificationTypes []string `json:"notificationTypes,omitempty"`
}

func in(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }

func (f Filter) match(e store.Event) bool {
	return in(f.AppPkgID, e.PackageID) && in(f.AppDID, e.AppDID) && in(f.AppProvider, e.AppProvider) &&
		in(f.AppName, e.AppName) && in(f.NotificationTypes, e.Type)
}

// SubscriptionInput is an AppPkgSubscription request (spellings already resolved).
type SubscriptionInput struct {
	CallbackURI      string
	SubscriptionType string
	Filters          []Filter
}

// Subscribe creates a subscription.
func (s *Service) Subscribe(ctx context.Context, in SubscriptionInput) (*store.Subscription, error) {
	typ := NormalizeSubscriptionType(in.SubscriptionType)
	if typ == "" {
		return nil, errorf(ErrInvalid, "subscriptionType %q: want %s, %s or %s", in.SubscriptionType, OnBoarding, OperationChange, Deletion)
	}
	if err := s.validCallback(in.CallbackURI); err != nil {
		return nil, err
	}
	sub := &store.Subscription{ID: uuid.NewString(), SubscriptionType: typ, CallbackURI: in.CallbackURI}
	if len(in.Filters) > 0 {
		for i := range in.Filters {
			for j, t := range in.Filters[i].NotificationTypes {
				n := NormalizeNotificationType(t)
				if n == "" {
					return nil, errorf(ErrInvalid, "appPkgFilter[%d].notificationTypes[%d] %q is not a notification type", i, j, t)
				}
				in.Filters[i].NotificationTypes[j] = n
			}
		}
		b, err := json.Marshal(in.Filters)
		if err != nil {
			return nil, err
		}
		sub.Filter = b
	}
	if err := s.st.CreateSubscription(ctx, sub); err != nil {
		return nil, err
	}
	return sub, nil
}

// Subscription returns a subscription.
func (s *Service) Subscription(ctx context.Context, id string) (*store.Subscription, error) {
	sub, err := s.st.GetSubscription(ctx, id)
	return sub, storeErr(err, "subscription "+id)
}

// Subscriptions returns every subscription.
func (s *Service) Subscriptions(ctx context.Context) ([]*store.Subscription, error) {
	return s.st.ListSubscriptions(ctx)
}

// Unsubscribe deletes a subscription; its queued notifications are not sent.
func (s *Service) Unsubscribe(ctx context.Context, id string) error {
	if err := s.st.DeleteSubscription(ctx, id); err != nil {
		return storeErr(err, "subscription "+id)
	}
	if s.cfg.Unsubscribed != nil {
		s.cfg.Unsubscribed(id)
	}
	return nil
}

// wants reports whether a subscription type covers a notification type.
func wants(subType, notType string) bool {
	switch subType {
	case OnBoarding:
		return notType == store.AppPackageOnBoarded
	case OperationChange:
		return notType == store.AppPackageEnabled || notType == store.AppPackageDisabled
	case Deletion:
		return notType == store.AppPackageDeleted
	}
	return false
}

// Notification is an AppPkgNotification.
type Notification struct {
	ID               string    `json:"id"`
	NotificationType string    `json:"notificationType"`
	SubscriptionID   string    `json:"subscriptionId"`
	TimeStamp        TimeStamp `json:"timeStamp"`
	AppPkgID         string    `json:"appPkgId"`
	AppDID           string    `json:"appDId"`
	OperationalState string    `json:"operationalState"`
	Links            struct {
		Subscription Link `json:"subscription"`
		AppPackage   Link `json:"appPackage"`
	} `json:"_links"`
}

// TimeStamp is an ETSI TimeStamp.
type TimeStamp struct {
	Seconds     int64 `json:"seconds"`
	NanoSeconds int32 `json:"nanoSeconds"`
}

// Link is an ETSI LinkType.
type Link struct {
	Href string `json:"href"`
}

// Router returns the store.EventRouter that matches events to subscriptions and renders
// the AppPkgNotification bodies. apiRoot makes the links absolute.
func Router(apiRoot string) store.EventRouter {
	return func(subs []*store.Subscription, events []store.Event) []store.Delivery {
		var out []store.Delivery
		for _, sub := range subs {
			var filters []Filter
			if len(sub.Filter) > 0 {
				_ = json.Unmarshal(sub.Filter, &filters)
			}
			for _, e := range events {
				if !wants(sub.SubscriptionType, e.Type) {
					continue
				}
				if len(filters) > 0 && !slices.ContainsFunc(filters, func(f Filter) bool { return f.match(e) }) {
					continue
				}
				n := Notification{ID: uuid.NewString(), NotificationType: e.Type, SubscriptionID: sub.ID,
					TimeStamp: TimeStamp{Seconds: e.Time.Unix(), NanoSeconds: int32(e.Time.Nanosecond())},
					AppPkgID:  e.PackageID, AppDID: e.AppDID, OperationalState: e.OperationalState}
				n.Links.Subscription.Href = apiRoot + "/app_pkgm/v1/subscriptions/" + sub.ID
				n.Links.AppPackage.Href = apiRoot + "/app_pkgm/v1/app_packages/" + e.PackageID
				b, err := json.Marshal(n)
				if err != nil {
					continue
				}
				out = append(out, store.Delivery{SubscriptionID: sub.ID, CallbackURI: sub.CallbackURI, Body: b})
			}
		}
		return out
	}
}
