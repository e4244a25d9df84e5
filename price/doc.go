// Package price is spendguard's one price table: what each model costs, in integer
// micro-units of a currency (1 USD = 1,000,000 micro-USD) per million tokens, so
// that a money budget stays exact integer arithmetic. middleware.WithPrices charges
// calls from a Table, and otel reports their cost from the same Table.
//
// A call's cost is Σ count × rate over the counts llmwrap.Usage carries, rounded up
// to a whole micro-unit (a priced call is never free) and saturating at
// math.MaxUint64:
//
//   - PromptTokens − CachedPromptTokens − CacheWriteTokens at Input;
//   - CachedPromptTokens (read from the provider's cache) at CacheRead;
//   - CacheWriteTokens (written to it: Anthropic's cache_creation_input_tokens) at
//     CacheWrite;
//   - CompletionTokens (reasoning included) at Output.
//
// A missing (zero) cache rate is the input rate: a missing cache price is far more
// often an omission than a free cache. Provider rules the table follows:
//
//   - Anthropic bills a cache write at 1.25× the input rate for the default
//     5-minute cache and 2× for the 1-hour one, and a cache read at 0.1×
//     (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#pricing).
//     langchaingo v0.1.14's anthropic client reports only the total
//     (cache_creation_input_tokens) and sends cache_control without its ttl (it
//     drops llms.CacheControl.Duration, so even anthropic.EphemeralCacheOneHour()
//     makes a 5-minute write): every write is charged CacheWrite, the 5-minute rate.
//     CacheWrite1h is kept for a table that records it (LiteLLM's file does);
//     a deployment whose writes are all 1-hour ones sets CacheWrite to that rate.
//   - Long context: Claude Sonnet 4 and 4.5 bill a request whose input exceeds 200k
//     tokens, cache reads and writes included, wholly at premium rates, input and
//     output (https://docs.anthropic.com/en/about-claude/pricing#long-context-pricing);
//     Gemini 2.5 Pro bills prompts above 200k tokens at its higher input, output and
//     cache rates (https://ai.google.dev/gemini-api/docs/pricing). A Tier says so:
//     a call whose PromptTokens exceed its Above is charged at its rates throughout.
//
// spendguard ships no prices. ParseLiteLLM reads the file the ecosystem keeps
// current, LiteLLM's model_prices_and_context_window.json; a Table can also be
// written by hand. A model missing from the table is unpriced: Table.Cost gives
// math.MaxUint64 and middleware.WithPrices refuses its calls, so a new model cannot
// run unbudgeted.
//
// Bad input: a Table, Price or Rates is plain data, read-only once given to a
// middleware, and safe for concurrent reads; any value is accepted (absurd counts or
// rates saturate). ParseLiteLLM says what is wrong with a bad file, naming the entry.
package price
