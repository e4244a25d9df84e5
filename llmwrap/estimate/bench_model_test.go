package estimate

import (
	"testing"

	"github.com/tmc/langchaingo/llms"
)

// benchNamed is benchEstimate for a call to model through an OpenAI-style client:
// the rules are chosen from the model's name (models.go) on every call.
func benchNamed(b *testing.B, model string) {
	_, opts := benchPrompt(b, true)
	named := *opts
	named.Model = model
	benchEstimate(b, true, func(m []llms.MessageContent, _ *llms.CallOptions) uint64 {
		return defaultEstimator.EstimateFor(OpenAI, m, &named)
	})
}

// BenchmarkEstimateNamedGPT4oTools: the rules of the client's provider, read from
// the name.
func BenchmarkEstimateNamedGPT4oTools(b *testing.B) { benchNamed(b, "gpt-4o") }

// BenchmarkEstimateNamedRouterTools: a router's vendor/model, billed by another
// vendor's rules.
func BenchmarkEstimateNamedRouterTools(b *testing.B) { benchNamed(b, "anthropic/claude-sonnet-4.5") }

// BenchmarkEstimateNamedLlama4Tools: an open-weights model's chat template.
func BenchmarkEstimateNamedLlama4Tools(b *testing.B) {
	benchNamed(b, "meta-llama/Llama-4-Scout-17B-16E-Instruct")
}
