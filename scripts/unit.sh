#!/usr/bin/env bash
# The root module's tests under -race, with the services they need: a redis-server and
# a Redis Cluster (3 masters, a replica each) are started (installed first when missing)
# unless SPENDGUARD_REDIS_ADDR and SPENDGUARD_REDIS_CLUSTER_ADDRS name running ones.
# Tests that need a service fail instead of skipping when it is missing (internal/testenv;
# SPENDGUARD_SERVICES=absent would make them skip; examples/agent and e2e read this one).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap stop_services EXIT
export SPENDGUARD_REQUIRE_SERVICES=1
if [ -z "${SPENDGUARD_REDIS_ADDR:-}" ]; then
	start_redis
fi
if [ -z "${SPENDGUARD_REDIS_CLUSTER_ADDRS:-}" ]; then
	start_redis_cluster
fi
# The failover tests kill and stop nodes: they get a cluster of their own, so that the
# packages testing in parallel on the shared one never see a failover.
if [ -z "${SPENDGUARD_REDIS_FAILOVER_CLUSTER_ADDRS:-}" ]; then
	start_redis_cluster SPENDGUARD_REDIS_FAILOVER_CLUSTER_ADDRS
fi
echo "== go test -race ./..."
go test -race -count=1 ./...
