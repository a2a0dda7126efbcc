#!/usr/bin/env bash
# mep-abuse.sh (make bench) prints what one misbehaving app or client can do to a real mep
# binary (test/bench/mepabuse, issue 15): the MEP's RSS and another app's discovery
# latency while an app registers large free-form services and runs concurrent discoveries,
# the cost of a huge appServiceRequired list, slow-body connections held, oversized paths and
# bodies, and the status codes the MEP answers them with. Extra arguments go to the program
# (`go run ./test/bench/mepabuse -h`), e.g. `bash test/bench.d/mep-abuse.sh -services 50`.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/mep" ./cmd/mep
go build -o "$tmp/mep-abuse" ./test/bench/mepabuse
"$tmp/mep-abuse" -mep "$tmp/mep" "$@"
