// Package geminitest holds the tests of spendguard's packages that need langchaingo's
// Google clients (llms/googleai and llms/googleai/vertex, hence the genai SDKs,
// google.golang.org/api and gRPC): the usage read from real bills of every provider
// (internal/realbills, TestRealBillsUsage), the simulator's prompt-estimate report
// (its Gemini scenario), and Gemini's partial usage through llmwrap, middleware and
// otel.
//
// They live here, in a package nothing imports, because `go mod tidy` follows the
// tests of every package a user imports: a test of llmwrap, middleware or otel that
// imported those clients put some 60 modules (about 90 MB) in the download of every
// program using spendguard with any provider. Keep tests that need the Google clients
// here, or in another package that no user-imported package's tests import.
//
// The package has no code of its own; its example shows a real Gemini bill replayed.
package geminitest
