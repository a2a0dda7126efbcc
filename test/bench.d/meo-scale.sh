#!/usr/bin/env bash
# meo-scale.sh (make bench) prints the MEO's figures at scale (test/bench/meoscale):
#   - instantiate → COMPLETED p50/p99 of 1,000 app instances on 100 sites (each with its own
#     mep process) through the whole MEO, next to the bare Kubernetes VIM adapter's deploy →
#     Running p50/p99 for the same workloads in the same run, side by side at the same time
#     (goal: the MEO adds ≤ 100 ms at p99 and ≤ 1.2× the adapter's p99);
#   - the time a restarted MEO takes to resync 10,000 instances on those 100 sites.
# The sites share three kwok test-bed control planes (indexes 6, 7, 8; or the comma-separated
# kubeconfigs in MEO_SCALE_KUBECONFIGS), each site on its own namespaces. Scale with
# MEO_SCALE_SITES, MEO_SCALE_INSTANCES, MEO_SCALE_CONCURRENCY, MEO_SCALE_RESYNC; extra
# arguments go to scalebench (`go run ./test/bench/meoscale -h`), e.g. `-heap-profiles DIR`
# for the meo's heap profiles (`go tool pprof -top DIR/heap-instantiated.pb.gz`). The bench
# plays the apps: each confirms ready once kwok reports its pod Running, as a real app does
# once its container started and before its readiness probe lets the workload count as
# Running; `-app-starts-at running` starts them only on the adapter's Running event instead
# (an app without such a probe: its whole confirm_ready then comes after Running).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/bench.d/lib/pg.bash
work=$(mktemp -d /tmp/meo-scale.XXXXXX)
sites_up=()
cleanup() {
  pg_down
  for s in "${sites_up[@]}"; do bash test/testbed/site.sh down "$s" || true; done
  rm -rf "$work"
}
trap cleanup EXIT
kcs=${MEO_SCALE_KUBECONFIGS:-}
if [ -z "$kcs" ]; then
  export EDGEMEC_TESTBED_DIR=$work/testbed
  for i in 6 7 8; do
    kc=$(bash test/testbed/site.sh up "meo-scale-$i" "$i" k8s | tail -n 1)
    sites_up+=("meo-scale-$i")
    kcs=${kcs:+$kcs,}$kc
  done
fi
pg_up
go build -o "$work/meo" ./cmd/meo
go build -o "$work/mep" ./cmd/mep
go build -o "$work/scalebench" ./test/bench/meoscale
"$work/scalebench" -meo "$work/meo" -mep "$work/mep" -database-url "$PG_URL" -dir "$work" -kubeconfigs "$kcs" \
  -sites "${MEO_SCALE_SITES:-100}" -instances "${MEO_SCALE_INSTANCES:-1000}" \
  -concurrency "${MEO_SCALE_CONCURRENCY:-16}" -resync-instances "${MEO_SCALE_RESYNC:-10000}" "$@"
