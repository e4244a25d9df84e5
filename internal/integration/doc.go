// Package integration holds the tests of spendguard's user-imported packages
// (middleware, otel, llmwrap/estimate) that need a heavy dependency: a real
// langchaingo agent (llms/agents and chains pull in text templating, TOML and
// crypto packages, langchaingo/tools the Starlark interpreter), Redis through
// go-redis (budget/redisbudget), or the exact tokenizer's offline BPE files
// (llmwrap/exact).
//
// They live here, in a package nothing imports, because `go mod tidy` follows the
// tests of every package a user imports: in middleware's or otel's own tests they put
// those modules in the download of every program using spendguard (see
// scripts/download-size.sh). Tests that need langchaingo's Google clients live in
// internal/geminitest for the same reason. Keep a new test with a heavy dependency
// here, not next to the package it tests.
//
// The package has no code of its own; its example shows an agent stopped by its
// budget.
package integration
