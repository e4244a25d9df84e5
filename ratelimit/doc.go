// Package ratelimit keeps model calls within a provider's rate limits (tokens and
// requests per interval, per model or API key) by making them wait instead of fail:
// in-process with New, for a fleet sharing one limit with ratelimit/redisrate.
//
// # Reserve, then settle
//
// A call reserves its estimate (Cost: the prompt estimate as Input, the completion
// allowance as Output) and one request before it is sent, and settles with what the
// provider billed once it has answered: what it did not use is given back, what it
// used beyond is charged. This is how the providers count: OpenAI admits a request
// on "the maximum of max_tokens and the estimated number of tokens based on the
// character count of your request" (https://platform.openai.com/docs/guides/rate-limits,
// "Reduce the max_tokens to match the size of your completions"; its help article
// https://help.openai.com/en/articles/6891753 adds that "usage needs are estimated
// from this value"), and Anthropic estimates OTPM "based on max_tokens at the
// beginning of each request and adjusted at the end of the request to reflect the
// actual number of output tokens used", counting towards ITPM only uncached input
// (input_tokens + cache_creation_input_tokens: cache reads do not count on current
// models) (https://docs.anthropic.com/en/api/rate-limits).
//
// # The window: sliding, never twice the limit
//
// Anthropic enforces its limits with a token bucket whose capacity "is continuously
// replenished up to your maximum limit", and OpenAI's "may be quantized", enforced
// over shorter periods (60,000 requests a minute as 1,000 a second). A limiter that
// only had to stay under Anthropic's bucket could itself be a token bucket (or GCRA,
// as redis_rate is), but a bucket of one interval's limit admits up to twice the limit
// within one interval (a full bucket, then its refill), which a quantized limit
// refuses; a fixed window lets twice the limit through across its boundary. So this
// package counts a sliding window: in every span of Limit.Interval, the calls it
// admitted hold at most the limit. That implies the provider's token bucket of the
// same limit (a span of k intervals holds at most k limits) and, with the interval
// set to the quantum (1,000 a second), a quantized limit too.
//
// The window is cut into 64 slots per interval. A call counts in the slot of its
// admission until the whole slot is older than one interval, so its tokens are held
// for between one interval and 1/64 more: the sliding window's bound is exact, and
// the cost is at most 1/64 of the throughput. A limit keeps at most 65 slots (more
// only while calls are queued far ahead), whatever the rate of calls.
//
// # The bound
//
// A call is admitted at the first instant at which the tokens counted in the last
// interval (settled calls at their usage, calls in flight at their estimate) plus its
// estimate fit the limit. So for every span of one interval, the tokens used by the
// calls admitted in it are at most the limit plus the overage (usage − estimate, when
// positive) of those of its calls still in flight when its last call was admitted.
// For calls one at a time (an agent's loop) that is one call's overage; in general it
// is bounded by the estimate error of the calls in flight together. Settled overage is
// charged in full: later calls wait until it stops counting. A settle that comes after
// its call's slot stopped counting (a call longer than the interval) changes nothing:
// a call counts at its start.
//
// # Waiting
//
// Reserve waits, bounded by its context's deadline, as rate.Limiter.Wait does. Calls
// are admitted strictly in the order they reach the limiter: each is given the first
// instant, no earlier than the previous admission, at which it fits, and sleeps until
// then, with no polling (a fleet's calls queue in Redis in the order Redis runs their
// scripts). A later small call does not overtake a waiting large one. Refunds settled
// while a call waits do not wake it earlier. A call whose estimate is above the limit
// fails at once with an *Error (Never), and so does one that would fit only after
// its deadline (Error.Wait says how long it would have waited); neither holds
// anything. A rate limit never denies a call that can fit: budgets deny (budget.ErrDenied),
// rate limits wait, and an *Error is never a budget denial.
//
// # Learning from the provider
//
// A provider's 429 means the limit it enforces is tighter than the one configured, or
// someone else shares it. Settle the refused call with the zero Cost (a 429 is not
// billed: its hold and request are given back) and the wait the provider asked for
// (Retry-After): the limit is paused for that long, for every call of every process
// sharing it. Nothing here retries the call. A retry of your own goes around the whole
// call (Reserve again, then Settle again), so that each attempt reserves and settles
// once and nothing is counted twice.
package ratelimit
