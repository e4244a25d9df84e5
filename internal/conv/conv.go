// Package conv holds the names spendguard's telemetry uses, in one place: its span
// attribute keys (spendguard.*, beside the GenAI semantic conventions' gen_ai.*),
// span event names, metric names and error.type values. The otel package writes them
// and the tests, the example and the e2e suite read them; users see them as the
// strings, listed in the otel package's documentation.
//
// The names are stable: a rename is a breaking change for every dashboard built on
// them.
package conv

import "go.opentelemetry.io/otel/attribute"

// spendguard's own attribute keys. The token counts are in the budget's units: tokens,
// or the cost unit of a budget priced with middleware.WithCost.
const (
	EstimateTokensKey = attribute.Key("spendguard.estimate.tokens") // prompt estimate + completion allowance
	// PromptEstimateTokensKey is the prompt estimate reserved for: the static one
	// corrected by the model's calibration (in tokens).
	PromptEstimateTokensKey = attribute.Key("spendguard.estimate.prompt.tokens")
	// PromptEstimateRawTokensKey is the static prompt estimate before calibration.
	PromptEstimateRawTokensKey = attribute.Key("spendguard.estimate.prompt.raw.tokens")
	ReservedTokensKey          = attribute.Key("spendguard.reserved.tokens")  // what the budget granted
	ChargedTokensKey           = attribute.Key("spendguard.charged.tokens")   // what the settle charged
	RefundedTokensKey          = attribute.Key("spendguard.refunded.tokens")  // reserved − charged, floored at 0
	UsageSourceKey             = attribute.Key("spendguard.usage.source")     // "reported" | "partial" | "estimated"
	BudgetRemainingKey         = attribute.Key("spendguard.budget.remaining") // smallest remaining after the settle
	BudgetNameKey              = attribute.Key("spendguard.budget.name")      // the budget that denied, else the middleware's
	BudgetDeniedKey            = attribute.Key("spendguard.budget.denied")    // the budget refused the call
	BudgetFailOpenKey          = attribute.Key("spendguard.budget.fail_open") // the budget was unavailable and let the call through
	BudgetCutKey               = attribute.Key("spendguard.budget.cut")       // the answer stopped at the MaxTokens a hard cap sent
	CostUSDKey                 = attribute.Key("spendguard.cost.usd")         // cost from the WithPrices table
	LoopToolKey                = attribute.Key("spendguard.loop.tool")        // the tool of the call a loop guard saw repeated
	LoopRepeatsKey             = attribute.Key("spendguard.loop.repeats")     // how many times in a row it came back the same
	LoopCycleKey               = attribute.Key("spendguard.loop.cycle")       // calls in the repeated cycle, when more than 1
	FallbackFromKey            = attribute.Key("spendguard.fallback.from")    // the model a budget's fallback skipped (middleware.WithFallback)

	// BudgetAlertEvent is the span event of a budget alert threshold the call's settle
	// crossed (budget.WithAlerts), with the budget's name and these attributes.
	BudgetAlertEvent = "spendguard.budget.alert"
	AlertFractionKey = attribute.Key("spendguard.alert.fraction") // the threshold, a fraction of the capacity
	AlertConsumedKey = attribute.Key("spendguard.alert.consumed") // what the budget had consumed after the settle
	AlertCapacityKey = attribute.Key("spendguard.alert.capacity")

	// The budget gauges' names, from ObserveBudget.
	BudgetRemainingMetric = "spendguard.budget.remaining"
	BudgetConsumedMetric  = "spendguard.budget.consumed"
	BudgetHeldMetric      = "spendguard.budget.held"
	BudgetCapacityMetric  = "spendguard.budget.capacity"
	// BudgetDenialsMetric counts denied calls by budget name, provider and model.
	BudgetDenialsMetric = "spendguard.budget.denials"
	// LoopStopsMetric counts calls a loop guard refused, by provider and model.
	LoopStopsMetric = "spendguard.loop.stops"
	// BudgetFallbacksMetric counts calls a budget sent to a fallback model, by the
	// model skipped (spendguard.fallback.from), the model called
	// (gen_ai.request.model) and its provider.
	BudgetFallbacksMetric = "spendguard.budget.fallbacks"
)

