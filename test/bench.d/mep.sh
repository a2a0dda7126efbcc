#!/usr/bin/env bash
# mep.sh prints the MEP figures: Mp1 discovery req/s and p99 with 10,000 services next to a
# bare echo handler serving the same bytes (wrk on loopback), registration → notification
# latency with 100 subscribers, and the MEP's RSS. Extra arguments go to the bench program
# (see `go run ./test/bench/mep -h`), e.g. `bash test/bench.d/mep.sh -duration 20s`.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/mep" ./cmd/mep
go build -o "$tmp/mep-bench" ./test/bench/mep
"$tmp/mep-bench" -mep "$tmp/mep" -dir "$tmp" "$@"
