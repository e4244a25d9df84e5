// Package e2e holds the end-to-end tests that need a real Jaeger v2 and a real
// Prometheus: they run the example agent (../examples/agent) with OTLP export pointed
// at Jaeger, read the trace back through Jaeger's query API, and read the run's spend
// (token usage, denials, budget gauges) back through Prometheus's query API from the
// metrics Jaeger's collector serves in Prometheus's format. grafana/spendguard.json is a
// Grafana dashboard of that spend; the tests run each of its queries against the same
// Prometheus.
//
// serve_test.go drives the web page of `spendguard serve` (../cmd/spendguard) in a real
// headless Chromium through the DevTools protocol (chromedp), against a redis-server of
// its own that the example agent spends from, and compares the page with `spendguard
// -json list`. scripts/e2e.sh installs Debian's chromium when it is missing and sets
// SPENDGUARD_CHROMIUM (its binary) and SPENDGUARD_REDIS_SERVER (redis-server's).
//
// It is a module of its own, so that Jaeger (a tool dependency, see go.mod) and chromedp
// never reach the library's users. It does not require the root module: Jaeger v1.76.0
// needs OpenTelemetry versions older than the root module's (otel v1.38,
// otelhttp v0.63), and one module graph cannot hold both. The tests therefore drive
// the example as a program, which is built in the root module with its own versions.
//
// scripts/e2e.sh builds and starts Jaeger on free loopback ports and sets
// SPENDGUARD_JAEGER_OTLP (OTLP/HTTP base URL) and SPENDGUARD_JAEGER_QUERY (query API
// base URL), starts a Prometheus scraping Jaeger's metrics endpoint and sets
// SPENDGUARD_PROMETHEUS_URL. Without them the tests skip, or fail when
// SPENDGUARD_REQUIRE_SERVICES=1.
package e2e
