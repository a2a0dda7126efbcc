#!/usr/bin/env bash
# site.sh starts and stops one self-contained test-bed site: etcd (data on /dev/shm),
# kube-apiserver, kube-controller-manager, kube-scheduler and kwok with simulated nodes, all on
# ports of their own, so several sites run side by side (one control plane per site).
#
#   site.sh up NAME INDEX [PROFILE]   start site NAME on port block INDEX (0..49); prints the
#                                     admin kubeconfig path on the last line of stdout
#   site.sh down NAME                 kill the site's daemons by PID and remove its data
#
# PROFILE picks the simulated nodes:
#   k8s  kwok-cloud-0 (amd64) and kwok-edge-0 (arm64, KubeEdge-style role label and taint)
#   k3s  k3s-server-0 and k3s-agent-0 with the labels a K3s cluster puts on its nodes
#   none no kwok nodes (a real node joins later, see realnode.sh)
#
# State lives in $EDGEMEC_TESTBED_DIR/NAME (default /tmp/edgemec-testbed/NAME): PKI, logs, PID
# files, kubeconfig and an `env` file. Binaries come from build.sh (cached by version).
# Recipe and measurements: ../shared/notes/k8s-testbed.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${EDGEMEC_TESTBED_DIR:-/tmp/edgemec-testbed}
procs=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

tb_name=testbed
# shellcheck source=lib.sh
. "$here/lib.sh"

down() {
  local name=$1 dir=$root/$1 p
  [ -d "$dir" ] || return 0
  for p in "${procs[@]}"; do stop_pid "$dir/$p.pid"; done
  [ -f "$dir/shm" ] && rm -rf "$(cat "$dir/shm")"
  rm -rf "$dir"
  echo "testbed: site $name down" >&2
}

# wait_for NAME URL [CURL-ARGS...] polls URL until it answers 2xx (see wait_until).
wait_for() {
  local name=$1 url=$2; shift 2
  wait_until "$name" 90 curl -sf -o /dev/null --max-time 2 "$@" "$url"
}

pki() {
  local d=$dir/pki
  mkdir -p "$d"
  (
    cd "$d"
    cat >ext.cnf <<'EOF'
[srv]
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
[cli]
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EOF
    # EC keys: an order of magnitude faster to generate than RSA-2048.
    ec() { openssl ecparam -name prime256v1 -genkey -noout -out "$1"; }
    ec ca.key
    openssl req -x509 -new -key ca.key -out ca.crt -days 3650 -subj "/CN=edgemec-testbed-$name-ca" 2>/dev/null
    ec apiserver.key
    openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" 2>/dev/null |
      openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile ext.cnf -extensions srv -out apiserver.crt 2>/dev/null
    ec admin.key
    openssl req -new -key admin.key -subj "/CN=admin/O=system:masters" 2>/dev/null |
      openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile ext.cnf -extensions cli -out admin.crt 2>/dev/null
    ec sa.key
    openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  local b64
  b64() { base64 -w0 <"$1"; }
  cat >"$dir/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $name
  cluster:
    server: https://127.0.0.1:$port_api
    certificate-authority-data: $(b64 "$d/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$d/admin.crt")
    client-key-data: $(b64 "$d/admin.key")
contexts:
- name: $name
  context: {cluster: $name, user: admin}
current-context: $name
EOF
}

# node NAME ARCH CPU MEMORY LABELS-JSON TAINTS-JSON IP registers a kwok-managed node. Its
# addresses are set here, both InternalIP and Hostname: kwok v0.8.0's node-initialize stage
# rewrites an address list that lacks either, and empties it when it cannot fill the gap
# (seen as NodePort endpoints vanishing every few heartbeats).
node() {
  local n=$1 arch=$2 cpu=$3 mem=$4 labels=$5 taints=$6 ip=$7
  kapi POST /api/v1/nodes -H 'Content-Type: application/json' -o /dev/null --data-binary @- <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$n",
 "annotations":{"node.alpha.kubernetes.io/ttl":"0","kwok.x-k8s.io/node":"fake"},
 "labels":$(printf '%s' "$labels" | sed "s/^{/{\"kubernetes.io\/hostname\":\"$n\",\"kubernetes.io\/os\":\"linux\",\"kubernetes.io\/arch\":\"$arch\",\"type\":\"kwok\",/")},
 "spec":{"taints":$taints},
 "status":{"addresses":[{"type":"InternalIP","address":"$ip"},{"type":"Hostname","address":"$n"}],
  "allocatable":{"cpu":"$cpu","memory":"$mem","pods":"250"},"capacity":{"cpu":"$cpu","memory":"$mem","pods":"250"},
  "nodeInfo":{"architecture":"$arch","operatingSystem":"linux","kubeletVersion":"v1.37.2","osImage":"kwok","bootID":"","containerRuntimeVersion":"","kernelVersion":"","kubeProxyVersion":"","machineID":"","systemUUID":""}}}
