#!/usr/bin/env bash
# The end-to-end tests: a real Jaeger v2, built from e2e/go.mod's tool line (Go's build
# cache makes it fast after the first, slow, build), started with in-memory storage on
# free loopback ports, a real Prometheus (Debian's) scraping the metrics Jaeger's
# collector exposes, a redis-server and Debian's Chromium for the page of `spendguard
# serve`, then `go test` in e2e/ against them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap stop_services EXIT

start_redis
ensure_chromium

echo "== building Jaeger (e2e/go.mod tool; minutes the first time, then cached)"
(cd e2e && go build -o .bin/jaeger github.com/jaegertracing/jaeger/cmd/jaeger)

# Four distinct free ports: OTLP/HTTP in, query HTTP (API and UI) and query gRPC out,
# and the metrics in Prometheus's format.
ports=()
while [ "${#ports[@]}" -lt 4 ]; do
	p=$(free_port)
	case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
otlp_port=${ports[0]} query_port=${ports[1]} grpc_port=${ports[2]} prom_port=${ports[3]}

log=$(mktemp)
JAEGER_OTLP_HTTP="127.0.0.1:$otlp_port" \
	JAEGER_QUERY_HTTP="127.0.0.1:$query_port" \
	JAEGER_QUERY_GRPC="127.0.0.1:$grpc_port" \
	JAEGER_PROMETHEUS="127.0.0.1:$prom_port" \
	e2e/.bin/jaeger --config e2e/jaeger.yaml >"$log" 2>&1 &
JAEGER_PID=$!

ready=
for _ in $(seq 1 300); do
	if ! kill -0 "$JAEGER_PID" 2>/dev/null; then
		echo "Jaeger exited while starting:" >&2
		cat "$log" >&2
		exit 1
	fi
	if http_ok "$query_port" /api/services && port_open "$otlp_port" && http_ok "$prom_port" /metrics; then
		ready=1
		break
	fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	echo "Jaeger not ready after 30s:" >&2
	cat "$log" >&2
	exit 1
fi
export SPENDGUARD_JAEGER_OTLP="http://127.0.0.1:$otlp_port"
export SPENDGUARD_JAEGER_QUERY="http://127.0.0.1:$query_port"
echo "== Jaeger (pid $JAEGER_PID): OTLP $SPENDGUARD_JAEGER_OTLP, query $SPENDGUARD_JAEGER_QUERY, metrics http://127.0.0.1:$prom_port/metrics"
start_prometheus "127.0.0.1:$prom_port"

echo "== go test -race ./... (e2e)"
if ! (cd e2e && go test -race -count=1 ./...); then
	echo "== Jaeger's log:" >&2
	cat "$log" >&2
	echo "== Prometheus's log:" >&2
	cat "$PROMETHEUS_LOG" >&2
	exit 1
fi
