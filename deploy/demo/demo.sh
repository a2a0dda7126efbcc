#!/usr/bin/env bash
# demo.sh (make demo): starts one edge site — MEP on loopback, and (as root) the UPGW with its
# XDP data plane on an N3 path in network namespaces — and walks an app through it:
# provisioning over Mm5, OAuth token, confirm_ready, service registration and discovery, a
# subscriber notified, the DNS rule answered by the site DNS server, the traffic rule followed
# by the UPGW, a UE's packet broken out to the app and the reply tunnelled back to the gNB,
# and graceful termination. As root, it also runs an app for real: the site's Kubernetes (its own
# control plane and a real node: kubelet, containerd, runc) gets the sample app through the
# Kubernetes VIM adapter, and the container takes its Mp1 token, confirms ready, registers its
# service and is terminated gracefully. That part needs the test bed's binaries (built once,
# ≈ 20 min, cached): it runs when they are cached, DEMO_REALNODE=1 builds them first,
# DEMO_REALNODE=0 leaves it out. KEEP=1 leaves the MEP running afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/deps.sh
work=$(mktemp -d /tmp/edgemec-demo.XXXXXX)
http_port=${HTTP_PORT:-18080}; dns_port=${DNS_PORT:-15353}
root="http://127.0.0.1:$http_port"
op=demo-operator-token
go build -o "$work/mep" ./cmd/mep
go build -o "$work/notifysink" ./test/tools/notifysink
if [ "$(id -u)" = 0 ]; then with_upgw=1; go build -o "$work/upgw" ./cmd/upgw; go build -o "$work/uesim" ./test/tools/uesim; fi
mep_addr=127.0.0.1
if [ "$(id -u)" = 0 ] && [ "${DEMO_REALNODE:-}" != 0 ] && { [ "${DEMO_REALNODE:-}" = 1 ] || bash test/testbed/build.sh --check >/dev/null; }; then
  # The site's Kubernetes with a real node comes up in the background while the MEP starts.
  with_realnode=1
  export EDGEMEC_TESTBED_DIR=$work/testbed
  go build -o "$work/vimctl" ./test/tools/vimctl
  ( bash test/testbed/site.sh up demo-k8s 3 none && bash test/testbed/realnode.sh up demo-k8s ) > "$work/realnode.out" 2> "$work/realnode.log" &
  realnode_pid=$!
  mep_addr=0.0.0.0   # the app's container reaches the MEP through the node's CNI bridge
fi
"$work/mep" --http-addr "$mep_addr:$http_port" --api-root "$root" --dns-addr "127.0.0.1:$dns_port" --data-dir "$work/data" \
  --operator-token "$op" --dns-upstream 127.0.0.1:1 --log-level warn > "$work/mep.log" 2>&1 &
