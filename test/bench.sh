#!/usr/bin/env bash
# bench.sh is `make bench`: it runs every test/bench.d/*.sh and prints their figures.
# Benchmarks report numbers; they do not pass or fail on them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/deps.sh
for f in test/bench.d/*.sh; do
  [ -e "$f" ] || continue
  echo "== $(basename "$f" .sh)"
  bash "$f"
done
