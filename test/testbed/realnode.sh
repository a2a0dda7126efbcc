#!/usr/bin/env bash
# realnode.sh joins a real node to a test-bed site: containerd + runc from Debian, a CNI
# bridge, the kubelet and kube-proxy (nftables mode) built by build.sh, and locally built
# images (no registry is reachable): local/pause:dev as the sandbox image and
# local/mecapp:dev, the sample MEC app (test/tools/mecapp). Apps deployed on the site then
# really run, in runc containers, and can call a MEP on the host.
#
#   realnode.sh up SITE     join node realnode-0 to SITE (started with `site.sh up SITE N none`);
#                           prints the path of an env file on the last line of stdout
#   realnode.sh down SITE   drain, stop and remove everything the node put on the host
#
# Root only: it touches host networking, mounts, cgroups and sysctls, and undoes all of it on
# down (also at the start of up, for the leftovers of a run that was killed). There is one real
# node per machine. Recipe and measurements: ../shared/notes/real-node.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
root=${EDGEMEC_TESTBED_DIR:-/tmp/edgemec-testbed}
node=realnode-0
bridge=rn-cni0
pod_cidr=10.89.0.0/24
gateway=10.89.0.1
sysctls=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward)

tb_name=realnode
# shellcheck source=lib.sh
. "$here/lib.sh"

site_env() {
  dir=$root/$1
  [ -f "$dir/env" ] || die "site $1 is not up (no $dir/env)"
  # shellcheck source=/dev/null
  . "$dir/env"
  port_api=${EDGEMEC_SITE_APISERVER##*:}
  rn=$dir/realnode run_dir=$dir/realnode
  kc=$dir/admin.kubeconfig
}

host_ip() {
  local ip
  ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1)
  [ -n "$ip" ] || ip=$(ip -4 -o addr show scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}')
  [ -n "$ip" ] || die "no global IPv4 address for the node"
  echo "$ip"
}

pki() {
  local d=$dir/pki ip=$1
  (
    cd "$d"
    cat >node-ext.cnf <<EOF
[cli]
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
[srv]
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:$ip,DNS:$node,DNS:localhost
EOF
    openssl ecparam -name prime256v1 -genkey -noout -out node.key
    openssl req -new -key node.key -subj "/CN=system:node:$node/O=system:nodes" 2>/dev/null |
      openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile node-ext.cnf -extensions cli -out node.crt 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out kubelet.key
    openssl req -new -key kubelet.key -subj "/CN=$node" 2>/dev/null |
      openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile node-ext.cnf -extensions srv -out kubelet.crt 2>/dev/null
  )
  sed -e "s|client-certificate-data: .*|client-certificate-data: $(base64 -w0 <"$d/node.crt")|" \
    -e "s|client-key-data: .*|client-key-data: $(base64 -w0 <"$d/node.key")|" -e "s|name: admin|name: $node|" \
    -e "s|user: admin|user: $node|" "$kc" >"$rn/node.kubeconfig"
}

# images builds the sandbox image and the sample app image from the project's own Go code.
images() {
  local img=$rn/img
  mkdir -p "$img"
  (
    cd "$repo"
    export CGO_ENABLED=0
    go build -trimpath -ldflags "-s -w" -o "$img/" ./test/tools/pause ./test/tools/mecapp
    go build -o "$img/mkimage" ./internal/tools/mkimage
  )
  "$img/mkimage" -ref local/pause:dev -out "$img/pause.tar" "$img/pause"
  "$img/mkimage" -ref local/mecapp:dev -out "$img/mecapp.tar" -port 8080/tcp -user 65534 "$img/mecapp"
}