mep_pid=$!
cleanup() {
  cleanup_upgw
  if [ -n "${with_realnode:-}" ]; then
    wait "$realnode_pid" 2>/dev/null
    bash test/testbed/realnode.sh down demo-k8s 2>/dev/null; bash test/testbed/site.sh down demo-k8s 2>/dev/null
  fi
  [ -n "${KEEP:-}" ] || { kill "$mep_pid" 2>/dev/null; wait "$mep_pid" 2>/dev/null; rm -rf "$work"; }
  kill "${sink_pid:-0}" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "$root/readyz" >/dev/null && break; kill -0 "$mep_pid" || { cat "$work/mep.log"; exit 1; }; sleep 0.1; done

upgw_port=$((http_port + 10))
ns=dm$$   # namespace prefix, unique per run
if [ -n "${with_upgw:-}" ]; then
  # N3 path in network namespaces: gNB and UPF on one subnet through the UPGW (a bump in the
  # wire whose ports live in this namespace), and the local app behind it.
  for n in gnb upf app; do ip netns add "$ns-$n"; ip -n "$ns-$n" link set lo up; done
  ip link add "${ns}n3g" type veth peer name g0 netns "$ns-gnb"
  ip link add "${ns}n3u" type veth peer name u0 netns "$ns-upf"
  ip link add "${ns}app" type veth peer name a0 netns "$ns-app"
  ip -n "$ns-gnb" addr add 10.0.0.1/24 dev g0
  ip -n "$ns-upf" addr add 10.0.0.2/24 dev u0
  ip -n "$ns-app" addr add 192.0.2.10/24 dev a0
  ip addr add 192.0.2.1/24 dev "${ns}app"
  for l in "${ns}n3g" "${ns}n3u" "${ns}app"; do ip link set "$l" up; done
  for p in "gnb g0" "upf u0" "app a0"; do set -- $p; ip -n "$ns-$1" link set "$2" up; ip netns exec "$ns-$1" ethtool -K "$2" gro on >/dev/null; done
  mac() { ip -n "$ns-$1" -br link show "$2" | awk '{print $3}'; }
  ip -n "$ns-gnb" neigh add 10.0.0.2 lladdr "$(mac upf u0)" dev g0
  ip -n "$ns-upf" neigh add 10.0.0.1 lladdr "$(mac gnb g0)" dev u0
  ip -n "$ns-app" route add 10.60.0.0/16 via 192.0.2.1
  "$work/upgw" --gnb-if "${ns}n3g" --upf-if "${ns}n3u" --app "${ns}app,$(mac app a0),192.0.2.10/32" \
    --mep-url "$root" --mep-token "$op" --feed-timeout 5s --listen "127.0.0.1:$upgw_port" --log-level warn > "$work/upgw.log" 2>&1 &
  upgw_pid=$!
  ip netns exec "$ns-app" "$work/uesim" echo -listen :8080 > "$work/app.log" 2>&1 &
  app_pid=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$upgw_port/upgw/v1/status" >/dev/null && break; kill -0 "$upgw_pid" || { cat "$work/upgw.log"; exit 1; }; sleep 0.1; done
fi
cleanup_upgw() {
  [ -n "${with_upgw:-}" ] || return 0
  kill "${upgw_pid:-0}" "${app_pid:-0}" 2>/dev/null; wait "${upgw_pid:-0}" 2>/dev/null || true
  for n in gnb upf app; do ip netns del "$ns-$n" 2>/dev/null; done
  ip link del "${ns}app" 2>/dev/null || true
}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
api() { local tok=$1; shift; curl -sS -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' "$@"; echo; }

step "1. The orchestrator provisions app instance 'video-cache' over Mm5 (AppD rules included)"
rec=$(api "$op" -X PUT "$root/mepm/v1/app_instances/video-cache" -d '{
  "appName": "video-cache", "appProvider": "acme", "appDId": "appd-video-cache-1",
  "appTrafficRule": [{"trafficRuleId": "ue-to-cache", "filterType": "FLOW", "priority": 1, "action": "FORWARD_DECAPSULATED",
    "trafficFilter": [{"dstAddress": ["192.0.2.10/32"], "protocol": ["UDP"], "dstPort": ["8080"]}],
    "dstInterface": [{"interfaceType": "IP", "dstIpAddress": "192.0.2.10"}]}],
  "appDNSRule": [{"dnsRuleId": "cache-name", "domainName": "cache.video.mec", "ipAddressType": "IP_V4", "ipAddress": "192.0.2.10", "ttl": 30}]}')
echo "$rec" | jq '{appInstanceId, state, credentials}'
secret=$(echo "$rec" | jq -r .credentials.clientSecret)
api "$op" -X PUT "$root/mepm/v1/app_instances/player" -d '{"appName":"player","appProvider":"acme","appDId":"appd-player-1",
  "appServiceRequired":[{"serName":"video-cache","version":"1.0"}]}' | jq -c '{appInstanceId, state}'
player_secret=$(api "$op" "$root/mepm/v1/app_instances/player" | jq -r .credentials.clientSecret)

step "2. Each app gets an Mp1 token (OAuth 2.0 client credentials)"
tok=$(curl -sS -u "video-cache:$secret" -d grant_type=client_credentials "$root/oauth2/token" | jq -r .access_token)
ptok=$(curl -sS -u "player:$player_secret" -d grant_type=client_credentials "$root/oauth2/token" | jq -r .access_token)
echo "video-cache token: ${tok:0:24}…   player token: ${ptok:0:24}…"

step "3. video-cache confirms it is ready"
api "$tok" -X POST "$root/mec_app_support/v1/applications/video-cache/confirm_ready" -d '{"indication":"READY"}' -o /dev/null -w 'HTTP %{http_code}\n'

step "4. player subscribes to service availability (callback: a local sink)"
sink_port=$((http_port + 1))
"$work/notifysink" -addr "127.0.0.1:$sink_port" -out "$work/notifications.jsonl" & sink_pid=$!
api "$ptok" -X POST "$root/mec_service_mgmt/v1/applications/player/subscriptions" -d "{
  \"subscriptionType\": \"SerAvailabilityNotificationSubscription\", \"callbackReference\": \"http://127.0.0.1:$sink_port/notify\",
  \"filteringCriteria\": {\"serNames\": [\"video-cache\"]}}" | jq -c '{self: ._links.self.href}'

step "5. video-cache registers its service"
api "$tok" -X POST "$root/mec_service_mgmt/v1/applications/video-cache/services" -d '{
  "serName": "video-cache", "version": "1.0", "state": "ACTIVE", "serializer": "JSON", "transportId": "rest-http"}' |
  jq -c '{serInstanceId, serName, state, self: ._links.self.href}'

