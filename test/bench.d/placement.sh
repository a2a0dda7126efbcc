#!/usr/bin/env bash
# placement.sh prints the time the orchestrator takes to choose a site among 10,000
# (meo/internal/placement, a pure function).
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench Decide10000 -benchmem -count 3 ./meo/internal/placement/
