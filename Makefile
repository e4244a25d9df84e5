# make test: every test, the real Redis (a server and a 3-master cluster), Jaeger,
# Prometheus and Chromium ones included. It installs and starts what it needs (redis-server,
# prometheus and chromium from Debian's packages, Jaeger built from e2e/go.mod's tool line) and stops
# it afterwards.
SHELL := /bin/bash

.PHONY: test unit e2e bench fuzz lint jaeger

test:
	./scripts/test.sh

# Root-module tests only, with a redis-server and a Redis Cluster of their own (or the
# ones SPENDGUARD_REDIS_ADDR and SPENDGUARD_REDIS_CLUSTER_ADDRS name); they fail, never
# skip, without them.
unit:
	./scripts/unit.sh

# The end-to-end tests alone: builds and starts Jaeger, runs e2e/.
e2e:
	./scripts/e2e.sh

bench:
	./scripts/bench.sh

fuzz:
	./scripts/fuzz.sh

lint:
	test -z "$$(gofmt -l . | tee /dev/stderr)"
	go vet ./...
	cd e2e && go vet ./...

# A Jaeger v2 to look at the example's traces, in the foreground (Ctrl-C stops it):
# OTLP/HTTP on 127.0.0.1:4318, query API on http://127.0.0.1:16686, in memory. Built
# from Go sources it has no UI (its assets come from npm); for the UI run the
# jaegertracing/jaeger container image on the same ports instead. The OTLP metrics it
# receives are served in Prometheus's format on http://127.0.0.1:8889/metrics.
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 go run ./examples/agent
#   curl 'http://127.0.0.1:16686/api/traces?service=spendguard-agent'
#   curl http://127.0.0.1:8889/metrics
jaeger:
	cd e2e && go build -o .bin/jaeger github.com/jaegertracing/jaeger/cmd/jaeger
	JAEGER_LOG_LEVEL=info exec e2e/.bin/jaeger --config e2e/jaeger.yaml
