package exact_test

import (
	"os"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap/estimate"
)

// prompt4000 is a 4,000-character prompt of English prose followed by Go code, cut
// from the calibration corpus, as a system + user conversation.
func prompt4000(b *testing.B) []llms.MessageContent {
	b.Helper()
	var sb strings.Builder
	for _, f := range []string{"prose_en.txt", "code_go.txt"} {
		data, err := os.ReadFile("../estimate/testdata/corpus/" + f)
		if err != nil {
			b.Fatal(err)
		}
		sb.Write(data)
	}
	text := sb.String()
	if len(text) < 4000 {
		b.Fatalf("corpus too short: %d bytes", len(text))
	}
	text = text[:4000] // ASCII: 4,000 bytes are 4,000 characters
	return []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You review documents and code. Answer briefly."),
		llms.TextParts(llms.ChatMessageTypeHuman, text),
	}
}

func benchmarkEstimate(b *testing.B, e estimate.ProviderEstimator) {
	msgs := prompt4000(b)
	b.SetBytes(4000)
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		n = e.Estimate(msgs, nil)
	}
	b.ReportMetric(float64(n), "tokens")
}

// BenchmarkEstimateDefault4000 is estimate.Default on the prompt that
// BenchmarkEstimateExact4000, its baseline, counts exactly.
func BenchmarkEstimateDefault4000(b *testing.B) {
	benchmarkEstimate(b, estimate.Default())
}

// BenchmarkEstimateExact4000 is the baseline: o200k_base BPE with a cached encoder.
func BenchmarkEstimateExact4000(b *testing.B) {
	benchmarkEstimate(b, mustNew(b))
}
