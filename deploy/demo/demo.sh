#!/usr/bin/env bash
# demo.sh (make demo): starts one edge site's MEP on loopback and walks an app through it —
# provisioning over Mm5, OAuth token, confirm_ready, service registration and discovery, a
# subscriber notified, the DNS rule answered by the site DNS server, a traffic-rule change seen
# on the UPGW feed, and graceful termination. KEEP=1 leaves the MEP running afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/deps.sh
work=$(mktemp -d /tmp/edgemec-demo.XXXXXX)
http_port=${HTTP_PORT:-18080}; dns_port=${DNS_PORT:-15353}
root="http://127.0.0.1:$http_port"
op=demo-operator-token
go build -o "$work/mep" ./cmd/mep
go build -o "$work/notifysink" ./test/tools/notifysink
"$work/mep" --http-addr "127.0.0.1:$http_port" --dns-addr "127.0.0.1:$dns_port" --data-dir "$work/data" \
  --operator-token "$op" --dns-upstream 127.0.0.1:1 --log-level warn > "$work/mep.log" 2>&1 &
mep_pid=$!
cleanup() { [ -n "${KEEP:-}" ] || { kill "$mep_pid" 2>/dev/null; wait "$mep_pid" 2>/dev/null; rm -rf "$work"; }; kill "${sink_pid:-0}" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "$root/readyz" >/dev/null && break; kill -0 "$mep_pid" || { cat "$work/mep.log"; exit 1; }; sleep 0.1; done

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
api() { local tok=$1; shift; curl -sS -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' "$@"; echo; }

step "1. The orchestrator provisions app instance 'video-cache' over Mm5 (AppD rules included)"
rec=$(api "$op" -X PUT "$root/mepm/v1/app_instances/video-cache" -d '{
  "appName": "video-cache", "appProvider": "acme", "appDId": "appd-video-cache-1",
  "appTrafficRule": [{"trafficRuleId": "ue-to-cache", "filterType": "FLOW", "priority": 1, "action": "FORWARD_DECAPSULATED",
    "trafficFilter": [{"dstAddress": ["10.60.0.10/32"], "protocol": ["TCP"], "dstPort": ["80"]}],
    "dstInterface": [{"interfaceType": "IP", "dstIpAddress": "10.60.0.10"}]}],
  "appDNSRule": [{"dnsRuleId": "cache-name", "domainName": "cache.video.mec", "ipAddressType": "IP_V4", "ipAddress": "10.60.0.10", "ttl": 30}]}')
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

step "10. The orchestrator terminates video-cache (graceful, no subscriber → at once)"
api "$op" -X DELETE "$root/mepm/v1/app_instances/video-cache" -o /dev/null -w 'HTTP %{http_code}\n'
for _ in $(seq 50); do [ "$(wc -l < "$work/notifications.jsonl")" -ge 2 ] && break; sleep 0.1; done
echo "player was notified: $(tail -1 "$work/notifications.jsonl" | jq -c '.serviceReferences[0] | {serName, changeType}')"
echo "services named video-cache now: $(api "$op" "$root/mec_service_mgmt/v1/services?ser_name=video-cache" | jq length)"
echo "cache.video.mec now: $(dig +short @127.0.0.1 -p "$dns_port" cache.video.mec A | head -1) (forwarded; no upstream in the demo)"

printf '\nMEP: %s (operator token %s), DNS: 127.0.0.1:%s, metrics: %s/metrics\n' "$root" "$op" "$dns_port" "$root"
if [ -n "${KEEP:-}" ]; then echo "KEEP=1: MEP left running as pid $mep_pid, data in $work"; fi
