# pg.bash is sourced by the MEO benchmarks: pg_up starts a throw-away PostgreSQL from the
# machine's packages (as the postgres user when run as root) in a new temporary directory and
# sets PG_DIR and PG_URL; pg_down stops it and removes the directory.
pg_up() {
  local bindir
  bindir=$(pg_config --bindir 2>/dev/null || true)
  [ -x "$bindir/initdb" ] || bindir=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)")
  [ -x "$bindir/initdb" ] || { echo "initdb not found (apt-get install postgresql)" >&2; return 1; }
  PG_BIN=$bindir
  PG_DIR=$(mktemp -d)
  PG_AS=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$PG_DIR" 2>/dev/null || chown nobody "$PG_DIR"
    PG_AS=(runuser -u "$(stat -c %U "$PG_DIR")" --)
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=200" start >/dev/null
  PG_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

pg_down() {
  [ -n "${PG_DIR:-}" ] || return 0
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
