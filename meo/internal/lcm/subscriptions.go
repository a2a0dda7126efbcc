package lcm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"

	"github.com/google/uuid"

	"github.com/edgemec/edgemec/meo/internal/store"
)

// Subscription types (ETSI GS MEC 010-2; the identifier ones are V3's).
const (
	InstanceStateChange = "AppInstanceStateChange"
	OpOccStateChange    = "AppLcmOpOccStateChange"
	IdentifierCreation  = "AppInstanceIdentifierCreation"
	IdentifierDeletion  = "AppInstanceIdentifierDeletion"
)

// Notification types of the identifier notifications (V3), and the one notification type an
// op occurrence subscription filter may name (V2.1.1).
const (
	IdentifierCreationNotification = "AppInstanceIdentifierCreationNotification"
	IdentifierDeletionNotification = "AppInstanceIdentifierDeletionNotification"
	OpOccNotificationType          = "AppLcmOperationOccurrenceNotification"
)

// Instance selector types of an AppInstanceSubscriptionFilter.
const (
	SelectVoid         = "VOID"
	SelectIdentity     = "APP_IDENTITY"
	SelectName         = "APP_NAME"
	SelectAppDID       = "APP_D_ID"
	SelectFromProvider = "APP_FROM_PROVIDER"
)

// InstanceFilter is an AppInstanceSubscriptionFilter.
type InstanceFilter struct {
	SelectorType      string           `json:"appInstSelectorType"`
	AppInstances      []string         `json:"appInstances,omitempty"`
	AppsFromProviders []ProviderFilter `json:"appsFromProviders,omitempty"`
}

// ProviderFilter is one appsFromProviders entry.
type ProviderFilter struct {
	AppProvider string         `json:"appProvider"`
	AppProducts *ProductFilter `json:"appProducts,omitempty"`
}

// ProductFilter narrows a provider to one app, and maybe versions of it.
type ProductFilter struct {
	AppName  string         `json:"appName"`
	Versions *VersionFilter `json:"versions,omitempty"`
}

// VersionFilter narrows an app to a software version and maybe AppD versions.
type VersionFilter struct {
	AppSoftVersion string   `json:"appSoftVersion"`
	AppDVersion    []string `json:"appDVersion,omitempty"`
}

func (f *InstanceFilter) match(in *store.AppInstance) bool {
	if f == nil {
		return true
	}
	switch f.SelectorType {
	case SelectIdentity:
		return slices.Contains(f.AppInstances, in.ID)
	case SelectName:
		return slices.Contains(f.AppInstances, in.AppName)
	case SelectAppDID:
		return slices.Contains(f.AppInstances, in.AppDID)
	case SelectFromProvider:
		return slices.ContainsFunc(f.AppsFromProviders, func(p ProviderFilter) bool { return p.match(in) })
	}
	return true
}

func (p ProviderFilter) match(in *store.AppInstance) bool {
	if p.AppProvider != in.AppProvider {
		return false
	}
	pr := p.AppProducts
	if pr == nil {
		return true
	}
	if pr.AppName != in.AppName {
		return false
	}
	v := pr.Versions
	if v == nil {
		return true
	}
	return v.AppSoftVersion == in.AppSoftVersion && (len(v.AppDVersion) == 0 || slices.Contains(v.AppDVersion, in.AppDVersion))
}

// Filter is what a subscription narrows its notifications by. AppInstanceState applies to
// AppInstanceStateChange; NotificationTypes, OperationStates and OperationTypes to
// AppLcmOpOccStateChange; Instances to all. Empty lists match everything.
type Filter struct {
	AppInstanceState  []string        `json:"appInstanceState,omitempty"`
	Instances         *InstanceFilter `json:"appInstanceSubscriptionFilter,omitempty"`
	NotificationTypes []string        `json:"notificationTypes,omitempty"`
	OperationStates   []string        `json:"operationStates,omitempty"`
	OperationTypes    []string        `json:"operationTypes,omitempty"`
}

func has(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }

func (f *Filter) match(e store.LCMEvent) bool {
	if !f.Instances.match(&e.Instance) {
		return false
	}
	switch e.Type {
	case InstanceStateChange:
		return has(f.AppInstanceState, e.NotificationType)
	case OpOccStateChange:
		return e.Op != nil && has(f.OperationStates, e.Op.OperationState) && has(f.OperationTypes, e.Op.LcmOperation)
	}
	return true
}

// SubscriptionInput is a subscription request.
type SubscriptionInput struct {
	CallbackURI      string
	SubscriptionType string
	Filter           Filter
}

// normalizeOperation maps the V2.1.1 spelling INSTATIATE to INSTANTIATE.
func normalizeOperation(op string) string {
	if op == "INSTATIATE" {
		return store.OpInstantiate
	}
	return op
}

