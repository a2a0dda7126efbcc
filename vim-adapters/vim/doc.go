// Package vim is the contract between the MEO and the virtualised infrastructure of one site
// (ETSI GS MEC 003 calls it the VIM). A VIM adapter deploys app instances from their package
// artefacts, reports their status and capacity, starts, stops and terminates them, and streams
// changes. One adapter value serves one site; the MEO holds one per site.
//
// The package holds only the interface, its types and its typed errors. It must not depend on
// any VIM client library (client-go, libvirt): vim_deps_test.go enforces that, so the MEO can
// import it without linking the adapters it does not use.
//
// Adapters live next to it, one package per VIM kind: kubernetes, k3s, kubeedge, kubevirt and
// libvirt. Package vimtest holds the contract suite they all pass and an in-memory fake.
package vim
