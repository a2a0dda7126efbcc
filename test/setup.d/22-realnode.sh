# shellcheck shell=bash
# 22-realnode.sh (sourced by test/run.sh) starts site R of the test bed: its own control plane
# (test/testbed/site.sh, no simulated nodes) joined by a real node — kubelet, containerd and
# runc with a CNI bridge (test/testbed/realnode.sh) — so that apps deployed through the
# Kubernetes adapter really run and call a MEP on the host (test/e2e/realnode).
# Root only; without root the real-node tests skip (and fail under CI).
# Exports the variables of realnode.sh's env file: EDGEMEC_TESTBED_REALNODE (node name),
# EDGEMEC_TESTBED_REALNODE_KUBECONFIG, EDGEMEC_TESTBED_REALNODE_HOST_IP (the host as pods
# reach it), EDGEMEC_TESTBED_REALNODE_NODE_IP and EDGEMEC_TESTBED_REALNODE_APP_IMAGE.
if [ "$(id -u)" = 0 ]; then
  rn_tb=$(pwd)/test/testbed
  defer_cleanup "bash '$rn_tb/site.sh' down site-r"
  bash "$rn_tb/site.sh" up site-r 2 none >/dev/null || { echo "testbed: site R failed" >&2; exit 1; }
  defer_cleanup "bash '$rn_tb/realnode.sh' down site-r"
  rn_env=$(bash "$rn_tb/realnode.sh" up site-r | tail -n 1) || { echo "testbed: real node failed" >&2; exit 1; }
  set -a
  # shellcheck source=/dev/null
  . "$rn_env"
  set +a
  unset rn_tb rn_env
else
  echo "testbed: not root, no real node (its tests skip)" >&2
fi
