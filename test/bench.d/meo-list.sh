#!/usr/bin/env bash
# meo-list.sh (make bench) prints the MEO's list and filter figures (test/bench/meolist):
# Mm1 app_instances and app_lcm_op_occs and the inventory's sites, first and deep pages and
# filters, with 10,000 sites, 100,000 app instances and 200,000 op occurrences in PostgreSQL,
# p50/p99 at 4 connections (goal p99 < 50 ms), and the MEO's RSS (goal < 200 MB). Extra
# arguments go to listbench (`go run ./test/bench/meolist -h`).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/bench.d/lib/pg.bash
work=$(mktemp -d /tmp/meo-list.XXXXXX)
trap 'pg_down; rm -rf "$work"' EXIT
pg_up
go build -o "$work/meo" ./cmd/meo
go build -o "$work/listbench" ./test/bench/meolist
"$work/listbench" -meo "$work/meo" -database-url "$PG_URL" "$@"
