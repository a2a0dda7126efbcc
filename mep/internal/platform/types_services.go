package platform

import "time"

// The MEP's own model of services, subscriptions and notifications (ETSI GS MEC 011 service
// management and app support). As in types.go, member and JSON names are those of MEC 011,
// in the order the generated Mp1 types declare them: a service's stored representation is
// what discovery serves and what its ETag hashes, a subscription's stored document is read
// back as it was written, and a notification is queued in the outbox as the body the app's
// callback receives. Each must stay byte for byte what the wire types encode
// (mep/internal/httpapi/wire tests it); the handlers convert on the way in and out.

// ServiceState is the state of a service.
type ServiceState string

// Service states.
const (
	ServiceActive   ServiceState = "ACTIVE"
	ServiceInactive ServiceState = "INACTIVE"
)

// LocalityType is the scope of locality of a service.
type LocalityType string

// SerializerType is the serializer of a service's data.
type SerializerType string

// TransportType is the kind of a transport.
type TransportType string

// TransportRESTHTTP is the REST over HTTP transport.
const TransportRESTHTTP TransportType = "REST_HTTP"

// GrantType is an OAuth 2.0 grant type.
type GrantType string

// GrantClientCredentials is the OAuth 2.0 client credentials grant.
const GrantClientCredentials GrantType = "OAUTH2_CLIENT_CREDENTIALS"

// ChangeType is the change a ServiceAvailabilityNotification reports.
type ChangeType string

// Service changes.
const (
	ServiceAdded             ChangeType = "ADDED"
	ServiceAttributesChanged ChangeType = "ATTRIBUTES_CHANGED"
	ServiceRemoved           ChangeType = "REMOVED"
	ServiceStateChanged      ChangeType = "STATE_CHANGED"
)

// LinkType is a hyperlink.
type LinkType struct {
	Href string `json:"href"`
}

// OAuth2Info says how a service's consumers get tokens.
type OAuth2Info struct {
	GrantTypes    []GrantType `json:"grantTypes"`
	TokenEndpoint string      `json:"tokenEndpoint"`
}

// SecurityInfo is the security of a transport.
type SecurityInfo struct {
	OAuth2Info *OAuth2Info `json:"oAuth2Info,omitempty"`
}

// TransportInfo is a transport a service is reached over.
type TransportInfo struct {
	Description      *string         `json:"description,omitempty"`
	Endpoint         EndPointInfo    `json:"endpoint"`
	Id               string          `json:"id"`
	ImplSpecificInfo *map[string]any `json:"implSpecificInfo,omitempty"`
	Name             string          `json:"name"`
	Protocol         string          `json:"protocol"`
	Security         SecurityInfo    `json:"security"`
	Type             TransportType   `json:"type"`
	Version          string          `json:"version"`
}

// ServiceLinks are the links of a service: itself and, with a livenessInterval, its
// liveness resource.
type ServiceLinks struct {
	Liveness *LinkType `json:"liveness,omitempty"`
	Self     LinkType  `json:"self"`
}

// ServiceInfo is a registered service (Mp1 PUT body and representation).
type ServiceInfo struct {
	UnderscoreLinks   *ServiceLinks  `json:"_links,omitempty"`
	ConsumedLocalOnly *bool          `json:"consumedLocalOnly,omitempty"`
	IsLocal           *bool          `json:"isLocal,omitempty"`
	LivenessInterval  *int           `json:"livenessInterval,omitempty"`
	ScopeOfLocality   *LocalityType  `json:"scopeOfLocality,omitempty"`
	SerCategory       *CategoryRef   `json:"serCategory,omitempty"`
	SerInstanceId     *string        `json:"serInstanceId,omitempty"`
	SerName           string         `json:"serName"`
	Serializer        SerializerType `json:"serializer"`
	State             ServiceState   `json:"state"`
	TransportInfo     TransportInfo  `json:"transportInfo"`
	Version           string         `json:"version"`
}

