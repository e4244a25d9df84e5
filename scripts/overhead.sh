#!/usr/bin/env bash
# The per-call overhead against the code issue 17 was filed on (4d04963), or BASE: the
# same benchmarks (their sources are unchanged since) built at BASE and at this checkout,
# run interleaved BENCH_COUNT times (default 5) on the same machine, printed as `go test
# -bench` lines; BASE's are renamed BenchmarkIssue17Base<Name>, so benchratio.go gives
# the ratios. scripts/bench.sh runs it; alone:
#
#   scripts/overhead.sh [BASE] | go run scripts/benchratio.go
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-4d04963}
scratch=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$scratch/base" 2>/dev/null || true; rm -rf "$scratch"' EXIT
git -C "$repo" worktree add -q --detach "$scratch/base" "$base"
pkgs=(middleware otel)
for p in "${pkgs[@]}"; do
	(cd "$scratch/base" && go test -c -o "$scratch/base-$p.test" "./$p")
	(cd "$repo" && go test -c -o "$scratch/head-$p.test" "./$p")
done
bench='^Benchmark(BareModel|WrapOnly|WrapBudget|WrapBudgetParallel|MiddlewareSDK|MiddlewareNoop)$'
for _ in $(seq "${BENCH_COUNT:-5}"); do
	for p in "${pkgs[@]}"; do
		(cd "$scratch/base/$p" && "$scratch/base-$p.test" -test.run '^$' -test.bench "$bench" -test.benchmem) |
			sed -n 's/^Benchmark/BenchmarkIssue17Base/p'
		(cd "$repo/$p" && "$scratch/head-$p.test" -test.run '^$' -test.bench "$bench" -test.benchmem) |
			grep '^Benchmark'
	done
done
