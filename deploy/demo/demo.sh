#!/usr/bin/env bash
# demo.sh (make demo, make demo-down): the platform on one machine, an operator driving it with
# mecctl only. It starts
#   - PostgreSQL from Debian's packages (data under $DEMO_DIR/pg, a free port);
#   - the MEO, two replicas on that database;
#   - site-1: its own Kubernetes control plane (test bed index 3) with the real node (kubelet,
#     containerd, runc), its MEP (embedded store, site DNS) and a UPGW on an N3 path in network
#     namespaces (gNB ⇄ UPGW ⇄ UPF, the breakout side reaching the site's app network);
#   - site-2: a K3s-style test-bed site (index 4, kwok nodes) with its MEP, in another place;
# then runs the demo's steps (test/e2e/demo, through internal/tools/demo) and prints a summary.
#
#   demo.sh          up, run, and down again unless KEEP=1
#   demo.sh up       start everything, write $DEMO_DIR/env
#   demo.sh run      the steps, against what `up` started
#   demo.sh down     stop every process by PID and undo every change on the host
#
# Root is needed for the real node and the N3 path (network namespaces, XDP). Without it,
# site-1 is a test-bed site with kwok nodes too (the demo plays the app's Mp1 part) and the
# UPGW steps are left out; the demo says so. A real node that test/setup.d/22-realnode.sh
# already started (EDGEMEC_TESTBED_REALNODE_KUBECONFIG set) is used instead of a new one, and
# DEMO_SITE2_KUBECONFIG names an existing site-2 control plane; the demo then leaves both up.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
dir=${DEMO_DIR:-/tmp/edgemec-demo}
p=${DEMO_PREFIX:-demo}   # prefix of the network namespaces and interfaces
tb=$repo/test/testbed
export EDGEMEC_TESTBED_DIR=$dir/testbed
root=0; [ "$(id -u)" = 0 ] && root=1
curl_auth=()
# What the demo leaves out without root, and why.
root_parts="the real node (kubelet, containerd: cgroups, mounts, CNI, sysctls), so site-1's app container and the operate step on it; site-1's N3 path (network namespaces, veths) and its UPGW (XDP)"

say() { printf '\033[1m%s\033[0m\n' "$*" >&2; }
die() { echo "demo: $*" >&2; exit 1; }

# free_port prints a TCP and UDP port nobody listens on (outside the test bed's blocks and the
# NodePort range).
free_port() {
  local port
  while :; do
    port=$((40000 + RANDOM % 9000))
    ss -Htaun "( sport = :$port )" | grep -q . || { echo "$port"; return; }
  done
}

# daemon NAME CMD... starts a process in its own session, logging to logs/NAME.log (appending:
# a replica restarted keeps its earlier log). It is no job of this shell (disown): the demo
# kills a MEO replica on purpose, and bash would report that.
daemon() {
  local name=$1; shift
  setsid "$@" >>"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name.pid"
  disown $!
}

# start_meo N PORT DSN starts MEO replica N on 127.0.0.1:PORT on the database DSN.
start_meo() {
  daemon "meo-$1" "$dir/bin/meo" --http-addr "127.0.0.1:$2" --database-url "$3" \
    --operator-token-file "$dir/tokens/meo.token" --secret-key-file "$dir/tokens/meo.key" \
    --site-refresh-interval 2s --lease 3s --af-check-interval 2s --af-retry-interval 1s --log-level debug
}

