// Package providertest runs in-process HTTP servers that speak the wire formats of
// the OpenAI chat completions and embeddings APIs, the Anthropic messages API,
// Ollama's /api/chat and the Gemini API's REST form, so that tests can drive
// langchaingo's real clients
// (llms/openai, llms/anthropic, llms/ollama, llms/googleai, v0.1.14) without a
// network. Package billing computes, from a request body, the prompt tokens the real
// provider would bill, for Scripts that report usage as the providers do.
//
// Each server answers every request with the Reply its Script returns. A Reply
// describes the outcome in provider-neutral terms (text, tool calls, token usage,
// finish reason, HTTP status); the server renders it in the provider's own JSON,
// streamed (SSE for OpenAI and Anthropic, NDJSON for Ollama) when the client asks for
// a stream, and as the provider's error document when Status is not 200.
//
// Usage is normalized the way spendguard's llmwrap.UsageOf reads it back: Prompt is
// the whole billed input, cached parts included. The OpenAI server reports it as
// prompt_tokens (with CachedPrompt as prompt_tokens_details.cached_tokens); the
// Anthropic server splits it into input_tokens = Prompt − CachedPrompt − CacheWrite,
// cache_read_input_tokens = CachedPrompt and cache_creation_input_tokens = CacheWrite,
// since Anthropic's input_tokens excludes the cache. So a test may assert
// UsageOf(resp).PromptTokens == uint64(reply.Usage.Prompt) for every provider.
//
// Every request is recorded (Requests), and all methods are safe for concurrent use.
// The Script itself is called concurrently when the client sends concurrently; a
// Script with state must lock it (Sequence does).
//
// This package is internal: it serves spendguard's own tests and examples.
package providertest
