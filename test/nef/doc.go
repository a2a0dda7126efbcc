// Package nef is a Network Exposure Function for tests: it serves the 3GPP TS 29.522
// Nnef_TrafficInfluence API (3gpp-traffic-influence v1, with the TS 29.122 common data types)
// the way a 5G core's NEF does towards an Application Function, so that the orchestrator's AF
// can be tested over HTTP against a real counterpart where no 5G core can run.
//
// It is written from the specifications and from the models of github.com/free5gc/openapi,
// independently of the orchestrator's code, which it must not import: a mistake shared by
// both sides would otherwise pass unnoticed.
//
// # What it serves
//
//	POST   /3gpp-traffic-influence/v1/{afId}/subscriptions                   201 + Location
//	GET    /3gpp-traffic-influence/v1/{afId}/subscriptions                   200, the AF's list
//	GET    /3gpp-traffic-influence/v1/{afId}/subscriptions/{subscriptionId}  200
//	PUT    /3gpp-traffic-influence/v1/{afId}/subscriptions/{subscriptionId}  200, full replacement
//	PATCH  /3gpp-traffic-influence/v1/{afId}/subscriptions/{subscriptionId}  200, JSON merge patch
//	DELETE /3gpp-traffic-influence/v1/{afId}/subscriptions/{subscriptionId}  204
//	POST   /oauth2/token                                                     OAuth 2.0 client credentials
//
// Every error is a TS 29.122 ProblemDetails (application/problem+json) with status, detail
// and, for refused members, invalidParams naming them by JSON pointer.
//
// # How requests are checked
//
//  1. Authentication: a bearer token, either Config.StaticToken or one the server issued
//     itself at /oauth2/token to a client of Config.Clients (RFC 6749 clause 4.4, client
//     authentication by HTTP Basic or form parameters). Missing or unknown: 401.
//  2. Media type: application/json for POST and PUT, application/merge-patch+json for PATCH
//     (TS 29.522 clause 5.4.3.3.3); anything else: 415.
//  3. Decoding into free5gc's models (NefTrafficInfluSub, NefTrafficInfluSubPatch) with
//     unknown members refused and one JSON value per body: 400.
//  4. The TS 29.522 rules the models cannot express (see Validate): exactly one of afAppId,
//     trafficFilters and ethTrafficFilters; exactly one UE target of anyUeInd,
//     externalGroupId, gpsi, ipv4Addr/ipv6Addr and macAddr; notificationDestination with
//     subscribedEvents; trafficRoutes with a DNAI and a route each; dnn and snssai for any
//     UE; enums, addresses and IPFilterRule flow descriptions well formed. A PATCH is merged
//     into the stored subscription and the result is checked again: 400.
//
// # Notifications
//
// Server.NotifyUPPathChange sends a user plane path change EventNotification (TS 29.522
// clause 5.4.4.2, subscribedEvent UP_PATH_CHANGE) to a subscription's
// notificationDestination, as the NEF does when the SMF reports a DNAI change. Tests call it
// directly; the program in cmd/nef also offers it over HTTP (see AdminHandler).
package nef
