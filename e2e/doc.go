// Package e2e holds the end-to-end tests that need a real Jaeger v2: they run the
// example agent (../examples/agent) with OTLP export pointed at Jaeger and read the
// trace back through Jaeger's query API.
//
// It is a module of its own, so that Jaeger (a tool dependency, see go.mod) never
// reaches the library's users. It does not require the root module: Jaeger v1.76.0
// needs OpenTelemetry versions older than the root module's (otel v1.38,
// otelhttp v0.63), and one module graph cannot hold both. The tests therefore drive
// the example as a program, which is built in the root module with its own versions.
//
// scripts/e2e.sh builds and starts Jaeger on free loopback ports and sets
// SPENDGUARD_JAEGER_OTLP (OTLP/HTTP base URL) and SPENDGUARD_JAEGER_QUERY (query API
// base URL). Without them the tests skip, or fail when SPENDGUARD_REQUIRE_SERVICES=1.
package e2e