// check validates the filter for a subscription type and normalises its spellings.
func (f *Filter) check(typ string) error {
	if len(f.AppInstanceState) > 0 && typ != InstanceStateChange {
		return errorf(ErrInvalid, "appInstanceState applies to %s subscriptions only", InstanceStateChange)
	}
	if (len(f.NotificationTypes) > 0 || len(f.OperationStates) > 0 || len(f.OperationTypes) > 0) && typ != OpOccStateChange {
		return errorf(ErrInvalid, "appLcmOpOccSubscriptionFilter applies to %s subscriptions only", OpOccStateChange)
	}
	for _, s := range f.AppInstanceState {
		if s != store.NotInstantiated && s != store.Started && s != store.Stopped {
			return errorf(ErrInvalid, "appInstanceState %q: want NOT_INSTANTIATED, STARTED or STOPPED", s)
		}
	}
	for _, s := range f.NotificationTypes {
		if s != OpOccNotificationType {
			return errorf(ErrInvalid, "notificationTypes %q: want %s", s, OpOccNotificationType)
		}
	}
	for _, s := range f.OperationStates {
		switch s {
		case store.OpStarting, store.OpProcessing, store.OpCompleted, store.OpFailedTemp, store.OpFailed:
		default:
			return errorf(ErrInvalid, "operationStates %q: want STARTING, PROCESSING, COMPLETED, FAILED_TEMP or FAILED", s)
		}
	}
	for i, s := range f.OperationTypes {
		f.OperationTypes[i] = normalizeOperation(s)
		switch f.OperationTypes[i] {
		case store.OpInstantiate, store.OpOperate, store.OpTerminate:
		default:
			return errorf(ErrInvalid, "operationTypes %q: want INSTANTIATE, OPERATE or TERMINATE", s)
		}
	}
	if g := f.Instances; g != nil {
		switch g.SelectorType {
		case SelectVoid:
		case SelectIdentity, SelectName, SelectAppDID:
			if len(g.AppInstances) == 0 {
				return errorf(ErrInvalid, "appInstanceSubscriptionFilter: %s needs appInstances", g.SelectorType)
			}
		case SelectFromProvider:
			if len(g.AppsFromProviders) == 0 {
				return errorf(ErrInvalid, "appInstanceSubscriptionFilter: %s needs appsFromProviders", g.SelectorType)
			}
		default:
			return errorf(ErrInvalid, "appInstSelectorType %q: want VOID, APP_IDENTITY, APP_NAME, APP_D_ID or APP_FROM_PROVIDER", g.SelectorType)
		}
	}
	return nil
}

// Subscribe creates a subscription.
func (s *Service) Subscribe(ctx context.Context, in SubscriptionInput) (*store.LCMSubscription, error) {
	switch in.SubscriptionType {
	case InstanceStateChange, OpOccStateChange, IdentifierCreation, IdentifierDeletion:
	default:
		return nil, errorf(ErrInvalid, "subscriptionType %q: want %s, %s, %s or %s", in.SubscriptionType,
			InstanceStateChange, OpOccStateChange, IdentifierCreation, IdentifierDeletion)
	}
	u, err := url.Parse(in.CallbackURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errorf(ErrInvalid, "callbackUri %q: want an absolute http or https URI", in.CallbackURI)
	}
	if s.cfg.Deny != nil && s.cfg.Deny(u.Hostname()) {
		return nil, errorf(ErrInvalid, "callbackUri %q: the address is not allowed", in.CallbackURI)
	}
	f := in.Filter
	if err := f.check(in.SubscriptionType); err != nil {
		return nil, err
	}
	sub := &store.LCMSubscription{ID: uuid.NewString(), SubscriptionType: in.SubscriptionType, CallbackURI: in.CallbackURI}
	if b, err := json.Marshal(f); err != nil {
		return nil, err
	} else if string(b) != "{}" {
		sub.Filter = b
	}
	if err := s.st.CreateLCMSubscription(ctx, sub); err != nil {
		return nil, err
	}
	return sub, nil
}

// FilterOf decodes a subscription's filter.
func FilterOf(sub *store.LCMSubscription) Filter {
	var f Filter
	if len(sub.Filter) > 0 {
		_ = json.Unmarshal(sub.Filter, &f)
	}
	return f
}

// Subscription returns a subscription.
func (s *Service) Subscription(ctx context.Context, id string) (*store.LCMSubscription, error) {
	sub, err := s.st.GetLCMSubscription(ctx, id)
	return sub, storeErr(err, "subscription "+id)
}

// Subscriptions returns every subscription, or those of one type.
func (s *Service) Subscriptions(ctx context.Context, typ string) ([]*store.LCMSubscription, error) {
	subs, err := s.st.ListLCMSubscriptions(ctx)
	if err != nil || typ == "" {
		return subs, err
	}
	return slices.DeleteFunc(subs, func(sub *store.LCMSubscription) bool { return sub.SubscriptionType != typ }), nil
}

// Unsubscribe deletes a subscription; its queued notifications are not sent.
func (s *Service) Unsubscribe(ctx context.Context, id string) error {
	if err := s.st.DeleteLCMSubscription(ctx, id); err != nil {
		return storeErr(err, "subscription "+id)
	}
	if s.cfg.Unsubscribed != nil {
		s.cfg.Unsubscribed(id)
	}
	return nil
}

