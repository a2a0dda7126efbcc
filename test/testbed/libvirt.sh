#!/usr/bin/env bash
# libvirt.sh starts and stops a private libvirtd for the libvirt adapter's tests and demos:
# Debian's libvirt-daemon with no loadable drivers (LIBVIRT_DRIVER_DIR empty, so only the
# built-in test and remote drivers exist and no QEMU user is needed, k8s-testbed.md G6),
# listening on a unix socket of its own, no auth. Clients open test:///default on it; that
# driver's state lives as long as one connection stays open (hold one per test).
#
#   libvirt.sh up DIR     start it with state in DIR; prints the socket path last
#   libvirt.sh down DIR   kill it by PID and remove DIR
set -euo pipefail
die() { echo "libvirt: $*" >&2; exit 1; }
up() {
  local dir=$1
  mkdir -p "$dir/run" "$dir/drivers"
  command -v libvirtd >/dev/null || die "libvirtd missing (Debian package libvirt-daemon, test/deps.d/vim.txt)"
  cat >"$dir/libvirtd.conf" <<CONF
unix_sock_dir = "$dir/run"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
CONF
  LIBVIRT_DRIVER_DIR=$dir/drivers setsid libvirtd -f "$dir/libvirtd.conf" -p "$dir/libvirtd.pid.daemon" \
    >"$dir/libvirtd.log" 2>&1 </dev/null &
  echo $! >"$dir/libvirtd.pid"
  local deadline=$((SECONDS + 30))
  until [ -S "$dir/run/libvirt-sock" ]; do
    kill -0 "$(cat "$dir/libvirtd.pid")" 2>/dev/null || { tail -n 20 "$dir/libvirtd.log" >&2; die "libvirtd exited"; }
    ((SECONDS < deadline)) || die "libvirtd socket not there after 30 s"
    sleep 0.1
  done
  echo "libvirt: libvirtd up, socket $dir/run/libvirt-sock" >&2
  echo "$dir/run/libvirt-sock"
}
down() {
  local dir=$1 pid i
  [ -f "$dir/libvirtd.pid" ] || { rm -rf "$dir"; return 0; }
  pid=$(cat "$dir/libvirtd.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
case ${1:-} in
up) [ $# -eq 2 ] || die "usage: libvirt.sh up DIR"; up "$2" ;;
down) [ $# -eq 2 ] || die "usage: libvirt.sh down DIR"; down "$2" ;;
*) die "usage: libvirt.sh up|down DIR" ;;
esac
