// Package sdktest holds package otel's tests, examples with their output, and
// benchmarks that need the OpenTelemetry SDK to read the spans and metrics back. They
// live here, not in package otel, because `go mod tidy` follows the tests of every
// package a program imports: kept in otel they would make every user download the
// SDK and golang.org/x/sys (issue 17; scripts/download-size.sh measures it).
package sdktest