EOF
}

nodes() {
  case $profile in
  k8s)
    node kwok-cloud-0 amd64 8 32Gi '{"node-role.kubernetes.io/worker":""}' '[]' "10.255.$idx.10"
    node kwok-edge-0 arm64 4 8Gi '{"node-role.kubernetes.io/edge":"","node-role.kubernetes.io/agent":"","apps.kubeedge.io/belonging-to":"edge-group-a"}' \
      '[{"key":"node-role.kubernetes.io/edge","effect":"NoSchedule"}]' "10.255.$idx.20"
    ;;
  k3s)
    node k3s-server-0 amd64 4 16Gi '{"node-role.kubernetes.io/control-plane":"true","node-role.kubernetes.io/master":"true","node.kubernetes.io/instance-type":"k3s","k3s.io/hostname":"k3s-server-0","k3s.io/internal-ip":"10.255.'$idx'.10"}' '[]' "10.255.$idx.10"
    node k3s-agent-0 arm64 4 8Gi '{"node.kubernetes.io/instance-type":"k3s","k3s.io/hostname":"k3s-agent-0","k3s.io/internal-ip":"10.255.'$idx'.11"}' '[]' "10.255.$idx.11"
    ;;
  none) ;;
  *) die "unknown profile $profile" ;;
  esac
}