step "6. player was notified (ServiceAvailabilityNotification ADDED)"
for _ in $(seq 50); do [ -s "$work/notifications.jsonl" ] && break; sleep 0.1; done
jq -c '{notificationType, ref: .serviceReferences[0] | {serName, changeType, state}}' "$work/notifications.jsonl"

step "7. player discovers it"
api "$ptok" "$root/mec_service_mgmt/v1/services?ser_name=video-cache" | jq -c '.[] | {serInstanceId, serName, state}'

step "8. The site DNS answers the app's DNS rule"
dig +short @127.0.0.1 -p "$dns_port" cache.video.mec A

step "9. The UPGW's traffic-rule feed (what the data plane enforces)"
api "$op" "$root/mepm/v1/feeds/traffic_rules" | jq -c '{version, rules: [.rules[] | {appInstanceId, id: .trafficRule.trafficRuleId, action: .trafficRule.action, state: .trafficRule.state}]}'

if [ -n "${with_upgw:-}" ]; then
  step "10. The UPGW follows that feed into its XDP data plane"
  for _ in $(seq 100); do
    st=$(curl -s "127.0.0.1:$upgw_port/upgw/v1/status"); [ "$(echo "$st" | jq .activeRules)" = 1 ] && break; sleep 0.1
  done
  echo "$st" | jq -c '{ruleSetVersion, ruleSetSource, activeRules, rejectedRules, feedConnected: .feed.connected}'

  step "11. A UE's packet is broken out to the local app; the reply goes back in the UE's tunnel"
  ip netns exec "$ns-upf" "$work/uesim" dl -gnb 10.0.0.1 -teid 0x1001 -qfi 9 -ue 10.60.0.5   # the UPGW learns the downlink tunnel
  ip netns exec "$ns-gnb" "$work/uesim" ul -upf 10.0.0.2 -teid 0x100 -qfi 9 -ue 10.60.0.5 -dst 198.51.100.7:443 -msg "to the internet" -wait 0.3s 2>/dev/null || true
  echo "  → no rule matches: passed through to the UPF untouched (path ul_pass below)"
  ip netns exec "$ns-gnb" "$work/uesim" ul -upf 10.0.0.2 -teid 0x100 -qfi 9 -ue 10.60.0.5 -dst 192.0.2.10:8080 -msg "GET /video/segment-1"
  sed 's/^/  (app) /' "$work/app.log"
  curl -s "127.0.0.1:$upgw_port/upgw/v1/counters/paths" | jq -c '[.[] | select(.packets > 0) | {path, packets}]'
else
  step "10–11. (run as root to add the UPGW: XDP local breakout in network namespaces)"
fi

