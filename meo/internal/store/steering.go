package store

import (
	"encoding/json"
	"time"
)

// Steering is the traffic steering record of one app instance (the MEO as a 3GPP AF asking
// a site's NEF to steer the app's traffic to the site's user plane; see
// meo/internal/orchestrate steer.go). The store keeps the record opaque: Doc is the
// orchestrator's, View what AppInstanceInfo.trafficSteering shows. A record outlives its
// app instance until the NEF's subscription is gone.
type Steering struct {
	AppInstanceID string
	SiteID        string
	Doc           json.RawMessage
	View          json.RawMessage
	// Due is when the steering loop next looks at the record; zero: never.
	Due     time.Time
	Updated time.Time
}
