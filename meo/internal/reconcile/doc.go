// Package reconcile applies the MEO's desired state to one edge site at a time: it runs the
// steps of an app instance's instantiate, terminate or operate on the site's MEP (Mm5) and
// VIM (vim.VIM), records each step in a Journal before it starts the next, and reports how
// the task ended: COMPLETED, FAILED_TEMP (may pass; retried) or FAILED (needs a change),
// with the VIM's or the MEP's own words as an RFC 7807 detail.
//
// It declares what it consumes (Journal, MEP, Inventory) and talks to a site only through
// the Mm5 client and vim.VIM, so it is used and tested without the MEO's store or API.
//
// # Steps
//
// Instantiate (issue 12, "Reconciliation"):
//
//  1. MEP_PROVISIONED: Mm5 PUT /app_instances/{id} with the AppD's rules and services. The
//     MEP answers with the app's Mp1 credentials and its Mp1 root.
//  2. VIM_DEPLOYED: VIM Deploy of the request with the MEP access (Mp1 root, or
//     Site.MEPEndpoint, client id and secret) filled in.
//  3. VIM_RUNNING: the VIM reports Running (as vim.WaitPhase: a Failed status, or a blocked
//     Pending past vim.PendingGrace, ends the wait with the VIM's typed error).
//     A VIM whose Running waits for the guest (vim.GuestHeartbeater: libvirt without a
//     guest agent) gets its heartbeat from here: while it reports vim.ReasonGuestStarting,
//     the wait asks the MEP (Mm5 GET) and, once the app has confirmed ready, calls
//     GuestHeartbeat. The same holds for VIM_STARTED.
//  4. MEP_READY: Mm5 GET shows state READY, i.e. the app called confirm_ready on Mp1.
//     COMPLETED.
//
// Terminate, the reverse:
//
//  1. MEP_TERMINATING: Mm5 DELETE with graceful_timeout (0 for FORCEFUL; the MEP's default
//     when the task gives none). 202, and 404 (already gone) and 409 (already terminating)
//     count as done.
//  2. MEP_GONE: Mm5 GET answers 404: the MEP notified the app (AppTerminationNotification),
//     got confirm_termination or waited out the timeout, and removed its services and rules.
//  3. VIM_TERMINATING: VIM Terminate (success when the instance is already gone).
//  4. VIM_GONE: VIM Status answers vim.ErrNotFound. COMPLETED.
//
// Operate STOPPED:
//
//  1. MEP_STOPPING: Mm5 POST /app_instances/{id}/stop with graceful_timeout (0 for
//     FORCEFUL): the MEC 011 stop flow (AppTerminationNotification, operationAction
//     STOPPING). 202 counts as done, and 404 (nothing on the MEP to stop).
//  2. MEP_STOPPED: Mm5 GET shows the instance no longer STOPPING (the app confirmed, or the
//     timeout passed; or 404). The MEP now counts the app as not ready.
//  3. VIM_STOPPING: VIM Stop.
//  4. VIM_STOPPED: Status Stopped. COMPLETED.
//
// Operate STARTED: VIM_STARTING (VIM Start), VIM_STARTED (Status Running), then MEP_READY
// as for an instantiate: the app, running again, confirmed ready again. Since the stop made
// the MEP forget the earlier READY, a VM's guest heartbeat comes from this boot's app.
//
// # Crash safety
//
// A task is identified by its id (the op occurrence). The journal holds, per id, the last
// step done and the outcome. Run loads it and starts at the step after the last one
// recorded; a finished task is reported without touching the site. So the process can die
// at any point:
//
//   - before a step's effect: the step runs on the next Run, as if for the first time;
//   - after the effect but before the journal saved it: the step runs again, and every step
//     is idempotent: PUT replaces the instance with the same body (keeping its Mp1 state and
//     READY) and the MEP derives the client secret from the instance id, so the answer is
//     the same; Deploy of the same request converges to one workload; DELETE of an instance
//     gone or terminating is done; Terminate of a gone instance succeeds; Stop of a stopped
//     and Start of a running instance succeed; a stop under way answers as it is; the waits only read;
//   - after the journal saved it: the next Run skips it.
//
// Hence each task ends with exactly one workload on the VIM and one instance on the MEP
// (instantiate) or none (terminate), whatever the number of crashes. The client secret is
// never written to the journal: a resumed run gets it again from an idempotent PUT.
//
// A FAILED_TEMP task keeps its last step done; running it again resumes at the step that
// failed. A FAILED task is final; the LCM decides what follows (a terminate, a new
// instantiate).
//
// # Waits
//
// The waits for the VIM (Running, Stopped, gone) follow the site's watch: one vim.Watch per
// VIM adapter in the process (feed.go), opened by the first wait or by the site's Watcher
// and closed Config.FeedLinger after the last of them left, fans each instance's events out
// to the tasks waiting on it. A wait starts from the latest status the watch reported of
// its instance and ends on the event that reaches the phase, with no Status call; it asks
// Status only every Config.FeedResync as a safety net, and at Config.PollInterval while
// the watch is not open (a VIM whose Watch fails). MEP_READY, MEP_GONE and MEP_STOPPED ask
// the MEP with a long poll: Mm5 GET of the instance with whileState (INSTANTIATED,
// TERMINATING, STOPPING) is held at the MEP up to 5 s and answered as soon as the state
// changes, so the wait ends within a round trip of the app's confirm_ready or the end of
// the flow. A MEP that refuses whileState (400: one from before it) is asked without it for
// the rest of the task: 20 ms after the step before at first, the pause growing by half up
// to PollInterval.
//
// # Runner and Watcher
//
// Runner runs tasks for many sites: at most RunnerConfig.PerSite at once per site,
// retrying FAILED_TEMP as RetryPolicy documents (exponential backoff with jitter, bounded
// attempts, one shared backoff for a site that cannot be reached), with no site waiting for
// another. Watcher follows a site's vim.Watch (the watch the Runner's waits share, when it
// has a Runner) and a periodic resync against the Inventory,
// reports each instance's observed phase and endpoints, reports instances of an unreachable
// site as PhaseUnknown, and reports drift (deployed per the inventory, unknown to the VIM),
// re-creating the instance when the DriftPolicy says so.
package reconcile