if [ -n "${with_realnode:-}" ]; then
  step "12. The site's Kubernetes — its own control plane and a real node (kubelet, containerd, runc)"
  wait "$realnode_pid" || { tail -n 30 "$work/realnode.log"; exit 1; }
  grep -h '^realnode: .* Ready' "$work/realnode.log" | sed 's/^/  /'
  set -a; . "$(tail -n 1 "$work/realnode.out")"; set +a

  step "13. The orchestrator provisions 'mecapp' over Mm5 and deploys it through the Kubernetes VIM adapter"
  msecret=$(api "$op" -X PUT "$root/mepm/v1/app_instances/mecapp" -d '{"appName":"mecapp","appProvider":"acme","appDId":"appd-mecapp-1"}' | jq -r .credentials.clientSecret)
  st=$(MEC_CLIENT_SECRET=$msecret "$work/vimctl" -kubeconfig "$EDGEMEC_TESTBED_REALNODE_KUBECONFIG" deploy -id mecapp -appd appd-mecapp-1 \
    -manifests test/tools/mecapp/deploy.yaml -image "$EDGEMEC_TESTBED_REALNODE_APP_IMAGE" \
    -mep "http://$EDGEMEC_TESTBED_REALNODE_HOST_IP:$http_port" -client-id mecapp)
  echo "$st" | jq -c '{phase, nodes, ready, endpoints: [.endpoints[] | {kind, address, port}]}'
  pod_ip=$(echo "$st" | jq -r '.endpoints[] | select(.kind == "Pod") | .address')

  step "14. In its container, the app took a token, confirmed ready, subscribed and registered its service"
  curl -sS "http://$pod_ip:8080/status" | jq -c '{hostname, readyConfirmed, serviceId, subscriptionId}'
  echo "the site's registry lists it (operator view):"
  api "$op" "$root/mec_service_mgmt/v1/services?ser_name=mec-sample" | jq -c '.[] | {serName, state, uris: .transportInfo.endpoint.uris}'
  echo "and reaches it: $(curl -sS "http://$pod_ip:8080/")"

  step "15. Graceful termination of mecapp: notified in its container, confirmed, removed from the site"
  api "$op" -X DELETE "$root/mepm/v1/app_instances/mecapp" -o /dev/null -w 'Mm5 DELETE: HTTP %{http_code}\n'
  for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $op" "$root/mepm/v1/app_instances/mecapp")" = 404 ] && break; sleep 0.1; done
  curl -sS "http://$pod_ip:8080/status" | jq -c '{terminationNotified, terminationConfirmed}'
  "$work/vimctl" -kubeconfig "$EDGEMEC_TESTBED_REALNODE_KUBECONFIG" terminate -id mecapp | jq -c .
elif [ "$(id -u)" = 0 ]; then
  step "12–15. (the real-node part needs the test bed's binaries: run DEMO_REALNODE=1 make demo to build them once, ≈ 20 min)"
fi

step "16. The orchestrator terminates video-cache (graceful, no subscriber → at once)"
api "$op" -X DELETE "$root/mepm/v1/app_instances/video-cache" -o /dev/null -w 'HTTP %{http_code}\n'
for _ in $(seq 50); do [ "$(wc -l < "$work/notifications.jsonl")" -ge 2 ] && break; sleep 0.1; done
echo "player was notified: $(tail -1 "$work/notifications.jsonl" | jq -c '.serviceReferences[0] | {serName, changeType}')"
echo "services named video-cache now: $(api "$op" "$root/mec_service_mgmt/v1/services?ser_name=video-cache" | jq length)"
if [ -n "${with_upgw:-}" ]; then
  for _ in $(seq 100); do [ "$(curl -s "127.0.0.1:$upgw_port/upgw/v1/status" | jq .activeRules)" = 0 ] && break; sleep 0.1; done
  echo "UPGW active rules now: $(curl -s "127.0.0.1:$upgw_port/upgw/v1/status" | jq -c '{ruleSetVersion, activeRules}')"
fi
echo "cache.video.mec now: $(dig +short @127.0.0.1 -p "$dns_port" cache.video.mec A | head -1) (forwarded; no upstream in the demo)"

printf '\nMEP: %s (operator token %s), DNS: 127.0.0.1:%s, metrics: %s/metrics\n' "$root" "$op" "$dns_port" "$root"
[ -z "${with_upgw:-}" ] || printf 'UPGW control API: http://127.0.0.1:%s/upgw/v1/status\n' "$upgw_port"
if [ -n "${KEEP:-}" ]; then echo "KEEP=1: MEP left running as pid $mep_pid, data in $work"; fi
