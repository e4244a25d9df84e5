#!/usr/bin/env bash
# The end-to-end tests: a real Jaeger v2, built from e2e/go.mod's tool line (Go's build
# cache makes it fast after the first, slow, build), started with in-memory storage on
# free loopback ports, then `go test` in e2e/ against it. Needs nothing but Go.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap stop_services EXIT

echo "== building Jaeger (e2e/go.mod tool; minutes the first time, then cached)"
(cd e2e && go build -o .bin/jaeger github.com/jaegertracing/jaeger/cmd/jaeger)

# Three distinct free ports: OTLP/HTTP in, query HTTP (API and UI) and query gRPC out.
ports=()
while [ "${#ports[@]}" -lt 3 ]; do
	p=$(free_port)
	case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
otlp_port=${ports[0]} query_port=${ports[1]} grpc_port=${ports[2]}

log=$(mktemp)
JAEGER_OTLP_HTTP="127.0.0.1:$otlp_port" \
	JAEGER_QUERY_HTTP="127.0.0.1:$query_port" \
	JAEGER_QUERY_GRPC="127.0.0.1:$grpc_port" \
	e2e/.bin/jaeger --config e2e/jaeger.yaml >"$log" 2>&1 &
JAEGER_PID=$!

# http_ok PORT PATH: a GET answered 200, through bash's /dev/tcp (no curl needed).
http_ok() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$2" "$1" >&3
		IFS= read -r -t 2 status <&3 || exit 1
		case "$status" in *" 200 "*) exit 0 ;; *) exit 1 ;; esac
	) 2>/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ready=
for _ in $(seq 1 300); do
	if ! kill -0 "$JAEGER_PID" 2>/dev/null; then
		echo "Jaeger exited while starting:" >&2
		cat "$log" >&2
		exit 1
	fi
	if http_ok "$query_port" /api/services && port_open "$otlp_port"; then
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
echo "== Jaeger (pid $JAEGER_PID): OTLP $SPENDGUARD_JAEGER_OTLP, query $SPENDGUARD_JAEGER_QUERY"

echo "== go test -race ./... (e2e)"
if ! (cd e2e && go test -race -count=1 ./...); then
	echo "== Jaeger's log:" >&2
	cat "$log" >&2
	exit 1
fi
