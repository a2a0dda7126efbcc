// Package pkgm is the MEO's application package management (ETSI GS MEC 010-2 §6.2.3, the
// Mm1 app_pkgm API): creating package resources, taking their content (uploaded or fetched
// from appPkgPath), onboarding it, enabling, disabling and deleting packages, and the
// subscriptions whose notifications tell others about it.
//
// # Onboarding
//
// A package moves through onboardingState as follows:
//  1. CREATED: the resource exists (Create), without content.
//  2. UPLOADING: content is arriving (Upload or the appPkgPath fetch); a second upload gets
//     ErrConflict. The bytes stream into the store in chunks while they are hashed; nothing
//     holds the whole zip in memory.
//  3. PROCESSING: the content is stored and its checksum matched, in the same transaction.
//  4. ONBOARDED: the package reader accepted the zip; the AppD and the parse result are
//     kept, the package is ENABLED, and AppPackageOnBoarded is queued in the same
//     transaction.
//
// Any failure on the way (size limit, checksum mismatch, a bad package, a fetch error)
// ends in ERROR with the reason in onboardingFailureDetails, and the content is not kept:
// a checksum or size failure rolls the chunks back, a bad package deletes them with the
// state change.
//
// A package stuck in UPLOADING or PROCESSING because its MEO process died is set to ERROR
// by Recover after a grace period, so a client can delete it and try again.
package pkgm
