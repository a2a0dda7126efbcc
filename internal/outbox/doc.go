// Package outbox delivers queued notifications to callback URLs: the delivery engine shared
// by the MEP (ETSI GS MEC 011 notifications) and the MEO (ETSI GS MEC 010-2 package and LCM
// notifications). It knows nothing of either: a Delivery is an opaque id, an owner key (the
// app instance or subscriber whose subscription it serves), a callback URL and a body. The
// user keeps the durable copy (its outbox rows) and implements Store; the engine keeps an
// in-memory queue and a pool of workers that POST through internal/callback.
//
// # Guarantees
//
//  1. Durable, at least once. A delivery is finished only when the subscriber answered 2xx,
//     or when it was given up on (see 5); until then it stays in the user's store and is
//     delivered again after a restart (Run loads Store.Pending). A subscriber may see a
//     notification more than once (a crash between its 2xx and the store recording it, or a
//     kept-alive connection that broke mid-request); it never silently misses one.
//  2. Never blocking an API call. Enqueue only adds to memory and wakes the dispatcher; no
//     I/O, no store access. The user calls it after the commit that queued the rows.
//  3. Fair per owner and per host, whatever the callbacks do. A bounded worker pool runs
//     the POSTs; owners with due deliveries take turns, and caps on the deliveries in flight
//     apply at all times, not only after failures: Config.PerApp per owner, Config.PerHost
//     per callback host:port (over all owners, and larger than PerApp so that apps behind
//     one ingress still share it), and Config.PerSuspect per owner and host until that lane
//     answered 2xx within Config.SlowAfter (a time budget; a failure or a slower answer
//     takes the trust away). An app whose callbacks hang, or answer 2xx just under the
//     timeout, delays only its own notifications, and one such endpoint of an app delays
//     its other endpoints only in part.
//  4. Dispatch cost does not grow with the number of deliveries waiting: deliveries due
//     later wait in a heap by due time, due ones in per-owner, per-host queues, and a queue
//     that cannot start a delivery is set aside until a delivery that frees it lands.
//  5. Bounded. A failed attempt (transport error, timeout, an answer other than 2xx, 404
//     and 410) is retried after an exponential backoff (Config.BaseBackoff doubling up to
//     Config.MaxBackoff), at most Config.MaxAttempts times in all. 404 and 410 (the
//     callback is gone) and an address in Config.Deny (checked after name resolution) drop
//     the delivery at once. A delivery whose subscription was deleted meanwhile
//     (Store.Live reports false) is dropped unsent.
//
// # What the user guarantees
//
//   - Ids are unique and stable: the same queued delivery has the same id in Enqueue and in
//     every Pending result, and a new delivery never reuses the id of a finished one while
//     the engine may still know it.
//   - Pending returns the deliveries this process is to deliver, with their attempt counts
//     and due times as last settled. With several processes on one database (MEO
//     replicas), each Pending returns only the rows the process has claimed (a lease per
//     row or per owner, renewed while it runs); rows of a dead process are claimed by
//     another one on its next Reload. A delivery in flight when its lease passes may then be
//     sent twice, which guarantee 1 allows.
//   - Settle is idempotent: the engine may report an outcome again (after a Reload, or
//     when a Settle failed and the delivery is attempted again) and may report an outcome
//     for a row already finished or claimed elsewhere; such outcomes are no-ops. Settle
//     records a Retry's attempt count and due time, and removes (or marks finished) a
//     Delivered or Dropped row.
//   - Live is cheap and does not block (an in-memory index, not a query): the dispatcher
//     calls it for every attempt.
//
// # Settling
//
// Outcomes are recorded in memory at once and passed to Store.Settle in batches (every
// Config.SettleEvery, or Config.SettleBatch outcomes), which keeps the store free for the
// commits that produce notifications. A retry is queued again only after its outcome was
// settled, so the store never knows fewer attempts than were made. A failed Settle is
// logged and its outcomes are not retried: the rows stay pending in the store, and a restart
// or Reload delivers them again (guarantee 1).
package outbox
