#!/usr/bin/env bash
# build.sh is `make images`: it builds every binary of the platform from this repository and
# packs each into a single-layer container image (internal/tools/mkimage, no Docker engine and
# no registry needed), written as a docker-save tarball to $OUT (default bin/images):
#
#   meo.tar     local/edgemec-meo:$IMAGE_TAG      the orchestrator (user 65532)
#   mep.tar     local/edgemec-mep:$IMAGE_TAG      the MEP of a site (user 65532)
#   upgw.tar    local/edgemec-upgw:$IMAGE_TAG     the user-plane gateway (root; needs BPF capabilities)
#   mecctl.tar  local/edgemec-mecctl:$IMAGE_TAG   the operator CLI (user 65532)
#   mecapp.tar  local/mecapp:$IMAGE_TAG           the sample MEC app (user 65534)
#
# The repositories and the default tag (dev) are the Helm charts' defaults (deploy/helm).
# GOARCH picks the architecture (default the host's). The images are reproducible: the same
# sources and Go toolchain give the same digests. Load them as deploy/images/README.md says.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-bin/images}
tag=${IMAGE_TAG:-dev}
arch=${GOARCH:-$(go env GOARCH)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

CGO_ENABLED=0 GOARCH=$arch go build -trimpath -ldflags "-s -w" -o "$work/" \
  ./cmd/meo ./cmd/mep ./cmd/upgw ./cmd/mecctl ./test/tools/mecapp
GOARCH= go build -o "$work/mkimage" ./internal/tools/mkimage
mkdir -p "$out"

# image NAME REF [MKIMAGE-FLAGS...] packs $work/NAME as $out/NAME.tar.
image() {
  local name=$1 ref=$2
  shift 2
  "$work/mkimage" -ref "$ref" -arch "$arch" -out "$out/$name.tar" "$@" "$work/$name"
  echo "images: $out/$name.tar ($ref, $arch)" >&2
}
image meo "local/edgemec-meo:$tag" -user 65532 -port 8090/tcp
image mep "local/edgemec-mep:$tag" -user 65532 -port 8080/tcp -port 5353/udp -port 5353/tcp
image upgw "local/edgemec-upgw:$tag" -port 8090/tcp
image mecctl "local/edgemec-mecctl:$tag" -user 65532
image mecapp "local/mecapp:$tag" -user 65534 -port 8080/tcp
