#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each (default 15s). `make test` already runs
# their seed corpora as ordinary tests; this explores beyond them.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./e2e/' | while read -r f; do
	pkg="./$(dirname "${f#./}")"
	grep -h '^func Fuzz' "$f" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' | while read -r target; do
		echo "== $pkg $target"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-15s}" "$pkg"
	done
done