# meo N starts MEO replica N (1 or 2) again, as up started it (demo.sh meo N): the demo's
# steps restart the replica they killed.
meo() {
  local n=$1 port url
  [ -f "$dir/env" ] || die "not up (no $dir/env)"
  url=$(sed -n "s/^DEMO_MEO_$n=//p" "$dir/env")
  [ -n "$url" ] || die "no MEO replica $n in $dir/env"
  port=${url##*:}
  ! kill -0 "$(cat "$dir/pids/meo-$n.pid" 2>/dev/null)" 2>/dev/null || die "MEO replica $n runs already"
  start_meo "$n" "$port" "$(sed -n 's/^DEMO_PG_DSN=//p' "$dir/env")"
  ready "meo-$n" "$url/readyz"
}

# ready NAME URL waits until URL answers 2xx, failing when daemon NAME exited.
ready() {
  local name=$1 url=$2 i
  for i in $(seq 300); do
    curl -sf -o /dev/null --max-time 1 "${curl_auth[@]}" "$url" && return 0
    kill -0 "$(cat "$dir/pids/$name.pid")" 2>/dev/null || { tail -n 20 "$dir/logs/$name.log" >&2; die "$name exited"; }
    sleep 0.1
  done
  die "$name not ready at $url"
}

# listening NAME URL waits until URL gives any HTTP answer, failing when daemon NAME exited.
listening() {
  local name=$1 url=$2 i
  for i in $(seq 300); do
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    kill -0 "$(cat "$dir/pids/$name.pid")" 2>/dev/null || { tail -n 20 "$dir/logs/$name.log" >&2; die "$name exited"; }
    sleep 0.1
  done
  die "$name not listening at $url"
}

stop_pid() {
  local f=$1 sig=${2:-TERM} pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

n3_down() {
  local n l
  for n in gnb upf app; do ip netns del "$p-$n" 2>/dev/null || true; done
  for l in "${p}n3g" "${p}n3u" "${p}app" "${p}ah"; do ip link del "$l" 2>/dev/null || true; done
}

down() {
  [ -d "$dir" ] || { echo "demo: nothing to stop ($dir does not exist)" >&2; return 0; }
  local f
  for f in "$dir"/pids/*.pid; do
    [ -e "$f" ] || continue
    case $(basename "$f") in postgres.pid) continue ;; esac
    stop_pid "$f"
  done
  if ((root)); then n3_down; fi
  if [ -f "$dir/started-realnode" ]; then bash "$tb/realnode.sh" down "$p-1" || true; fi
  for f in "$dir"/started-site-*; do
    [ -e "$f" ] || continue
    bash "$tb/site.sh" down "$(cat "$f")" || true
  done
  stop_pid "$dir/pids/postgres.pid" INT
  rm -rf "$dir"
  echo "demo: stopped, $dir removed" >&2
}

pg_bin() {
  local d
  d=$(pg_config --bindir 2>/dev/null || true)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then d=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)"); fi
  echo "$d"
}

up() {
  [ ! -e "$dir" ] || down
  mkdir -p "$dir"/{bin,logs,pids,tokens}
  chmod 755 "$dir"
  [ -n "${DEMO_NO_DEPS:-}" ] || bash test/deps.sh
  local t0=$SECONDS

  # The sites' Kubernetes come up in the background while the rest is built and started.
  say "demo: starting the sites' Kubernetes control planes (test bed, indexes 3 and 4)"
  local site1_mode=kwok root_only=''
  if ((root)); then site1_mode=realnode; else root_only=$root_parts; fi
  if [ -n "${DEMO_SITE1_KUBECONFIG:-}" ]; then
    site1_mode=given
  elif [ "$site1_mode" = realnode ] && [ -n "${EDGEMEC_TESTBED_REALNODE_KUBECONFIG:-}" ]; then
    site1_mode=shared
  elif [ "$site1_mode" = realnode ] && pgrep -x kubelet >/dev/null; then
    die "a real node already runs on this machine (kubelet pid $(pgrep -x kubelet | head -n1)); stop it, or export its env (EDGEMEC_TESTBED_REALNODE_*) to use it"
  fi
  local s1_pid='' s2_pid=''
  case $site1_mode in
  realnode)
    echo "$p-1" >"$dir/started-site-1"; touch "$dir/started-realnode"
    ( bash "$tb/site.sh" up "$p-1" 3 none >/dev/null && bash "$tb/realnode.sh" up "$p-1" | tail -n 1 >"$dir/site-1.env" ) >"$dir/logs/site-1.log" 2>&1 &
    s1_pid=$! ;;
  kwok)
    echo "$p-1" >"$dir/started-site-1"
    ( bash "$tb/site.sh" up "$p-1" 3 k8s | tail -n 1 >"$dir/site-1.kubeconfig" ) >"$dir/logs/site-1.log" 2>&1 &
    s1_pid=$! ;;
  shared | given) ;;
  esac
  if [ -z "${DEMO_SITE2_KUBECONFIG:-}" ]; then
    echo "$p-2" >"$dir/started-site-2"
    ( bash "$tb/site.sh" up "$p-2" 4 k3s | tail -n 1 >"$dir/site-2.kubeconfig" ) >"$dir/logs/site-2.log" 2>&1 &
    s2_pid=$!
  fi

  say "demo: building meo, mep, upgw, mecctl and the demo driver"
  if [ -n "${DEMO_BIN_DIR:-}" ]; then
    cp "$DEMO_BIN_DIR"/{meo,mep,mecctl,upgw,demo,nef} "$dir/bin/"   # built already (the e2e test)
  else
    go build -o "$dir/bin/" ./cmd/meo ./cmd/mep ./cmd/mecctl ./cmd/upgw ./internal/tools/demo ./test/nef/cmd/nef
  fi

  say "demo: PostgreSQL (Debian's packages) under $dir/pg"
  local pgb pg_port run_as=()
  pgb=$(pg_bin)
  pg_port=$(free_port)
  mkdir -p "$dir/pg"
  if ((root)); then
    chown postgres: "$dir/pg"
    run_as=(setpriv --reuid=postgres --regid=postgres --clear-groups)
  fi
  "${run_as[@]}" "$pgb/initdb" -D "$dir/pg/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/logs/initdb.log" 2>&1 ||
    { cat "$dir/logs/initdb.log" >&2; die "initdb failed"; }
  setsid "${run_as[@]}" "$pgb/postgres" -D "$dir/pg/data" -p "$pg_port" -k "$dir/pg" -c listen_addresses=127.0.0.1 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off >"$dir/logs/postgres.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/postgres.pid"
  local i
  for i in $(seq 100); do "$pgb/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break; sleep 0.1; done
  "$pgb/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -c 'CREATE DATABASE meo' >/dev/null
  local dsn="postgres://postgres@127.0.0.1:$pg_port/meo?sslmode=disable"

  say "demo: the MEO, two replicas on one database"
  head -c 32 /dev/urandom | base64 >"$dir/tokens/meo.key"
  local n
  for n in meo site-1 site-1-feed site-2 nef-client; do head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/tokens/$n.token"; done
  chmod 600 "$dir"/tokens/*
  local meo_port=()
  for n in 1 2; do
    meo_port[n]=$(free_port)
    start_meo "$n" "${meo_port[n]}" "$dsn"
  done
  for n in 1 2; do ready "meo-$n" "http://127.0.0.1:${meo_port[n]}/readyz"; done

  # site-1's 5G core is played by the test NEF (test/nef): the MEO, as the Application
  # Function, asks it to steer the apps' traffic to site-1's DNAI (3GPP TS 29.522).
  say "demo: a NEF for site-1's 5G core (the test NEF, test/nef: Nnef_TrafficInfluence)"
  local nef_port nef_admin
  nef_port=$(free_port); nef_admin=$(free_port)
  daemon nef env NEF_CLIENT_SECRET="$(cat "$dir/tokens/nef-client.token")" "$dir/bin/nef" \
    --addr "127.0.0.1:$nef_port" --admin-addr "127.0.0.1:$nef_admin" --client-id meo-af
  listening nef "http://127.0.0.1:$nef_port/"

  say "demo: waiting for the sites' Kubernetes"
  local kc1 kc2 host_ip=127.0.0.1 listen1=127.0.0.1
  if [ -n "$s1_pid" ]; then wait "$s1_pid" || { tail -n 30 "$dir/logs/site-1.log" >&2; die "site-1's Kubernetes failed"; }; fi
  if [ -n "$s2_pid" ]; then wait "$s2_pid" || { tail -n 30 "$dir/logs/site-2.log" >&2; die "site-2's Kubernetes failed"; }; fi
  case $site1_mode in
  realnode)
    set -a; . "$(cat "$dir/site-1.env")"; set +a ;;
  kwok) kc1=$(cat "$dir/site-1.kubeconfig") ;;
  given) kc1=$DEMO_SITE1_KUBECONFIG ;;
  esac
  [ "$site1_mode" != given ] || site1_mode=kwok
  if [ "$site1_mode" != kwok ]; then
    kc1=$EDGEMEC_TESTBED_REALNODE_KUBECONFIG host_ip=$EDGEMEC_TESTBED_REALNODE_HOST_IP listen1=0.0.0.0
  fi
  kc2=${DEMO_SITE2_KUBECONFIG:-$(cat "$dir/site-2.kubeconfig" 2>/dev/null)}

  say "demo: a MEP per site (embedded store, site DNS)"
  local mep_port=() dns_port=()
  for n in 1 2; do mep_port[n]=$(free_port); dns_port[n]=$(free_port); done
  # site-1's apps run on the real node: they reach their MEP at the host's CNI bridge address.
  daemon mep-1 env MEP_OPERATOR_TOKEN_FILE="$dir/tokens/site-1.token" MEP_FEED_TOKEN_FILE="$dir/tokens/site-1-feed.token" "$dir/bin/mep" --site site-1 \
    --http-addr "$listen1:${mep_port[1]}" --api-root "http://$host_ip:${mep_port[1]}" --dns-addr "127.0.0.1:${dns_port[1]}" \
    --data-dir "$dir/mep-1" --dns-upstream 127.0.0.1:1 --graceful-timeout 10s --log-level info
  daemon mep-2 env MEP_OPERATOR_TOKEN_FILE="$dir/tokens/site-2.token" "$dir/bin/mep" --site site-2 \
    --http-addr "127.0.0.1:${mep_port[2]}" --api-root "http://127.0.0.1:${mep_port[2]}" --dns-addr "127.0.0.1:${dns_port[2]}" \
    --data-dir "$dir/mep-2" --dns-upstream 127.0.0.1:1 --graceful-timeout 10s --log-level info
  for n in 1 2; do ready "mep-$n" "http://127.0.0.1:${mep_port[n]}/readyz"; done

  local upgw_port=''
  if ((root)) && [ "$site1_mode" != kwok ]; then
    say "demo: site-1's N3 path in network namespaces and its UPGW (XDP)"
    upgw_port=$(free_port)
    n3_down
    # gNB and UPF share 10.0.0.0/24 through the UPGW, a bump in the wire whose three ports are
    # the host ends of the veths; the app network's namespace holds the apps' service address
    # 192.0.2.10 and reaches the real node's pods through the host (PREFIXah ⇄ a1).
    for n in gnb upf app; do ip netns add "$p-$n"; ip -n "$p-$n" link set lo up; done
    ip link add "${p}n3g" type veth peer name g0 netns "$p-gnb"
    ip link add "${p}n3u" type veth peer name u0 netns "$p-upf"
    ip link add "${p}app" type veth peer name a0 netns "$p-app"
    ip link add "${p}ah" type veth peer name a1 netns "$p-app"
    ip -n "$p-gnb" addr add 10.0.0.1/24 dev g0
    ip -n "$p-upf" addr add 10.0.0.2/24 dev u0
    ip -n "$p-app" addr add 192.0.2.10/24 dev a0
    local o=0   # a free /30 in 198.18.3.0/24 for the host link (another demo may hold one)
    while ip -4 -o addr show | grep -q " 198\.18\.3\.$((o + 1))/30"; do o=$((o + 4)); ((o < 256)) || die "no free /30 in 198.18.3.0/24"; done
    ip -n "$p-app" addr add "198.18.3.$((o + 2))/30" dev a1
    ip addr add "198.18.3.$((o + 1))/30" dev "${p}ah"
    local l
    for l in "${p}n3g" "${p}n3u" "${p}app" "${p}ah"; do ip link set "$l" up; done
    for l in "gnb g0" "upf u0" "app a0" "app a1"; do
      set -- $l; ip -n "$p-$1" link set "$2" up; ip netns exec "$p-$1" ethtool -K "$2" gro on >/dev/null
    done
    # The gNB and the UPF send complete UDP checksums, as their NICs would (a veth leaves them
    # to the receiver, which an XDP redirect skips).
    for l in "gnb g0" "upf u0"; do set -- $l; ip netns exec "$p-$1" ethtool -K "$2" tx off >/dev/null; done
    mac() { ip -n "$p-$1" -br link show "$2" | awk '{print $3}'; }
    ip -n "$p-gnb" neigh add 10.0.0.2 lladdr "$(mac upf u0)" dev g0
    ip -n "$p-upf" neigh add 10.0.0.1 lladdr "$(mac gnb g0)" dev u0
    # UEs are reached through the UPGW's app port: a next hop with that port's MAC (no address
    # on the host side, whose own network may well be 192.0.2.0/24).
    ip -n "$p-app" neigh add 192.0.2.254 lladdr "$(ip -br link show "${p}app" | awk '{print $3}')" dev a0
    ip -n "$p-app" route add 10.60.0.0/16 via 192.0.2.254 dev a0
    ip -n "$p-app" route add default via "198.18.3.$((o + 1))" dev a1
    ip netns exec "$p-app" sysctl -qw net.ipv4.ip_forward=1
    # The app network's NAT (its own namespace's tables): traffic to the apps' service
    # address goes out as from 198.18.3.2, so the pods' replies come back this way.
    ip netns exec "$p-app" iptables -t nat -A POSTROUTING -o a1 -j MASQUERADE
    # The UPGW follows the MEP's rule feeds with the MEP's read-only feed token, not its
    # operator token; its control API takes the site's token (mecctl's for site-1).
    daemon upgw env UPGW_MEP_TOKEN_FILE="$dir/tokens/site-1-feed.token" UPGW_API_TOKEN_FILE="$dir/tokens/site-1.token" \
      "$dir/bin/upgw" --site site-1 --gnb-if "${p}n3g" --upf-if "${p}n3u" --app "${p}app,$(mac app a0),192.0.2.10/32" \
      --mep-url "http://127.0.0.1:${mep_port[1]}" --feed-timeout 5s --listen "127.0.0.1:$upgw_port" --log-level info
    curl_auth=(-H "Authorization: Bearer $(cat "$dir/tokens/site-1.token")")
    ready upgw "http://127.0.0.1:$upgw_port/upgw/v1/status"
  fi

  say "demo: mecctl's context"
  local ctl=("$dir/bin/mecctl" --config "$dir/mecctl.yaml")
  local upgw_flag=()
  [ -z "$upgw_port" ] || upgw_flag=(--site-upgw "site-1=127.0.0.1:$upgw_port")
  "${ctl[@]}" config set-context demo --meo "127.0.0.1:${meo_port[1]}" --token-file "$dir/tokens/meo.token" \
    --site "site-1=127.0.0.1:${mep_port[1]}" --site-token-file "site-1=$dir/tokens/site-1.token" "${upgw_flag[@]}" \
    --site "site-2=127.0.0.1:${mep_port[2]}" --site-token-file "site-2=$dir/tokens/site-2.token" >/dev/null

  cat >"$dir/env" <<EOF
DEMO_DIR=$dir
DEMO_PREFIX=$p
DEMO_REPO=$repo
DEMO_MECCTL=$dir/bin/mecctl
DEMO_MECCTL_CONFIG=$dir/mecctl.yaml
DEMO_PG_DSN=$dsn
DEMO_MEO_1=http://127.0.0.1:${meo_port[1]}
DEMO_MEO_2=http://127.0.0.1:${meo_port[2]}
DEMO_SITE1_MODE=$site1_mode
DEMO_SITE1_KUBECONFIG=$kc1
DEMO_SITE1_MEP=http://127.0.0.1:${mep_port[1]}
DEMO_SITE1_MP1=http://$host_ip:${mep_port[1]}
DEMO_SITE1_DNS=127.0.0.1:${dns_port[1]}
DEMO_SITE1_NODE=${EDGEMEC_TESTBED_REALNODE:-}
DEMO_SITE1_UPGW=${upgw_port:+http://127.0.0.1:$upgw_port}
DEMO_SITE2_KUBECONFIG=$kc2
DEMO_SITE2_MEP=http://127.0.0.1:${mep_port[2]}
DEMO_SITE2_DNS=127.0.0.1:${dns_port[2]}
DEMO_NEF=http://127.0.0.1:$nef_port
DEMO_NEF_ADMIN=http://127.0.0.1:$nef_admin
DEMO_NEF_CLIENT=meo-af
DEMO_ROOT_ONLY=$root_only
EOF
  say "demo: up in $((SECONDS - t0)) s (state in $dir)"
}

run() {
  [ -f "$dir/env" ] || die "not up (no $dir/env): run demo.sh up first"
  "$dir/bin/demo" -env "$dir/env"
}

case ${1:-all} in
up) up ;;
run) run ;;
down) down ;;
meo) meo "${2:?usage: demo.sh meo 1|2}" ;;
all)
  ((root)) || say "demo: not root — these parts need root and are left out: $root_parts. site-1 gets kwok nodes instead (the demo plays the app's Mp1 part there); the rest runs."
  up
  if [ -z "${KEEP:-}" ]; then trap down EXIT; fi
  run
  if [ -n "${KEEP:-}" ]; then
    say "KEEP=1: everything keeps running (state in $dir); try: $dir/bin/mecctl --config $dir/mecctl.yaml site list; stop it with: make demo-down"
  fi
  ;;
*) die "usage: demo.sh [up|run|down|meo N]" ;;
esac
