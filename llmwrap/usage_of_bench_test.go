package llmwrap_test

import (
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

var benchUsage llmwrap.Usage

// BenchmarkUsageOfOpenAI reads the usage of an openai response (the map langchaingo
// builds, one choice). Compare with BenchmarkUsageOfOpenAINaive, in the same run.
func BenchmarkUsageOfOpenAI(b *testing.B) {
	r := respWith(openaiInfo(1200, 300, 1024, 128))
	b.ReportAllocs()
	for b.Loop() {
		benchUsage, _ = llmwrap.UsageOf(r)
	}
}

// BenchmarkUsageOfOpenAINaive is the baseline: the two type assertions a caller
// who knows the provider would write, with no normalization or validation.
func BenchmarkUsageOfOpenAINaive(b *testing.B) {
	r := respWith(openaiInfo(1200, 300, 1024, 128))
	b.ReportAllocs()
	for b.Loop() {
		benchUsage = naiveOpenAI(r)
	}
}

//go:noinline
func naiveOpenAI(r *llms.ContentResponse) llmwrap.Usage {
	gi := r.Choices[0].GenerationInfo
	p, _ := gi["PromptTokens"].(int)
	c, _ := gi["CompletionTokens"].(int)
	return llmwrap.Usage{PromptTokens: uint64(p), CompletionTokens: uint64(c)}
}

func BenchmarkUsageOfAnthropic(b *testing.B) {
	r := respWith(anthropicTextInfo(100, 40, 300, 2000), anthropicToolInfo(100, 40, 300, 2000))
	b.ReportAllocs()
	for b.Loop() {
		benchUsage, _ = llmwrap.UsageOf(r)
	}
}

func BenchmarkUsageOfMistral(b *testing.B) {
	r := respWith(map[string]any{"created": 1, "model": "m", "usage": mistralUsageInfo{PromptTokens: 17, CompletionTokens: 4}})
	b.ReportAllocs()
	for b.Loop() {
		benchUsage, _ = llmwrap.UsageOf(r)
	}
}
