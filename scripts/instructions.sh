#!/usr/bin/env bash
# Instructions per benchmark op, counted by valgrind's callgrind: repeatable on a
# shared, noisy machine where nanoseconds are not. For each benchmark it runs N and
# 2N iterations and prints (I(2N) - I(N)) / N, which cancels start-up.
#
#   scripts/instructions.sh ./middleware 'BareModel WrapOnly WrapBudget'
#   N=20000 scripts/instructions.sh ./budget 'AtomicReserveRecord'
set -euo pipefail
pkg=${1:?package dir}
benches=${2:?space-separated benchmark names, without the Benchmark prefix}
N=${N:-5000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install -y valgrind)" >&2; exit 1; }
bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
go test -c -o "$bin" "$pkg"
count() { # iterations
	(cd "$pkg" && GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$bin" -test.run '^$' -test.bench "^Benchmark$b\$" -test.benchtime "$1x" -test.count 1 2>&1 |
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
}
for b in $benches; do
	i1=$(count "$N")
	i2=$(count $((2 * N)))
	echo "Benchmark$b $(((i2 - i1) / N)) instructions/op"
done
