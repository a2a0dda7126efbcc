#!/usr/bin/env bash
# dns.sh prints queries/s and latency percentiles of the site DNS server of a real mep binary on
# loopback, measured with dnsperf (installed from test/deps.d/dns.txt by test/bench.sh; this
# script installs nothing) for (a) answers from DNS rules granted over Mm5 and (b) forwarded
# names answered from the cache. The p50/p99 come from dnsperf -v, which prints every answer's
# latency, in a second run at the same load; see mep/internal/dnsserver/README.md.
# DNS_BENCH_ARGS passes flags on (e.g. DNS_BENCH_ARGS="-duration 30s -rules 10000").
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v dnsperf >/dev/null || { echo "dns: dnsperf missing; run test/deps.sh" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/mep" ./cmd/mep
# shellcheck disable=SC2086
go run ./test/bench/dns -mep "$tmp/mep" ${DNS_BENCH_ARGS:-}
