#!/usr/bin/env bash
# build.sh builds the test bed's pinned binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy, kwok) from the Go module proxy into a cache keyed by their versions.
# It is idempotent and takes a lock: a warm cache returns at once; a cold one takes ~20 min on 2 cores.
# It prints the bin directory on its last line of stdout. With --check it builds nothing and
# exits 1 when the cache is cold.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/mec-testbed
flags='-trimpath'
key=$( { go version; cat "$here/versions.env" "$here/k8s/go.mod" "$here/etcd/go.mod"; echo "$flags"; } | sha256sum | cut -c1-16)
bin=$cache/$key/bin
want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kwok)
have_all() { for b in "${want[@]}"; do [ -x "$bin/$b" ] || return 1; done; }
if [ "${1:-}" = --check ]; then have_all && echo "$bin"; exit; fi
mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9
if have_all; then echo "$bin"; exit 0; fi
export GOCACHE=$cache/gocache GOFLAGS=-mod=mod GOTOOLCHAIN=local
tmp=$bin.tmp; rm -rf "$tmp"; mkdir -p "$tmp"
step() { local t0=$SECONDS; "$@" >&2; echo "testbed: $1 … $((SECONDS - t0)) s" >&2; }
ld="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=${K8S#1.} -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z"
ld=${ld/gitMinor=${K8S#1.}/gitMinor=$(echo "$K8S" | cut -d. -f2)}
build_etcd() { (cd "$here/etcd" && go build $flags -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3); }
build_k8s() {
  (cd "$here/k8s" && go build $flags -ldflags "$ld" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
}
build_kwok() { GOBIN=$tmp go install $flags -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK"; }
for b in "${want[@]}"; do [ -x "$bin/$b" ] && cp "$bin/$b" "$tmp/"; done
[ -x "$tmp/etcd" ] || step build_etcd
[ -x "$tmp/kube-apiserver" ] && [ -x "$tmp/kubelet" ] && [ -x "$tmp/kube-proxy" ] || step build_k8s
[ -x "$tmp/kwok" ] || step build_kwok
rm -rf "$bin"; mv "$tmp" "$bin"
have_all
echo "$bin"
