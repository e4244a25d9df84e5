package otel

import (
	"context"
	"errors"
	"math"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
)

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

// errorType classifies err for error.type. err must be non-nil. ctx is the call's
// context: some clients (langchaingo's openai) replace a cancellation by an error of
// their own, so a failed call whose context is done is classified by the context.
func errorType(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, budget.ErrDenied):
		return ErrorTypeBudgetDenied
	case errors.Is(err, budget.ErrUnavailable):
		return ErrorTypeBudgetUnavailable
	case errors.Is(err, context.Canceled):
		return ErrorTypeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return ErrorTypeTimeout
	}
	if ctx != nil {
		switch ctx.Err() {
		case context.Canceled:
			return ErrorTypeCanceled
		case context.DeadlineExceeded:
			return ErrorTypeTimeout
		}
	}
	if s := semconv.ErrorType(err).Value.AsString(); s != "" {
		return s
	}
	return semconv.ErrorTypeOther.Value.AsString()
}

// providerByPackage maps the package of a langchaingo model type to
// gen_ai.provider.name. Values outside the semconv enum (ollama) follow its rule of
// using the provider's own lower-case name.
var providerByPackage = map[string]string{
	"openai":    "openai",
	"anthropic": "anthropic",
	"ollama":    "ollama",
	"googleai":  "gcp.gemini",
	"vertex":    "gcp.vertex_ai",
	"bedrock":   "aws.bedrock",
	"mistral":   "mistral_ai",
	"cohere":    "cohere",
	"watsonx":   "ibm.watsonx.ai",
}

// guessProvider derives gen_ai.provider.name from a Go type name such as "*openai.LLM".
func guessProvider(modelType string) string {
	t := strings.TrimLeft(modelType, "*[]")
	pkg, _, ok := strings.Cut(t, ".")
	if !ok {
		return ProviderOther
	}
	if p, ok := providerByPackage[strings.ToLower(pkg)]; ok {
		return p
	}
	return ProviderOther
}

// cost is the price of u in USD.
func (p Price) cost(u llmwrap.Usage) float64 {
	in, out, cached := sanePrice(p.InputPerMTok), sanePrice(p.OutputPerMTok), sanePrice(p.CachedInputPerMTok)
	if cached == 0 {
		cached = in
	}
	c := min(u.CachedPromptTokens, u.PromptTokens)
	usd := float64(u.PromptTokens-c)*in + float64(c)*cached + float64(u.CompletionTokens)*out
	return usd / 1e6
}

func sanePrice(v float64) float64 {
	if v > 0 && !math.IsInf(v, 1) {
		return v
	}
	return 0
}

// toInt64 converts a count for an int attribute, saturating instead of wrapping.
func toInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
