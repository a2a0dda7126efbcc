# shellcheck shell=bash
# lib.sh holds what the test bed's scripts share: messages, daemons started in their own
# session and stopped by PID, readiness loops that notice a daemon that exited, and calls to a
# site's apiserver. The caller sets tb_name (message prefix) and run_dir (where a daemon's
# NAME.pid and NAME.log go); kapi needs dir (the site's directory) and port_api.

die() { echo "$tb_name: $*" >&2; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid FILE [GRACE] kills the process in FILE: SIGTERM, then SIGKILL after GRACE tenths of
# a second (default 10), since the apiserver can hang on SIGTERM (real-node.md G8).
stop_pid() {
  local f=$1 grace=${2:-10} pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$f"
}

# start NAME CMD... starts a daemon in its own session (so a `timeout` or a Ctrl-C on the
# caller's process group does not take it down, k8s-testbed.md G8) and records its PID.
start() {
  local name=$1; shift
  setsid "$@" >"$run_dir/$name.log" 2>&1 </dev/null &
  echo $! >"$run_dir/$name.pid"
}

# wait_until NAME SECONDS CMD... polls CMD until it succeeds, failing at once when daemon NAME
# has exited (a readiness loop alone hangs forever on a daemon that exited, k8s-testbed.md G1).
wait_until() {
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    alive "$run_dir/$name.pid" || { tail -n 30 "$run_dir/$name.log" >&2; die "$name exited (log: $run_dir/$name.log)"; }
    ((SECONDS < deadline)) || { tail -n 30 "$run_dir/$name.log" >&2; die "$name not ready after $secs s"; }
    sleep 0.2
  done
}

# kapi METHOD PATH [CURL-ARGS...] calls the site's apiserver as admin.
kapi() {
  local method=$1 path=$2; shift 2
  curl -sSf --max-time 10 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
    -X "$method" "https://127.0.0.1:$port_api$path" "$@"
}
