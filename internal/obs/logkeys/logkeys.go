// Package logkeys holds the structured-log attribute keys used across the project, so that
// every component logs the same fact under the same snake_case key.
package logkeys

// Attribute keys. Keep them snake_case and stable: operators build alerts on them.
const (
	Component      = "component"
	Error          = "error"
	Addr           = "addr"
	Method         = "method"
	Path           = "path"
	Route          = "route"
	Status         = "status"
	DurationMS     = "duration_ms"
	RequestID      = "request_id"
	TraceID        = "trace_id"
	AppInstanceID  = "app_instance_id"
	ServiceID      = "service_id"
	SubscriptionID = "subscription_id"
	RuleID         = "rule_id"
	Callback       = "callback"
	Attempt        = "attempt"
	Version        = "version"
	Count          = "count"
	Site           = "site"
	Name           = "name"
	Kind           = "kind"
	Reason         = "reason"
	Store          = "store"
	TaskID         = "task_id"
	Step           = "step"
	OpID           = "op_id"
	Operation      = "operation"
	State          = "state"
	Holder         = "holder"
)
