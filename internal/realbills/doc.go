// Package realbills replays real provider bills through langchaingo v0.1.14's real
// clients, so that spendguard's numbers are checked against what providers billed and
// not only against its own test servers (internal/providertest).
//
// The records (testdata/bills.jsonl.gz, embedded; provenance and licence in
// testdata/README.md) are 286 real API calls recorded in 2025–26 against OpenAI, Anthropic,
// Gemini (the Gemini API and Vertex AI) and OpenAI-compatible hosts (OpenRouter, Groq,
// Mistral, Hugging Face, Cerebras, ...): each holds the request body as sent, the response
// as returned (a JSON body or the event stream) and the usage the provider billed.
//
// Three pieces, used together:
//
//   - Records loads them (parsed once, shared read-only).
//   - Serve starts a loopback server that answers every request with the record's
//     response: the JSON body, or the recorded event stream (re-framed as the JSON array
//     the genai SDK's REST stream reads, for Gemini). Replay returns langchaingo's real
//     client pointed at it: llms/openai for "openai" and "openai-compat", llms/anthropic
//     for "anthropic". Gemini records need the Google SDKs, which would reach the module
//     graph of every user of a package whose tests import this one, so their clients live
//     in internal/providertest/geminiclient (geminiclient.Replay), whose importers no
//     user-imported package's tests import.
//   - Record.Call rebuilds from the recorded request body the langchaingo call that sends
//     the same request (messages, tools, options), and says what of it langchaingo
//     cannot express (Call.Dropped). Send it through the replayed client to read the
//     response as langchaingo passes it on, or give it to an estimator to compare its
//     estimate with Billed.
//
// Replayed responses are the recorded ones, whatever the client sent; Server.Requests
// shows what it did send.
//
// This package is internal: it serves spendguard's tests.
package realbills