containerd_up() {
  mkdir -p "$rn/containerd/root" "$rn/cni/net.d" "$rn/cni/ipam"
  containerd config default |
    sed -e "s|^root = .*|root = \"$rn/containerd/root\"|" \
      -e 's|restrict_oom_score_adj = false|restrict_oom_score_adj = true|' \
      -e 's|sandbox_image = .*|sandbox_image = "local/pause:dev"|' \
      -e 's|bin_dir = "/opt/cni/bin"|bin_dir = "/usr/lib/cni"|' \
      -e "s|conf_dir = \"/etc/cni/net.d\"|conf_dir = \"$rn/cni/net.d\"|" >"$rn/containerd.toml"
  # restrict_oom_score_adj: this VM lacks CAP_SYS_RESOURCE, so runc cannot lower a sandbox's
  # oom_score_adj to -998 (real-node.md B1).
  grep -q 'restrict_oom_score_adj = true' "$rn/containerd.toml" || die "containerd config: restrict_oom_score_adj not set"
  cat >"$rn/cni/net.d/10-realnode.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "realnode", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$rn/cni/ipam", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  start containerd containerd --config "$rn/containerd.toml"
  wait_until containerd 30 ctr version
  local t
  for t in pause mecapp; do ctr -n k8s.io images import "$rn/img/$t.tar" >/dev/null; done
}

kubelet_up() {
  local ip=$1
  mkdir -p "$rn/kubelet"
  cat >"$rn/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $dir/pki/ca.crt}}
authorization: {mode: Webhook}
tlsCertFile: $dir/pki/kubelet.crt
tlsPrivateKeyFile: $dir/pki/kubelet.key
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
clusterDomain: cluster.local
clusterDNS: [10.0.0.10]
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
maxPods: 30
EOF
  # failCgroupV1: false — this host only has cgroup v1 (real-node.md G1).
  start kubelet "$EDGEMEC_TESTBED_BIN/kubelet" --config="$rn/kubelet.yaml" --kubeconfig="$rn/node.kubeconfig" \
    --root-dir="$rn/kubelet" --hostname-override="$node" --node-ip="$ip" --v=1
  wait_until kubelet 60 node_ready
  cat >"$rn/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $kc}
mode: nftables
clusterCIDR: $pod_cidr
hostnameOverride: $node
conntrack: {maxPerCore: 0}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
nodePortAddresses: [primary]
EOF
  start kube-proxy "$EDGEMEC_TESTBED_BIN/kube-proxy" --config="$rn/kube-proxy.yaml"
  wait_until kube-proxy 30 curl -sf --max-time 2 http://127.0.0.1:10256/healthz
}

node_ready() {
  kapi GET "/api/v1/nodes/$node" | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'
}

up() {
  [ "$(id -u)" = 0 ] || die "the real node needs root"
  local c
  for c in containerd runc ctr nft iptables openssl; do command -v "$c" >/dev/null || die "$c not installed (test/deps.d/realnode.txt)"; done
  [ -x /usr/lib/cni/bridge ] || die "CNI plugins not installed in /usr/lib/cni"
  site_env "$1"
  [ -x "$EDGEMEC_TESTBED_BIN/kubelet" ] && [ -x "$EDGEMEC_TESTBED_BIN/kube-proxy" ] || die "no kubelet/kube-proxy in $EDGEMEC_TESTBED_BIN"
  ! ss -Hltn 'sport = :10250' | grep -q . || die "port 10250 is in use: another kubelet runs on this machine"
  cleanup_host
  local t0=$SECONDS ip s
  ip=$(host_ip)
  mkdir -p "$rn"
  for s in "${sysctls[@]}"; do echo "$s=$(sysctl -n "$s")"; done >"$rn/sysctls"
  # Everything up to here is undone by down, also when a later step fails.
  trap 'echo "realnode: up failed; tearing down" >&2; down_dir' ERR
  pki "$ip"
  images
  containerd_up
  kubelet_up "$ip"
  trap - ERR
  cat >"$rn/env" <<EOF
EDGEMEC_TESTBED_REALNODE=$node
EDGEMEC_TESTBED_REALNODE_KUBECONFIG=$kc
EDGEMEC_TESTBED_REALNODE_HOST_IP=$gateway
EDGEMEC_TESTBED_REALNODE_NODE_IP=$ip
EDGEMEC_TESTBED_REALNODE_APP_IMAGE=local/mecapp:dev
EOF
  echo "realnode: $node Ready on site $1 in $((SECONDS - t0)) s (node IP $ip, pods $pod_cidr, host reachable from pods at $gateway)" >&2
  echo "$rn/env"
}