// Link is an ETSI LinkType.
type Link struct {
	Href string `json:"href"`
}

// InstanceNotification is an AppInstNotification.
type InstanceNotification struct {
	ID               string          `json:"id"`
	NotificationType string          `json:"notificationType"`
	SubscriptionID   string          `json:"subscriptionId"`
	TimeStamp        store.TimeStamp `json:"timeStamp"`
	AppInstanceID    string          `json:"appInstanceId"`
	AppDID           string          `json:"appDId"`
	AppPkgID         string          `json:"appPkgId"`
	Links            struct {
		Subscription Link `json:"subscription"`
		AppInstance  Link `json:"appInstance"`
	} `json:"_links"`
}

// OpOccNotification is an AppLcmOpOccNotification.
type OpOccNotification struct {
	ID               string          `json:"id"`
	NotificationType string          `json:"notificationType"`
	SubscriptionID   string          `json:"subscriptionId"`
	TimeStamp        store.TimeStamp `json:"timeStamp"`
	AppLcmOpOccID    string          `json:"appLcmOpOccId"`
	AppInstanceID    string          `json:"appInstanceId"`
	OperationState   string          `json:"operationState"`
	LcmOperation     string          `json:"lcmOperation"`
	Links            struct {
		AppInstance  Link `json:"appInstance"`
		Subscription Link `json:"subscription"`
		AppLcmOpOcc  Link `json:"appLcmOpOcc"`
	} `json:"_links"`
}

// IdentifierNotification is a V3 AppInstanceIdentifierCreationNotification or
// AppInstanceIdentifierDeletionNotification.
type IdentifierNotification struct {
	ID               string          `json:"id"`
	NotificationType string          `json:"notificationType"`
	SubscriptionID   string          `json:"subscriptionId"`
	TimeStamp        store.TimeStamp `json:"timeStamp"`
	AppInstanceID    string          `json:"appInstanceId"`
	AppDID           string          `json:"appDId"`
	AppPkgID         string          `json:"appPkgId"`
	Links            struct {
		Subscription Link `json:"subscription"`
		AppInstance  Link `json:"appInstance"`
	} `json:"_links"`
}

// Router returns the store.LCMRouter that matches events to subscriptions and renders the
// notification body of each subscription type. A notification sent to several
// subscriptions has one id (ETSI GS MEC 010-2). apiRoot makes the links absolute.
func Router(apiRoot string) store.LCMRouter {
	base := apiRoot + "/app_lcm/v1"
	return func(subs []*store.LCMSubscription, events []store.LCMEvent) []store.Delivery {
		ids := make([]string, len(events))
		for i := range ids {
			ids[i] = uuid.NewString()
		}
		var out []store.Delivery
		for _, sub := range subs {
			f := FilterOf(sub)
			for i, e := range events {
				if e.Type != sub.SubscriptionType || !f.match(e) {
					continue
				}
				b, err := render(base, ids[i], sub, e)
				if err != nil {
					continue
				}
				out = append(out, store.Delivery{SubscriptionID: sub.ID, CallbackURI: sub.CallbackURI, Body: b})
			}
		}
		return out
	}
}

func render(base, id string, sub *store.LCMSubscription, e store.LCMEvent) ([]byte, error) {
	ts := store.Stamp(e.Time)
	subLink := Link{Href: base + "/subscriptions/" + sub.ID}
	instLink := Link{Href: base + "/app_instances/" + e.Instance.ID}
	switch e.Type {
	case InstanceStateChange:
		n := InstanceNotification{ID: id, NotificationType: e.NotificationType, SubscriptionID: sub.ID, TimeStamp: ts,
			AppInstanceID: e.Instance.ID, AppDID: e.Instance.AppDID, AppPkgID: e.Instance.AppPkgID}
		n.Links.Subscription, n.Links.AppInstance = subLink, instLink
		return json.Marshal(n)
	case OpOccStateChange:
		n := OpOccNotification{ID: id, NotificationType: e.Op.OperationState, SubscriptionID: sub.ID, TimeStamp: ts,
			AppLcmOpOccID: e.Op.ID, AppInstanceID: e.Op.AppInstanceID, OperationState: e.Op.OperationState, LcmOperation: e.Op.LcmOperation}
		n.Links.Subscription, n.Links.AppInstance = subLink, instLink
		n.Links.AppLcmOpOcc = Link{Href: base + "/app_lcm_op_occs/" + e.Op.ID}
		return json.Marshal(n)
	case IdentifierCreation, IdentifierDeletion:
		n := IdentifierNotification{ID: id, NotificationType: e.NotificationType, SubscriptionID: sub.ID, TimeStamp: ts,
			AppInstanceID: e.Instance.ID, AppDID: e.Instance.AppDID, AppPkgID: e.Instance.AppPkgID}
		n.Links.Subscription, n.Links.AppInstance = subLink, instLink
		return json.Marshal(n)
	}
	return nil, fmt.Errorf("unknown event type %q", e.Type)
}
