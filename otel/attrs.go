package otel

import (
	"context"
	"errors"
	"math"
	"strings"

	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/conv"
)

// errorType classifies err for error.type. err must be non-nil. ctx is the call's
// context: some clients (langchaingo's openai) replace a cancellation by an error of
// their own, so a failed call whose context is done is classified by the context.
func errorType(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, budget.ErrDenied):
		return conv.ErrorTypeBudgetDenied
	case errors.Is(err, budget.ErrUnavailable):
		return conv.ErrorTypeBudgetUnavailable
	case errors.Is(err, context.Canceled):
		return conv.ErrorTypeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return conv.ErrorTypeTimeout
	}
	if ctx != nil {
		switch ctx.Err() {
		case context.Canceled:
			return conv.ErrorTypeCanceled
		case context.DeadlineExceeded:
			return conv.ErrorTypeTimeout
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
		return conv.ProviderOther
	}
	if p, ok := providerByPackage[strings.ToLower(pkg)]; ok {
		return p
	}
	return conv.ProviderOther
}

// toInt64 converts a count for an int attribute, saturating instead of wrapping.
func toInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
