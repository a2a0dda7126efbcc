#!/usr/bin/env bash
# gen-crds.sh regenerates the KubeVirt CRDs in test/crds/kubevirt from the pinned
# kubevirt.io/api Go types with controller-gen (both pinned in crdgen/go.mod), then
# post-processes them (crdgen/main.go). The output is committed test data; run this only when
# KUBEVIRT_API or CONTROLLER_TOOLS in versions.env change.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$here/../crds" 2>/dev/null && pwd || { mkdir -p "$here/../crds" && cd "$here/../crds" && pwd; })/kubevirt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here/crdgen"
export GOFLAGS=-mod=mod
go tool controller-gen crd:maxDescLen=0,allowDangerousTypes=true paths=kubevirt.io/api/core/v1 output:crd:dir="$tmp"
rm -rf "$out"
go run . -in "$tmp" -out "$out"