// ServiceInfoPost is a service to register: it names its transport by TransportInfo or by
// the id of one the platform offers (TransportId). The MEP assigns serInstanceId.
type ServiceInfoPost struct {
	ConsumedLocalOnly *bool
	IsLocal           *bool
	LivenessInterval  *int
	ScopeOfLocality   *LocalityType
	SerCategory       *CategoryRef
	SerName           string
	Serializer        SerializerType
	State             ServiceState
	TransportId       *string
	TransportInfo     *TransportInfo
	Version           string
}

// Liveness is the liveness resource of a service: its state, the interval it must
// heartbeat within, and when it last did.
type Liveness struct {
	State         ServiceState
	Interval      int
	LastHeartbeat time.Time
}

// SubscriptionLinks is the self link of a subscription.
type SubscriptionLinks struct {
	Self LinkType `json:"self"`
}

// SerAvailFilter selects the services a SerAvailSubscription is told about: at most one of
// SerInstanceIds, SerNames and SerCategories; the rest AND together.
type SerAvailFilter struct {
	IsLocal        *bool           `json:"isLocal,omitempty"`
	SerCategories  *[]CategoryRef  `json:"serCategories,omitempty"`
	SerInstanceIds *[]string       `json:"serInstanceIds,omitempty"`
	SerNames       *[]string       `json:"serNames,omitempty"`
	States         *[]ServiceState `json:"states,omitempty"`
}

// SerAvailSubscription is a subscription to service availability notifications.
type SerAvailSubscription struct {
	UnderscoreLinks   *SubscriptionLinks `json:"_links,omitempty"`
	CallbackReference string             `json:"callbackReference"`
	FilteringCriteria *SerAvailFilter    `json:"filteringCriteria,omitempty"`
	SubscriptionType  string             `json:"subscriptionType"`
}

// AppTermSubscription is a subscription to an app's termination (and stop) notifications.
type AppTermSubscription struct {
	UnderscoreLinks   *SubscriptionLinks `json:"_links,omitempty"`
	AppInstanceId     string             `json:"appInstanceId"`
	CallbackReference string             `json:"callbackReference"`
	SubscriptionType  string             `json:"subscriptionType"`
}

// Subscription is one subscription of an app: exactly one of SerAvail and AppTerm is set,
// which says its kind.
type Subscription struct {
	SerAvail *SerAvailSubscription
	AppTerm  *AppTermSubscription
}

// Kind returns the collection the subscription belongs to.
func (s Subscription) Kind() SubscriptionKind {
	if s.AppTerm != nil {
		return AppTerm
	}
	return SerAvail
}

// SubscriptionRef is an entry of a subscription list.
type SubscriptionRef struct {
	Href             string
	SubscriptionType string
}

// SubscriptionList is an app's subscriptions of one kind, in id order.
type SubscriptionList struct {
	Self          string
	Subscriptions []SubscriptionRef
}

// ServiceReference is a service a ServiceAvailabilityNotification reports on.
type ServiceReference struct {
	ChangeType    ChangeType   `json:"changeType"`
	Link          *LinkType    `json:"link,omitempty"`
	SerInstanceId string       `json:"serInstanceId"`
	SerName       string       `json:"serName"`
	State         ServiceState `json:"state"`
}

// NotificationLinks is the link of a notification to its subscription.
type NotificationLinks struct {
	Subscription LinkType `json:"subscription"`
}

// ServiceAvailabilityNotification tells a SerAvailSubscription's app of a service change.
type ServiceAvailabilityNotification struct {
	UnderscoreLinks   NotificationLinks  `json:"_links"`
	NotificationType  string             `json:"notificationType"`
	ServiceReferences []ServiceReference `json:"serviceReferences"`
}

// AppTerminationLinks are the links of an AppTerminationNotification.
type AppTerminationLinks struct {
	ConfirmTermination *LinkType `json:"confirmTermination,omitempty"`
	Subscription       LinkType  `json:"subscription"`
}

// AppTerminationNotification tells an app that it is about to be stopped or terminated.
type AppTerminationNotification struct {
	UnderscoreLinks    AppTerminationLinks `json:"_links"`
	MaxGracefulTimeout int                 `json:"maxGracefulTimeout"`
	NotificationType   string              `json:"notificationType"`
	OperationAction    OperationAction     `json:"operationAction"`
}
