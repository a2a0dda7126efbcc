// Package af is the orchestrator acting as a 3GPP Application Function: it asks a site's
// NEF, over Nnef_TrafficInfluence (3GPP TS 29.522 clause 5.4, common data types of TS
// 29.122), to steer UE traffic of an app to the edge site's user plane, and it receives the
// NEF's user plane path change notifications. The wire types and the HTTP client are
// free5gc's (github.com/free5gc/openapi, models and nef/TrafficInfluence).
//
// In a 5G standalone network this is the standard way to reach a MEC app locally: the SMF,
// told by the NEF (through the PCF), inserts an uplink classifier or a local PDU session
// anchor at the site's DNAI, so the app's traffic leaves the 5G core there. The UPGW's
// breakout on N3 keeps working without it; a NEF that fails never blocks an instance.
//
// # Pieces
//
//   - SiteConfig: a site's 5G data (DNAIs, DNN, S-NSSAI) and its NEF (API root, AF id,
//     OAuth 2.0 client credentials or a static bearer token).
//   - BuildSubscription, BuildPatch, FlowInfos: the TrafficInfluSub of an app instance
//     (Instance: ids, AppD traffic rules, the app's N6 address) for a UETarget (any UE, a
//     group, one UE by GPSI or IP address; TargetFromParams). Traffic rules become IPFilterRule flow
//     descriptions, see FlowInfos for the mapping.
//   - Client: Create, Get, Patch (merge patch), Delete, List, and Subscribe / Update /
//     Unsubscribe / Sweep on top of them. Errors are *NEFError values matching ErrRetryable
//     (no answer, 5xx, 408, 429, token endpoint unreachable, 401 with OAuth 2.0 after which
//     the cached token is dropped) or ErrPermanent (other 4xx, answers off the API), and
//     ErrNotFound on 404; they keep the NEF's ProblemDetails. Retry with a Backoff retries
//     the retryable ones.
//   - NotifyURLs, Binding, NotifyHandler, Lookup, Recorder: the notification endpoint.
//
// # Authenticating notifications
//
// Each subscription's notificationDestination is NotifyURLs.Base/{appInstanceId}/{token},
// token 32 random bytes made for that subscription. Only its SHA-256 is kept (Binding). A
// notification for an instance without a subscription is refused with 404, one with the
// wrong token with 401, a malformed one with 400; none of them reaches the Recorder. TS
// 29.522 does not define how an AF authenticates the NEF's notifications; a capability URL
// needs nothing of the NEF, and the MEO's notification endpoint must be served over TLS
// for it to stay secret.
//
// # Wiring into the orchestrator
//
// The package holds no state of its own and starts no goroutine; the LCM and the inventory
// drive it:
//
//  1. Inventory: a site may carry a SiteConfig (its "fiveG" data); the inventory validates
//     it when the site is registered and keeps one Client per site (NewClient with
//     NotifyURLs{Base: <MEO API root>/af/v1/notifications} and the MEO's traced transport).
//     The NEF credentials are secrets: store them like the VIM's, never log them.
//  2. Instantiate: after the instance is placed on a site with 5G data and the app's N6
//     address is known, and only if the AppD has traffic rules (or an afAppId is given),
//     the site worker calls Client.Subscribe inside Retry with the instance's Instance and the
//     UETarget the instantiate request gives (TargetFromParams reads additionalParams; any
//     UE by default), and stores the returned Subscription on the instance in the same
//     transaction as the step's completion. ErrNoTraffic: nothing to do. Any other error:
//     the instance still becomes INSTANTIATED; the failure is a warning on the instance and
//     the op occurrence, and the worker retries later (retryable) or waits for a change
//     (permanent), never blocking the instance.
//  3. Rule change (an Mp1 traffic rule update the MEP reports, or a new app address):
//     Client.Update with the stored Subscription; ErrNotFound means the NEF lost it:
//     Subscribe again.
//  4. Terminate: Client.Unsubscribe (404 counts as done) before the instance's record goes;
//     a failure is retried and shown as a warning, it does not hold the termination.
//  5. Notifications: mount NotifyHandler at /af/v1/notifications/ on the MEO's HTTP server
//     outside the Mm1 bearer-token middleware (the token in the path authenticates the
//     NEF). The LCM implements Lookup from the stored Subscriptions' Bindings and Recorder
//     by recording the change on the instance (UE address, source and target DNAI, time),
//     shown through Mm1 and mecctl, and by telling the site's MEP when the traffic of a UE
//     now leaves elsewhere.
//  6. Orphans: the orchestrator's steering loop calls Client.Sweep at each site's NEF
//     periodically to delete the subscriptions of this MEO that no instance records (a
//     Create whose answer was lost, or a crash before it was stored).
package af
