#!/usr/bin/env bash
# The whole test suite: formatting and vet, the root module's tests under -race with a
# real redis-server and a real Redis Cluster, then the e2e module against a real Jaeger
# and a real Prometheus.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap stop_services EXIT

# Tests that need a service fail instead of skipping when it is missing.
export SPENDGUARD_REQUIRE_SERVICES=1

echo "== gofmt, go vet"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"
	echo "$unformatted"
	exit 1
fi
go vet ./...

./scripts/unit.sh

if [ -x scripts/e2e.sh ]; then
	./scripts/e2e.sh
else
	echo "scripts/e2e.sh is missing" >&2
	exit 1
fi
