#!/usr/bin/env bash
# What a user's `go mod tidy` downloads (issue 17): a main that wraps langchaingo's openai
# client with llmwrap.Wrap, otel.Middleware and middleware.Budget, against the same
# program without spendguard, each in a scratch module outside the repository, with an
# empty module cache and the default proxy. spendguard is taken from this checkout (a
# replace directive), so the figure is that of the code as it stands.
#
#   scripts/download-size.sh   # prints modules and MB of zips for both programs, and the ratio
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export GOPROXY=https://proxy.golang.org,direct GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local
langchaingo=$(cd "$repo" && go list -m -f '{{.Version}}' github.com/tmc/langchaingo)
goversion=$(cd "$repo" && go list -m -f '{{.GoVersion}}')
scratch=$(mktemp -d)
[ -n "${KEEP_SCRATCH:-}" ] || trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT

# measure NAME: tidies $scratch/NAME with a fresh module cache, prints "NAME modules bytes".
measure() {
	local dir="$scratch/$1" cache="$scratch/cache-$1"
	mkdir -p "$cache"
	(cd "$dir" && GOMODCACHE="$cache" go mod tidy >/dev/null 2>"$scratch/$1.log") || {
		cat "$scratch/$1.log" >&2
		exit 1
	}
	local zips modules bytes
	zips=$(find "$cache/cache/download" -name '*.zip')
	modules=$(printf '%s\n' "$zips" | grep -c . || true)
	bytes=$(printf '%s\n' "$zips" | xargs -r stat -c %s | awk '{s += $1} END {print s + 0}')
	echo "$1 $modules $bytes"
}

mkdir -p "$scratch/openai" "$scratch/spendguard"
cat >"$scratch/openai/go.mod" <<-MOD
	module example.com/openaionly

	go $goversion

	require github.com/tmc/langchaingo $langchaingo
MOD
cat >"$scratch/openai/main.go" <<-'GO'
	package main

	import (
		"context"
		"fmt"

		"github.com/tmc/langchaingo/llms"
		"github.com/tmc/langchaingo/llms/openai"
	)

	func main() {
		llm, err := openai.New()
		if err != nil {
			panic(err)
		}
		out, err := llms.GenerateFromSinglePrompt(context.Background(), llm, "hello")
		fmt.Println(out, err)
	}
GO
cat >"$scratch/spendguard/go.mod" <<-MOD
	module example.com/withspendguard

	go $goversion

	require (
		github.com/spendguard/spendguard v0.0.0
		github.com/tmc/langchaingo $langchaingo
	)

	replace github.com/spendguard/spendguard => $repo
MOD
cat >"$scratch/spendguard/main.go" <<-'GO'
	package main

	import (
		"context"
		"fmt"

		"github.com/tmc/langchaingo/llms"
		"github.com/tmc/langchaingo/llms/openai"

		"github.com/spendguard/spendguard/budget"
		"github.com/spendguard/spendguard/llmwrap"
		"github.com/spendguard/spendguard/middleware"
		"github.com/spendguard/spendguard/otel"
	)

	func main() {
		llm, err := openai.New()
		if err != nil {
			panic(err)
		}
		model := llmwrap.Wrap(llm, otel.Middleware(), middleware.Budget(budget.NewAtomic(100_000)))
		out, err := llms.GenerateFromSinglePrompt(context.Background(), model, "hello")
		fmt.Println(out, err)
	}
GO

read -r _ om ob < <(measure openai)
read -r _ sm sb < <(measure spendguard)
awk -v om="$om" -v ob="$ob" -v sm="$sm" -v sb="$sb" 'BEGIN {
	printf "openai only:     %3d modules, %6.1f MB of zips\n", om, ob / 1e6
	printf "with spendguard: %3d modules, %6.1f MB of zips\n", sm, sb / 1e6
	printf "ratio:           %.2fx modules, %.2fx bytes\n", sm / om, sb / ob
}'
