#!/usr/bin/env bash
# vim.sh (make bench) measures deploy → Running p50/p99 through the Kubernetes VIM adapter
# for 100 instances deployed at once on a kwok test-bed site of its own (test/testbed).
set -euo pipefail
cd "$(dirname "$0")/../.."
export EDGEMEC_TESTBED_DIR=${EDGEMEC_TESTBED_DIR:-$(mktemp -d /tmp/edgemec-bench.XXXXXX)}
trap 'bash test/testbed/site.sh down vim-bench; rm -rf "$EDGEMEC_TESTBED_DIR"' EXIT
kc=$(bash test/testbed/site.sh up vim-bench 9 k8s | tail -n 1)
# Round 1 hits a fresh control plane (controllers still warming up, k8s-testbed.md G5);
# round 2 is the steady state.
go build -o "$EDGEMEC_TESTBED_DIR/vimbench" ./test/bench/vim
"$EDGEMEC_TESTBED_DIR/vimbench" -kubeconfig "$kc" -n "${VIM_BENCH_N:-100}" -label "cold site"
"$EDGEMEC_TESTBED_DIR/vimbench" -kubeconfig "$kc" -n "${VIM_BENCH_N:-100}" -label "warm site"
