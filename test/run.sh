#!/usr/bin/env bash
# run.sh is `make test`: it installs what the tests need, brings up the shared test
# infrastructure (each test/setup.d/*.sh script starts one piece and registers its teardown),
# then runs every test — unit, integration, BPF and netns end-to-end — with the race detector.
# Under CI (CI=true) a skipped test fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash test/deps.sh

cleanups=()
# defer_cleanup CMD registers CMD to run on exit, last registered first.
defer_cleanup() { cleanups=("$1" "${cleanups[@]}"); }
cleanup() { for c in "${cleanups[@]}"; do eval "$c" || true; done; }
trap cleanup EXIT

export TEST_WORK=${TEST_WORK:-$(mktemp -d /tmp/edgemec-test.XXXXXX)}
defer_cleanup "rm -rf '$TEST_WORK'"
for f in test/setup.d/*.sh; do
  [ -e "$f" ] || continue
  t0=$SECONDS
  # shellcheck source=/dev/null
  . "$f"
  echo "test: $(basename "$f") up in $((SECONDS - t0)) s" >&2
done

flags=()
[ -n "${CI:-}" ] && [ "${CI}" != false ] && flags+=(-no-skip)
pkgs=${TEST_PKGS:-./...}
# Compile every test binary first, in parallel; then run the packages one at a time: the
# Kubernetes test bed, the XDP namespaces and the race detector share 2 cores, and two
# packages loading them at once starves the API server.
go test -race -tags integration,e2e -run '^$' $pkgs >/dev/null || true
set +e
go test -json -race -count=1 -p "${TEST_PARALLEL:-1}" -timeout "${TEST_TIMEOUT:-40m}" -tags integration,e2e $pkgs 2>&1 |
  go run ./test/tools/testsummary "${flags[@]}" ${TEST_VERBOSE:+-v}
rc=${PIPESTATUS[1]}
set -e
cd "$root"
exit "$rc"