up() {
  name=$1 idx=$2 profile=${3:-k8s}
  [[ $idx =~ ^[0-9]+$ ]] && ((idx < 50)) || die "INDEX must be 0..49"
  dir=$root/$name run_dir=$root/$name
  if [ -d "$dir" ]; then
    local ok=1 p
    for p in etcd kube-apiserver kube-controller-manager kube-scheduler; do alive "$dir/$p.pid" || ok=0; done
    if ((ok)); then echo "testbed: site $name already up" >&2; echo "$dir/admin.kubeconfig"; return; fi
    down "$name"
  fi
  local t0=$SECONDS
  local bin=${EDGEMEC_TESTBED_BIN:-$(bash "$here/build.sh" | tail -n 1)}
  [ -x "$bin/kube-apiserver" ] || die "no binaries in $bin"
  # One block of 10 ports per site: 24000 + 10*INDEX. The block is owned through a lock on
  # /run/lock/edgemec-testbed-INDEX.lock: the daemons below inherit its descriptor, so the
  # lock is held exactly as long as any of them lives, and a second test bed on this machine
  # that wants the same index (another `make test`, the demo, a benchmark) stops here with
  # the owner's name instead of racing for the ports.
  local base=$((24000 + 10 * idx))
  local lock=/run/lock/edgemec-testbed-$idx.lock
  # The lock file is left for every user (a user without root runs the demo's kwok sites
  # too): made writable by all, and opened read-only (enough for flock) when another user
  # made it before that.
  if [ -w "$lock" ] || [ ! -e "$lock" ]; then
    exec 9<>"$lock"
    chmod 666 "$lock" 2>/dev/null || true
  else
    exec 9<"$lock"
  fi
  flock -n 9 || die "site index $idx (ports $base-$((base + 9))) is held by another test bed on this machine: $(cat "$lock" 2>/dev/null)"
  [ ! -w "$lock" ] || printf '%s (%s, pid %s)\n' "$name" "$dir" "$$" >"$lock"
  local port_etcd=$base port_peer=$((base + 1)) port_cm=$((base + 3)) port_sched=$((base + 4)) port_kwok=$((base + 5))
  port_api=$((base + 2))
  local p
  for p in $port_etcd $port_peer $port_api $port_cm $port_sched $port_kwok; do
    ! ss -Hltn "sport = :$p" | grep -q . || die "port $p is in use (site index $idx)"
  done
  mkdir -p "$dir"
  local shm
  shm=$(mktemp -d "/dev/shm/edgemec-testbed-$name.XXXXXX")
  echo "$shm" >"$dir/shm"
  pki
  local pk=$dir/pki kc=$dir/admin.kubeconfig

  # 1. etcd on tmpfs.
  start etcd "$bin/etcd" --name "$name" --data-dir "$shm/etcd" \
    --listen-client-urls "http://127.0.0.1:$port_etcd" --advertise-client-urls "http://127.0.0.1:$port_etcd" \
    --listen-peer-urls "http://127.0.0.1:$port_peer" --initial-advertise-peer-urls "http://127.0.0.1:$port_peer" \
    --initial-cluster "$name=http://127.0.0.1:$port_peer" --log-level warn
  wait_for etcd "http://127.0.0.1:$port_etcd/health"

  # 2. kube-apiserver. --endpoint-reconciler-type=none is required with a loopback advertise
  # address (k8s-testbed.md G1).
  start kube-apiserver "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$port_etcd" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$port_api" \
    --endpoint-reconciler-type=none \
    --tls-cert-file="$pk/apiserver.crt" --tls-private-key-file="$pk/apiserver.key" --client-ca-file="$pk/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pk/sa.pub" --service-account-signing-key-file="$pk/sa.key" \
    --service-cluster-ip-range=10.0.0.0/16 --authorization-mode=Node,RBAC --allow-privileged=true \
    --kubelet-client-certificate="$pk/admin.crt" --kubelet-client-key="$pk/admin.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --enable-admission-plugins=NodeRestriction,ResourceQuota
  wait_for kube-apiserver "https://127.0.0.1:$port_api/readyz" --cacert "$pk/ca.crt" --cert "$pk/admin.crt" --key "$pk/admin.key"

  # 3. controller-manager and scheduler, with client rate limits raised from the defaults
  # (20 and 50 QPS), which otherwise dominate deploy → Running when many instances start at once.
  # A node the node lifecycle controller marks Unknown has its pods marked NotReady, for good on
  # a kwok node (kwok's pod-ready stage runs for Pending pods only); kwok renews each node's
  # Lease (step 4), and a longer node-monitor grace keeps a renewal that runs late on a loaded
  # 2-core machine from doing it. Tests that need NotReady nodes use kwok's chaos stage.
  start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$kc" \
    --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --bind-address=127.0.0.1 --secure-port="$port_cm" --leader-elect=false \
    --service-account-private-key-file="$pk/sa.key" --root-ca-file="$pk/ca.crt" --use-service-account-credentials=true \
    --kube-api-qps=200 --kube-api-burst=400 --concurrent-deployment-syncs=20 --concurrent-replicaset-syncs=20 \
    --node-monitor-grace-period=3m
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$kc" \
    --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --bind-address=127.0.0.1 --secure-port="$port_sched" --leader-elect=false --kube-api-qps=200 --kube-api-burst=400
  wait_for kube-controller-manager "https://127.0.0.1:$port_cm/healthz" -k
  wait_for kube-scheduler "https://127.0.0.1:$port_sched/readyz" -k

  # 4. kwok with the stages it needs (v0.8.0 has none built in, G2), read from the module cache,
  # plus the project's own image-pull-failure stage. --node-lease-duration-seconds makes kwok
  # hold and renew each node's Lease in kube-node-lease, the heartbeat the node lifecycle
  # controller reads: without it (kwok's default), the heartbeat stage posts node status every
  # 10-20 min only, every node went Unknown once per grace period and the pods running on it
  # NotReady for good.
  if [ "$profile" != none ]; then
    local kdir
    kdir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@v$(. "$here/versions.env"; echo "$KWOK")" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    local s=$kdir/kustomize/stage f
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
      node/chaos/node-not-ready.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      cat "$s/$f"; echo "---"
    done >"$dir/kwok-stages.yaml"
    cat "$here/kwok/pod-image-pull-failed.yaml" >>"$dir/kwok-stages.yaml"
    start kwok "$bin/kwok" --kubeconfig="$kc" --config="$dir/kwok-stages.yaml" \
      --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
      --cidr="10.$((100 + idx)).0.0/16" --node-ip="10.255.$idx.1" --server-address="127.0.0.1:$port_kwok" \
      --node-lease-duration-seconds=40
    wait_for kwok "http://127.0.0.1:$port_kwok/healthz"
    nodes
  fi

  # 5. Wait for the nodes to be Ready and for the ServiceAccount controller to have made the
  # `default` ServiceAccount (pods cannot be admitted before it, G5).
  local deadline=$((SECONDS + 60)) want=0
  [ "$profile" = none ] || want=2
  until [ "$(kapi GET /api/v1/nodes | tr -d ' \n' | grep -o '"type":"Ready","status":"True"' | wc -l)" -ge "$want" ] &&
    kapi GET /api/v1/namespaces/default/serviceaccounts/default -o /dev/null 2>/dev/null; do
    for p in "${procs[@]}"; do
      [ "$p" = kwok ] && [ "$profile" = none ] && continue
      alive "$dir/$p.pid" || die "$p exited (log: $dir/$p.log)"
    done
    ((SECONDS < deadline)) || die "site $name: nodes not Ready after 60 s"
    sleep 0.2
  done

  cat >"$dir/env" <<EOF
KUBECONFIG=$kc
EDGEMEC_SITE_NAME=$name
EDGEMEC_SITE_APISERVER=https://127.0.0.1:$port_api
EDGEMEC_TESTBED_BIN=$bin
EOF
  echo "testbed: site $name ($profile) up in $((SECONDS - t0)) s: apiserver https://127.0.0.1:$port_api" >&2
  echo "$kc"
}

case ${1:-} in
up) shift; [ $# -ge 2 ] || die "usage: site.sh up NAME INDEX [k8s|k3s|none]"; up "$@" ;;
down) shift; [ $# -eq 1 ] || die "usage: site.sh down NAME"; down "$1" ;;
*) die "usage: site.sh up NAME INDEX [k8s|k3s|none] | down NAME" ;;
esac
