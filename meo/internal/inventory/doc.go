// Package inventory keeps the MEO's edge sites: each site's MEP (reached over Mm5), its VIM
// (reached through a vim-adapters adapter) and its location, with the state the MEO learns by
// probing them (capacity, health) and what the MEO has committed there.
//
// It is the only package of the MEO that imports the concrete VIM adapters: everything else
// reaches a site through the reconcile.Site that Connect returns (orchestrate.Sites).
//
// Registering a site:
//  1. the spec is checked and every problem is reported at once (ErrInvalid);
//  2. the MEP must answer an authenticated Mm5 call (GET app_instances) and the VIM its
//     Capabilities; if either fails nothing is stored and the error names the side that
//     failed and what it said (ErrUnreachable);
//  3. the secrets (MEP token, kubeconfig) are sealed with the MEO key (Box, AES-256-GCM,
//     bound to the site and field) and the site is stored with its first health and capacity.
//
// Reading a site never returns a secret, only that one is set and a short fingerprint.
//
// Run probes every site once per interval. With several MEO replicas on one database, each
// due site is claimed by one replica (FOR UPDATE SKIP LOCKED) and its next probe moved one
// interval ahead in the same statement, so a site is probed once per interval whatever the
// number of replicas, and a replica that dies only delays the probes it had claimed.
//
// Cordon marks a site unschedulable: placement stops choosing it, instances on it stay.
// Drain is cordon plus the draining flag, which asks for the site's instances to be moved
// elsewhere; moving them is the orchestrator's (meo/internal/orchestrate/drain.go), which
// records its progress here (DrainStatus, SaveDrainStatus), shown as state.drain. Cordon and
// Uncordon end a drain and drop its progress.
package inventory
