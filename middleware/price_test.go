package middleware_test

import (
	"context"
	"os"
	"testing"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
	"github.com/spendguard/spendguard/price"
)

// liteLLMTable is the price table of the committed excerpt of LiteLLM's real price
// file (price/testdata).
func liteLLMTable(t *testing.T) price.Table {
	t.Helper()
	f, err := os.Open("../price/testdata/model_prices_excerpt.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := price.ParseLiteLLM(f)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// TestAnthropicCacheCharges: an Anthropic response with cache writes and reads, in the
// wire format langchaingo's real anthropic client parses (input_tokens,
// cache_creation_input_tokens, cache_read_input_tokens, output_tokens), streamed or
// not, is charged input, cache write, cache read and output each at its own rate from
// LiteLLM's file; a prompt above 200k tokens is charged wholly at the long-context
// rates.
func TestAnthropicCacheCharges(t *testing.T) {
	tab := liteLLMTable(t)
	const model = "claude-sonnet-4-5-20250929" // $3 in, $3.75 write, $0.30 read, $15 out; above 200k $6, $7.50, $0.60, $22.50
	for _, tc := range []struct {
		name string
		u    providertest.Usage
		want uint64 // micro-USD
	}{
		// 2,000 plain ×3 + 4,000 written ×3.75 + 6,000 read ×0.3 + 321 out ×15
		{"below 200k", providertest.Usage{Prompt: 12_000, CacheWrite: 4_000, CachedPrompt: 6_000, Completion: 321}, 6_000 + 15_000 + 1_800 + 4_815},
		// 40,000 ×6 + 10,000 ×7.5 + 200,000 ×0.6 + 999 ×22.5 = 457,477.5, rounded up
		{"above 200k", providertest.Usage{Prompt: 250_000, CacheWrite: 10_000, CachedPrompt: 200_000, Completion: 999}, 457_478},
		// exactly 200k is not above: 200,000 ×3 + 10 ×15
		{"at 200k", providertest.Usage{Prompt: 200_000, Completion: 10}, 600_150},
	} {
		for _, stream := range []bool{false, true} {
			srv := providertest.NewAnthropic(providertest.Fixed(providertest.Reply{Text: "cached answer", Usage: &tc.u}))
			llm, err := srv.AnthropicClient(anthropic.WithModel(model))
			if err != nil {
				t.Fatal(err)
			}
			b := budget.NewAtomic(10_000_000)
			var s llmwrap.Spend
			m := llmwrap.Wrap(llm, llmwrap.WithModelName(model), capture(&s), middleware.Budget(b, middleware.WithPrices(tab)))
			opts := []llms.CallOption{llms.WithMaxTokens(1000)}
			if stream {
				opts = append(opts, llms.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
			}
			if _, err := m.GenerateContent(context.Background(), hello, opts...); err != nil {
				t.Fatal(err)
			}
			srv.Close()
			want := llmwrap.Usage{PromptTokens: uint64(tc.u.Prompt), CompletionTokens: uint64(tc.u.Completion),
				CachedPromptTokens: uint64(tc.u.CachedPrompt), CacheWriteTokens: uint64(tc.u.CacheWrite)}
			if s.Budget == nil || s.Budget.Usage != want || s.Budget.UsageSource != llmwrap.UsageReported {
				t.Fatalf("%s stream=%v: charged usage %+v, want %+v reported", tc.name, stream, s.Budget, want)
			}
			if s.Budget.Charged != tc.want {
				t.Errorf("%s stream=%v: charged %d µ$, want %d", tc.name, stream, s.Budget.Charged, tc.want)
			}
			wantSettled(t, b, tc.want)
		}
	}
}

// TestLongContextReservation: the reservation of a call whose prompt estimate is
// above the threshold is priced at the long-context rates too.
func TestLongContextReservation(t *testing.T) {
	tab := liteLLMTable(t)
	var s llmwrap.Spend
	m := llmwrap.Wrap(replyWith("ok", 250_000, 10, "stop"), llmwrap.WithModelName("gemini/gemini-2.5-pro"), capture(&s),
		middleware.Budget(budget.NewAtomic(10_000_000), middleware.WithPrices(tab),
			middleware.WithEstimator(fixedEstimator(250_000)), middleware.WithCompletionAllowance(100)))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	// Gemini 2.5 Pro above 200k: $2.50 in, $15 out.
	if s.Budget.Estimate != 250_000*2.5+100*15 || s.Budget.Charged != 250_000*2.5+10*15 {
		t.Errorf("estimate %d, charged %d", s.Budget.Estimate, s.Budget.Charged)
	}
}
