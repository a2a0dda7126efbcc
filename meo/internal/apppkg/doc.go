// Package apppkg reads and checks a MEC application package: a zip in the CSAR layout
// (ETSI GS NFV-SOL 004 as GS MEC 010-2 uses it), holding the AppD and the app's deployment
// artefacts. The result, a Package, is everything the orchestrator needs later, so a package
// is read once at onboarding and never again.
//
// # Layout
//
//  1. TOSCA-Metadata/TOSCA.meta, when present, names the AppD in Entry-Definitions, may name
//     a manifest in ETSI-Entry-Manifest, and may list artefacts in Name: blocks.
//  2. Without it, the AppD is the single *.yaml, *.yml or *.json file at the root, or, when the
//     root has none, the single one directly under Definitions/.
//  3. The manifest (*.mf: the one TOSCA.meta names, else the single one at the root) lists
//     files in Source: lines; where a Source has an Algorithm (SHA-256, SHA-512) and Hash,
//     the file's digest must match.
//  4. Deployment artefacts are the files TOSCA.meta or the manifest lists, or, when neither
//     lists any, the files under Artifacts/Deployment/ (or Artifacts/ when that is absent).
//     A file is a Helm chart when it is a .tgz/.tar.gz or lies in a directory holding
//     Chart.yaml, and Kubernetes manifests when it is *.yaml, *.yml or *.json; other files
//     are not deployment artefacts and are left alone. At most one chart, and not both a
//     chart and manifests, since a VIM deploys one of them. A chart must load and render
//     offline with its default values, within its render budget (Limits.RenderTimeout and
//     MaxRenderItems, render.go: ReasonRenderBudget); manifests must decode into objects with apiVersion,
//     kind and name; no object may be cluster-scoped (namespaced apps only).
//  5. An app with no artefact needs a swImageDescriptor with a swImage: the VIM makes the
//     workload from the image (and the AppD's ports), or boots it as a VM.
//
// # Untrusted input
//
// The zip comes from outside, so Read trusts nothing it says about itself:
//
//  1. Names must be valid UTF-8, relative, slash-separated, free of "..", ".", empty
//     elements, backslashes, drive letters and control characters; no two may be equal
//     ignoring case and Unicode normalisation (NFC: a precomposed "é" and "e" with a
//     combining accent are one name), and no file may also be a directory prefix of
//     another entry.
//  2. Only regular files and directories; symlinks and other modes are refused.
//  3. Every entry is decompressed in full as a stream, counting what comes out: the sizes
//     and CRC the headers give must match what the data holds, and the limits (entry size,
//     total size, compression ratio) are enforced on the bytes produced, not the headers'
//     claims. A header that claims more than a limit is refused before reading.
//  4. An entry that is itself a zip is refused: nested archives are not unpacked, and a
//     package that carries one is not one the VIMs could use.
//  5. Only the AppD, TOSCA.meta, the manifest and deployment artefacts are held in memory,
//     each bounded by Limits; the rest is streamed and dropped.
//
// Errors are *Error, name the entry (and the AppD member by JSON pointer where one is at
// fault), carry a Reason, and match ErrInvalid.
package apppkg
