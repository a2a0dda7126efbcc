// Package kubernetes is the VIM adapter for Kubernetes sites (vim.VIM over client-go).
//
// Each app instance gets its own namespace, named after the instance id and labelled with the
// instance id and the AppD id. The workload comes from the package's Helm chart (rendered in
// process with the Helm Go SDK, never a helm binary), from plain manifests, or, when the
// package has neither, from the swImageDescriptor alone (one Deployment plus a Service for
// the declared ports). Objects go to the API server by server-side apply under one field
// manager, so deploying twice converges.
//
// Before applying, the adapter
//  1. labels every object and pod template with the instance and AppD ids;
//  2. writes the app's Mp1 access (MEP endpoint, instance id, client credentials) into the
//     Secret "edgemec-mp1" and adds it to every container's environment (envFrom);
//  3. sets the first container's requests and limits from the virtualComputeDescriptor when
//     the artefacts give none;
//  4. applies placement: node selector, node kind and group, CPU architecture and runtime
//     class (Kata Containers is a runtime class, e.g. "kata").
//
// It applies the namespace's "default" ServiceAccount itself (unless the artefacts bring
// one) before the workload: pod admission refuses every pod of a new namespace until that
// account exists, and the workload controllers then retry with exponential backoff, which on
// a busy control plane cost seconds to tens of seconds per instance.
//
// Status is read from Deployments, StatefulSets, DaemonSets and Pods; endpoints come from
// Services (ClusterIP, NodePort, LoadBalancer ingress) and ready pod IPs. Reasons are mapped
// to the vim sentinels: ErrImagePull and friends to vim.ErrImageMissing, FailedScheduling to
// vim.ErrUnschedulable, quota rejections to vim.ErrQuota, RBAC denials to vim.ErrForbidden.
//
// Distributions plug in through Flavor: the k3s and kubeedge packages are this adapter with
// their conventions.
package kubernetes
