#!/usr/bin/env bash
# Every benchmark, -benchmem, each baseline in the same run as what it is compared
# with, then the ratios the issues ask for. BENCH_COUNT (default 5) runs per benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap stop_services EXIT
start_redis
start_redis_cluster
out=$(mktemp)
go test -run '^$' -bench . -benchmem -count "${BENCH_COUNT:-5}" ./... | tee "$out"
scripts/overhead.sh | tee -a "$out"
echo
go run scripts/benchratio.go < "$out"