// Values of error.type that spendguard defines; any other error gets its Go type name
// (as semconv.ErrorType derives it), and an error without one gets "_OTHER".
const (
	ErrorTypeBudgetDenied      = "budget_denied"      // errors.Is(err, budget.ErrDenied)
	ErrorTypeBudgetUnavailable = "budget_unavailable" // errors.Is(err, budget.ErrUnavailable)
	ErrorTypeCanceled          = "canceled"           // errors.Is(err, context.Canceled)
	ErrorTypeTimeout           = "timeout"            // errors.Is(err, context.DeadlineExceeded)
	ErrorTypePanic             = "panic"              // the model or a later middleware panicked (the panic goes on)
	ErrorTypeLoopDetected      = "loop_detected"      // a loop guard refused the call (llmwrap.Spend.Loop is set)
)

// ProviderOther is gen_ai.provider.name for a model whose provider is not known.
const ProviderOther = "_OTHER"

// CacheWriteInputTokensKey is the part of gen_ai.usage.input_tokens written to the
// provider's cache (Anthropic's cache_creation_input_tokens). The GenAI conventions
// name it gen_ai.usage.cache_write.input_tokens; semconv v1.41.0 has no constant
// for it yet.
const CacheWriteInputTokensKey = attribute.Key("gen_ai.usage.cache_write.input_tokens")

// A rate limiter's part of a call (ratelimit.Middleware, llmwrap.Spend.Rate): span
// attributes, the wait metric and the error.type of a call it refused.
const (
	RateLimiterKey     = attribute.Key("spendguard.rate.limiter")        // the limit's name
	RateWaitedMsKey    = attribute.Key("spendguard.rate.waited_ms")      // how long the call waited for it
	RateDelayedKey     = attribute.Key("spendguard.rate.delayed")        // the call waited (waited_ms > 0)
	RateLimitedKey     = attribute.Key("spendguard.rate.limited")        // the limit refused the call: it could never fit, or not before its deadline
	RateRetryAfterKey  = attribute.Key("spendguard.rate.retry_after_ms") // the provider's 429 paused the limit this long
	RateReservedInKey  = attribute.Key("spendguard.rate.reserved.input_tokens")
	RateReservedOutKey = attribute.Key("spendguard.rate.reserved.output_tokens")

	// RateWaitMetric is a histogram of the time calls waited for their rate limit
	// (s), by provider, request model and spendguard.rate.limiter.
	RateWaitMetric = "spendguard.rate.wait"

	ErrorTypeRateLimited = "rate_limited" // a rate limit refused the call (llmwrap.Spend.Rate.Limited)
)

// The run span's (otel.StartRun) totals, under spendguard.* names until the GenAI
// conventions settle: gen_ai.agent.token_budget.{limit,consumed} is a proposal
// (open-telemetry/semantic-conventions-genai#425; two PRs were closed unmerged).
const (
	RunCostUSDKey        = attribute.Key("spendguard.run.cost.usd")        // the sum of the run's calls' spendguard.cost.usd
	RunCallsSentKey      = attribute.Key("spendguard.run.calls.sent")      // calls that reached the model
	RunCallsDeniedKey    = attribute.Key("spendguard.run.calls.denied")    // calls a budget refused before sending
	RunLoopStopsKey      = attribute.Key("spendguard.run.loop_stops")      // calls a loop guard refused
	RunFallbacksKey      = attribute.Key("spendguard.run.fallbacks")       // calls a budget sent to another model
	RunBudgetNameKey     = attribute.Key("spendguard.run.budget.name")     // the run's budget
	RunBudgetLimitKey    = attribute.Key("spendguard.run.budget.limit")    // its capacity in force when the run ended
	RunBudgetConsumedKey = attribute.Key("spendguard.run.budget.consumed") // what it had consumed when the run ended
)
