#!/usr/bin/env bash
# meo-crash.sh (make bench) runs the MEO crash test with 200 operations (MEO_CRASH_OPS, default
# 200): two meo replicas on one PostgreSQL, one killed with SIGKILL and restarted every 0.5–3 s,
# on two test-bed sites of their own (a Kubernetes one and a K3s one). It prints the figures:
# operations, kills, task accepted → ended p50/p99, kill → replica ready, and what each site
# holds. Sites given by EDGEMEC_TESTBED_KUBECONFIG and EDGEMEC_TESTBED_K3S_KUBECONFIG are used
# as they are.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${EDGEMEC_TESTBED_KUBECONFIG:-}" ] || [ -z "${EDGEMEC_TESTBED_K3S_KUBECONFIG:-}" ]; then
  export EDGEMEC_TESTBED_DIR=${EDGEMEC_TESTBED_DIR:-$(mktemp -d /tmp/edgemec-bench.XXXXXX)}
  trap 'bash test/testbed/site.sh down crash-bench-a; bash test/testbed/site.sh down crash-bench-b; rm -rf "$EDGEMEC_TESTBED_DIR"' EXIT
  EDGEMEC_TESTBED_KUBECONFIG=$(bash test/testbed/site.sh up crash-bench-a 9 k8s | tail -n 1)
  EDGEMEC_TESTBED_K3S_KUBECONFIG=$(bash test/testbed/site.sh up crash-bench-b 10 k3s | tail -n 1)
  export EDGEMEC_TESTBED_KUBECONFIG EDGEMEC_TESTBED_K3S_KUBECONFIG
fi
log=$(mktemp /tmp/meo-crash.XXXXXX.log)
if MEO_CRASH_OPS=${MEO_CRASH_OPS:-200} go test -tags integration -count 1 -run '^TestCrashTwoReplicas$' \
  -timeout 30m -v ./meo/ >"$log" 2>&1; then
  grep -E 'crash_integration_test|^(--- |ok)' "$log"
  rm -f "$log"
else
  tail -n 200 "$log"
  echo "meo-crash: failed, full output in $log" >&2
  exit 1
fi
