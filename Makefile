# make test: every test, the real Redis and the real Jaeger ones included. It installs
# and starts what it needs (redis-server from Debian's packages, Jaeger built from
# e2e/go.mod's tool line) and stops it afterwards.
SHELL := /bin/bash

.PHONY: test unit e2e bench fuzz lint

test:
	./scripts/test.sh

# Root-module tests only, against an already running Redis (SPENDGUARD_REDIS_ADDR).
unit:
	go test -race -count=1 ./...

bench:
	./scripts/bench.sh

fuzz:
	./scripts/fuzz.sh

lint:
	test -z "$$(gofmt -l . | tee /dev/stderr)"
	go vet ./...
	cd e2e && go vet ./...
