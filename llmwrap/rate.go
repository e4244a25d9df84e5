package llmwrap

import "time"

// RateWait is a rate limiter's part of a call (ratelimit.Middleware): which limit
// admitted it, what it reserved, how long it waited, and what a 429 taught it.
// Token counts are in tokens.
type RateWait struct {
	// Limiter names the limit.
	Limiter string
	// EstimateInput and EstimateOutput are what the call reserved: its prompt
	// estimate and its completion allowance (the MaxTokens it was sent with, when
	// set, as OpenAI counts it).
	EstimateInput, EstimateOutput uint64
	// Start is when the limit counted the call as started; Waited is how long it
	// waited for the limit before it was sent (0: it fitted at once).
	Start  time.Time
	Waited time.Duration
	// Limited is true when the limit refused the call (its estimate could never fit,
	// or it would fit only after its context's deadline); the call was not sent. A
	// rate limit does not deny: it waits, and refuses only what waiting cannot fix.
	Limited bool
	// RetryAfter is set when the provider refused the call with a 429: the limit was
	// paused this long for every process sharing it. The call was not retried.
	RetryAfter time.Duration
	// ChargedInput and ChargedOutput are what the settle counted against the limit
	// (0 and 0: the hold was given back).
	ChargedInput, ChargedOutput uint64
	// SettleErr is the error of a settle that failed after the model had answered.
	SettleErr error
}
