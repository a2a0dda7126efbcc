#!/usr/bin/env bash
# meo.sh prints the MEO figures: onboarding throughput of a 50 MB package (MB/s), the MEO's
# peak RSS after onboarding it (goal < 100 MB), and GET /app_packages with a filter over
# 10,000 packages, p99 at 4 connections (goal < 20 ms). It runs a throw-away PostgreSQL from
# the machine's packages (as the postgres user when run as root). Extra arguments go to the
# bench program (see `go run ./test/bench/meopkg -h`), e.g. `bash test/bench.d/meo.sh -duration 20s`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)")
[ -x "$bindir/initdb" ] || { echo "meo: initdb not found (apt-get install postgresql)" >&2; exit 1; }
tmp=$(mktemp -d)
as=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$tmp" 2>/dev/null || chown nobody "$tmp"
  as=(runuser -u "$(stat -c %U "$tmp")" --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  "${as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"${as[@]}" "$bindir/initdb" -D "$tmp/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
"${as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/postgres.log" -w -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" start >/dev/null
go build -o "$tmp/meo" ./cmd/meo
go build -o "$tmp/meo-bench" ./test/bench/meopkg
"$tmp/meo-bench" -meo "$tmp/meo" -database-url "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable" -dir "$tmp" "$@"
