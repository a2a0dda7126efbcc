package platform

import (
	"time"

	"github.com/edgemec/edgemec/internal/mecrule"
)

// The MEP's own model of app instances. Member and JSON names are those of ETSI GS MEC 011
// and the Mm5 API, so that documents stored when the domain kept the generated wire types
// read unchanged; the handlers convert between these and the wire types of each API version
// (mep/internal/httpapi/wire). Rules are mecrule's model, which the UPGW and the MEO share.

// AppState is the lifecycle state of an app instance on the site.
type AppState string

// App instance states.
const (
	AppInstantiated AppState = "INSTANTIATED"
	AppReady        AppState = "READY"
	AppStopping     AppState = "STOPPING"
	AppTerminating  AppState = "TERMINATING"
)

// CategoryRef names a service category.
type CategoryRef struct {
	Href    string `json:"href"`
	Id      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ServiceDependency is a service an app requires or may use.
type ServiceDependency struct {
	RequestedPermissions *[]string    `json:"requestedPermissions,omitempty"`
	SerCategory          *CategoryRef `json:"serCategory,omitempty"`
	SerName              string       `json:"serName"`
	Version              string       `json:"version"`
}

// ServiceDescriptor is a service an app produces.
type ServiceDescriptor struct {
	SerCategory         *CategoryRef      `json:"serCategory,omitempty"`
	SerName             string            `json:"serName"`
	TransportsSupported *[]map[string]any `json:"transportsSupported,omitempty"`
	Version             string            `json:"version"`
}

// AppInstance is an app instance as the orchestrator provisions it (Mm5 PUT).
type AppInstance struct {
	AppDId               string                 `json:"appDId"`
	AppDNSRule           *[]mecrule.DNSRule     `json:"appDNSRule,omitempty"`
	AppInstanceName      *string                `json:"appInstanceName,omitempty"`
	AppName              string                 `json:"appName"`
	AppProvider          string                 `json:"appProvider"`
	AppServiceOptional   *[]ServiceDependency   `json:"appServiceOptional,omitempty"`
	AppServiceProduced   *[]ServiceDescriptor   `json:"appServiceProduced,omitempty"`
	AppServiceRequired   *[]ServiceDependency   `json:"appServiceRequired,omitempty"`
	AppTrafficRule       *[]mecrule.TrafficRule `json:"appTrafficRule,omitempty"`
	DnsRuleClientSubnets *map[string][]string   `json:"dnsRuleClientSubnets,omitempty"`
	MecVersion           *[]string              `json:"mecVersion,omitempty"`
}

// AppRecord is an app instance as the site holds it, without credentials (the handlers add
// them).
type AppRecord struct {
	AppInstance
	AppInstanceId       string
	CreatedAt           time.Time
	Mp1Root             string
	State               AppState
	TerminationDeadline *time.Time
}

// AppTrafficRule is a traffic rule of an app instance in the UPGW feed.
type AppTrafficRule struct {
	AppInstanceID string
	TrafficRule   mecrule.TrafficRule
}

// TrafficSnapshot is a version of the site's traffic rules (the UPGW feed).
type TrafficSnapshot struct {
	Version int64
	Rules   []AppTrafficRule
}

// AppDNSRule is a DNS rule of an app instance in the DNS feed.
type AppDNSRule struct {
	AppInstanceID string
	DNSRule       mecrule.DNSRule
	CreatedAt     time.Time
}

// DNSSnapshot is a version of the site's DNS rules.
type DNSSnapshot struct {
	Version int64
	Rules   []AppDNSRule
}

// OperationAction is the operation an app is notified of before it is stopped or
// terminated.
type OperationAction string

// Operation actions.
const (
	Stopping    OperationAction = "STOPPING"
	Terminating OperationAction = "TERMINATING"
)

// FeatureDependency is a platform feature an app requires or may use.
type FeatureDependency struct {
	FeatureName string `json:"featureName"`
	Version     string `json:"version"`
}

// Address is a host and port.
type Address struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// EndPointInfo says where something is reached: exactly one of Uris, Addresses and
// Alternative.
type EndPointInfo struct {
	Addresses   *[]Address      `json:"addresses,omitempty"`
	Alternative *map[string]any `json:"alternative,omitempty"`
	Uris        *[]string       `json:"uris,omitempty"`
}

// AppInfo is an app's self-registration (Mp1 /registrations, MEC 011 V3).
type AppInfo struct {
	AppCategory        *CategoryRef         `json:"appCategory,omitempty"`
	AppDId             *string              `json:"appDId,omitempty"`
	AppFeatureOptional *[]FeatureDependency `json:"appFeatureOptional,omitempty"`
	AppFeatureRequired *[]FeatureDependency `json:"appFeatureRequired,omitempty"`
	AppInstanceId      *string              `json:"appInstanceId,omitempty"`
	AppName            string               `json:"appName"`
	AppProfile         *map[string]any      `json:"appProfile,omitempty"`
	AppProvider        *string              `json:"appProvider,omitempty"`
	AppServiceOptional *[]ServiceDependency `json:"appServiceOptional,omitempty"`
	AppServiceRequired *[]ServiceDependency `json:"appServiceRequired,omitempty"`
	Endpoint           *EndPointInfo        `json:"endpoint,omitempty"`
	IsInsByMec         *bool                `json:"isInsByMec,omitempty"`
}
