// Package lcm is the MEO's application lifecycle management (ETSI GS MEC 010-2 §6.2.2, the
// Mm1 app_lcm API): app instance resources, the lifecycle tasks on them (instantiate,
// operate, terminate) recorded as op occurrences, the V3 retry, fail and cancel of an op
// occurrence, and the subscriptions whose notifications tell others about it. It is also
// what the executor (meo/internal/orchestrate) runs op occurrences through: Service
// implements orchestrate.Ops.
//
// # App instances
//
// Create makes an instance NOT_INSTANTIATED of the onboarded, ENABLED package with the
// appDId; the package is IN_USE while any of its instances exists, so package management
// refuses to delete it. Delete removes a NOT_INSTANTIATED instance with no operation in
// progress; op occurrences outlive their instance.
//
// # Op occurrences
//
// A task is accepted in one transaction: the instance is locked, its state checked, and the
// op occurrence inserted STARTING with everything the executor needs (the reconcile.Task
// built from the package's AppD, its artefacts and the request's overrides; for an
// instantiate, the placement.Request), and its notification queued. At most one op
// occurrence per instance has not ended for good (STARTING, PROCESSING or FAILED_TEMP): the
// database's unique index enforces it under concurrent requests (409).
//
// The states, and who moves an op occurrence between them:
//
//	STARTING    --Placed (executor)-------------------> PROCESSING
//	STARTING,
//	PROCESSING  --Finished COMPLETED (executor)-------> COMPLETED
//	            --Finished FAILED (executor)----------> FAILED
//	            --Finished FAILED_TEMP (executor)-----> FAILED_TEMP
//	            --cancel, no live lease (client)------> FAILED_TEMP
//	            --cancel, leased (client)-------------> same state, isCancelPending; the
//	                                                    executor sees it through Renew and
//	                                                    ends the run FAILED_TEMP
//	FAILED_TEMP --retry (client), or Claim once its
//	              retry time came (executor)----------> STARTING (not placed) or PROCESSING
//	            --fail (client)-----------------------> FAILED
//
// The instance follows the op occurrence: an instantiate placed on a site commits the
// site's resources at once (mecHostInformation is set); COMPLETED makes it INSTANTIATED and
// STARTED, sets the requested operational state, or (terminate) NOT_INSTANTIATED with its
// site cleared; an instantiate FAILED for good gives the site back.
//
// Every change queues its notifications in the same transaction, routed by Router to the
// matching subscriptions and delivered through the MEO's outbox.
package lcm
