# shellcheck shell=bash
# 20-testbed.sh (sourced by test/run.sh) starts the Kubernetes test bed the VIM adapter tests
# run against: two self-contained sites, each its own etcd + kube-apiserver +
# controller-manager + scheduler + kwok (test/testbed/site.sh), built from pinned Go modules
# and cached (test/testbed/build.sh; ~20 min cold, seconds warm).
#   site A (k8s profile): kwok-cloud-0 (amd64) and kwok-edge-0 (arm64, KubeEdge-style edge node)
#   site B (k3s profile): nodes labelled as a K3s cluster labels them
# Exports EDGEMEC_TESTBED_KUBECONFIG (site A), EDGEMEC_TESTBED_K3S_KUBECONFIG (site B) and
# EDGEMEC_TESTBED_BIN (the binaries, also usable as KUBEBUILDER_ASSETS).
tb_root=$(pwd)/test/testbed
EDGEMEC_TESTBED_BIN=$(bash "$tb_root/build.sh" | tail -n 1)
export EDGEMEC_TESTBED_BIN
export EDGEMEC_TESTBED_DIR=${TEST_WORK:-/tmp}/testbed
defer_cleanup "bash '$tb_root/site.sh' down site-a; bash '$tb_root/site.sh' down site-b"
# The two sites start in parallel (each ~5 s).
bash "$tb_root/site.sh" up site-a 0 k8s >"$EDGEMEC_TESTBED_DIR.site-a.out" &
tb_pid_a=$!
bash "$tb_root/site.sh" up site-b 1 k3s >"$EDGEMEC_TESTBED_DIR.site-b.out" &
tb_pid_b=$!
wait "$tb_pid_a" || { echo "testbed: site A failed" >&2; exit 1; }
wait "$tb_pid_b" || { echo "testbed: site B failed" >&2; exit 1; }
EDGEMEC_TESTBED_KUBECONFIG=$(tail -n 1 "$EDGEMEC_TESTBED_DIR.site-a.out")
EDGEMEC_TESTBED_K3S_KUBECONFIG=$(tail -n 1 "$EDGEMEC_TESTBED_DIR.site-b.out")
export EDGEMEC_TESTBED_KUBECONFIG EDGEMEC_TESTBED_K3S_KUBECONFIG
rm -f "$EDGEMEC_TESTBED_DIR.site-a.out" "$EDGEMEC_TESTBED_DIR.site-b.out"
unset tb_root tb_pid_a tb_pid_b
