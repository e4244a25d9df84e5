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
# base package dir:this checkout's (otel's benchmarks moved with its SDK tests).
pkgs=(middleware:middleware otel:otel/internal/sdktest)
for pair in "${pkgs[@]}"; do
	b=${pair%%:*} h=${pair#*:}
	(cd "$scratch/base" && go test -c -o "$scratch/base-$b.test" "./$b")
	(cd "$repo" && go test -c -o "$scratch/head-$b.test" "./$h")
done
bench='^Benchmark(BareModel|WrapOnly|WrapBudget|WrapBudgetParallel|MiddlewareSDK|MiddlewareNoop)$'
for _ in $(seq "${BENCH_COUNT:-5}"); do
	for pair in "${pkgs[@]}"; do
		b=${pair%%:*} h=${pair#*:}
		(cd "$scratch/base/$b" && "$scratch/base-$b.test" -test.run '^$' -test.bench "$bench" -test.benchmem) |
			sed -n 's/^Benchmark/BenchmarkIssue17Base/p'
		(cd "$repo/$h" && "$scratch/head-$b.test" -test.run '^$' -test.bench "$bench" -test.benchmem) |
			grep '^Benchmark'
	done
done
