// Package vimtest holds what tests need to check code against the vim.VIM contract:
//
//   - Fake, an in-memory VIM that behaves like a real site (phases that change over time,
//     scheduling against node capacity, quotas, missing images, offline nodes, ownership,
//     Watch) and lets a test inject failures and delays, delete a workload behind the
//     adapter's back (drift) and count the calls it received. The MEO's unit tests drive it
//     in place of a site.
//   - Run, the contract suite every adapter passes: the fake in a plain unit test, the real
//     adapters against the test bed in their integration tests. Options say what a backend
//     cannot show (a kind that cannot tell a missing image, a site where a foreign object
//     cannot be made).
//
// The Fake follows the Kubernetes adapter where kinds differ (a missing image or an
// unschedulable request shows in Status, not as a Deploy error), and Config switches to
// the libvirt behaviour (Deploy refuses a missing image) where a test needs it.
package vimtest