down() {
  site_env "$1" 2>/dev/null || { dir=$root/$1; rn=$dir/realnode; }
  down_dir
}

down_dir() {
  trap - ERR
  local -
  set +e
  [ -d "$rn" ] || { cleanup_host; return 0; }
  # 1. Drain through the API while the kubelet still runs, so pods go through CRI (CNI DEL,
  # unmounts); bounded, since the control plane may already be gone.
  if alive "$rn/kubelet.pid" && [ -n "${port_api:-}" ] && kapi GET /readyz -o /dev/null 2>/dev/null; then
    local ns deadline=$((SECONDS + 20))
    for ns in $(kapi GET /api/v1/pods | grep -o '"namespace": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' | sort -u); do
      kapi DELETE "/api/v1/namespaces/$ns/pods?gracePeriodSeconds=1" -o /dev/null 2>/dev/null
    done
    while ((SECONDS < deadline)); do
      [ -z "$(ls /run/netns 2>/dev/null | grep '^cni-')" ] && ! kapi GET "/api/v1/pods?fieldSelector=spec.nodeName=$node" | grep -q '"kind": *"Pod"' && break
      sleep 0.3
    done
  fi
  # 2. Stop the daemons; kill whatever task is left, then containerd (shims exit with their tasks).
  stop_pid "$rn/kube-proxy.pid" 50
  stop_pid "$rn/kubelet.pid" 50
  if alive "$rn/containerd.pid"; then
    local t
    for t in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do
      ctr -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1; sleep 0.1
      ctr -n k8s.io tasks rm -f "$t" >/dev/null 2>&1; ctr -n k8s.io containers rm "$t" >/dev/null 2>&1
    done
  fi
  stop_pid "$rn/containerd.pid" 50
  pkill -KILL -f "containerd-shim-runc-v2 .*-namespace k8s.io" 2>/dev/null
  cleanup_host
  # Restore the sysctls the kubelet and the bridge plugin changed (real-node.md G5).
  if [ -f "$rn/sysctls" ]; then
    local kv
    while read -r kv; do sysctl -qw "$kv" >/dev/null; done <"$rn/sysctls"
  fi
  rm -rf "$rn"
  echo "realnode: down" >&2
}

# cleanup_host removes what a real node leaves outside its directory: mounts, network
# namespaces, the bridge, packet-filter chains and tables, cgroups and state directories.
cleanup_host() {
  local - m
  set +e
  # Deepest mounts first.
  for m in $(awk '{print $2}' /proc/self/mounts | grep -E '^(/run/netns|/run/containerd|/var/lib/kubelet|'"${rn:-/nonexistent}"')' | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  rm -rf /run/netns/cni-* /run/containerd /var/lib/kubelet /var/log/pods /var/log/containers 2>/dev/null
  rm -rf /var/lib/cni/results/realnode-* /var/lib/cni/results/cni-loopback-* 2>/dev/null
  ip link del "$bridge" 2>/dev/null
  nft delete table ip kube-proxy 2>/dev/null
  nft delete table ip6 kube-proxy 2>/dev/null
  local ipt t line chain
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for t in filter nat mangle; do
      "$ipt" -t "$t" -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' | sed 's/^-A/-D/' |
        while read -r line; do eval "$ipt -t $t $line" 2>/dev/null; done
      for chain in $("$ipt" -t "$t" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[A-Z0-9-]*\)$/\1/p'); do
        "$ipt" -t "$t" -F "$chain" 2>/dev/null
      done
      for chain in $("$ipt" -t "$t" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[A-Z0-9-]*\)$/\1/p'); do
        "$ipt" -t "$t" -X "$chain" 2>/dev/null
      done
    done
  done
  local cg d
  for cg in /sys/fs/cgroup/*/; do
    for d in kubepods k8s.io; do
      [ -d "$cg$d" ] && find "$cg$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
  done
  return 0
}

case ${1:-} in
up) shift; [ $# -eq 1 ] || die "usage: realnode.sh up SITE"; up "$1" ;;
down) shift; [ $# -eq 1 ] || die "usage: realnode.sh down SITE"; down "$1" ;;
*) die "usage: realnode.sh up SITE | down SITE" ;;
esac
