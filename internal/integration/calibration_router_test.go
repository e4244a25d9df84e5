package integration_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/internal/providertest/billing"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
)

// (Moved here from middleware: package billing counts tokens with llmwrap/exact.)
// Through langchaingo's real openai client and a router that adds a 612-token hidden
// prompt: the first call reserves the static estimate, and after a handful of calls
// the reservation matches what the router bills.
func TestCalibrationLearnsHiddenPrompt(t *testing.T) {
	srv := providertest.NewOpenAI(func(r providertest.Request) providertest.Reply {
		return providertest.Reply{Text: "OK.", Usage: &providertest.Usage{Prompt: billing.Biller{HiddenPrompt: 612}.OpenAI(r.Body), Completion: 2}}
	})
	defer srv.Close()
	llm, err := srv.OpenAIClient()
	if err != nil {
		t.Fatal(err)
	}
	for _, calibrate := range []bool{true, false} {
		var opts []middleware.Option
		if !calibrate {
			opts = append(opts, middleware.WithoutCalibration())
		}
		b := budget.NewAtomic(1 << 30)
		var s llmwrap.Spend
		m := llmwrap.Wrap(llm, llmwrap.WithModelName("llama-behind-router"), capture(&s), middleware.Budget(b, opts...))
		questions := []string{"Hi.", "What is a token budget, in one sentence?", "Summarize: " + strings.Repeat("agents loop; budgets stop them. ", 30),
			"Thanks!", "And how does a hard cap bound the overspend?", "Explain how a per-model calibration learns the hidden prompt of a router from the prompt sizes it bills, and why a robust fit ignores the odd retry."}
		for i, q := range questions {
			msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeSystem, "You are terse."), llms.TextParts(llms.ChatMessageTypeHuman, q)}
			if _, err := m.GenerateContent(context.Background(), msgs); err != nil {
				t.Fatal(err)
			}
			c := s.Budget
			billed := float64(s.Usage.PromptTokens)
			if s.Budget.UsageSource != llmwrap.UsageReported {
				t.Fatalf("call %d: usage source %q", i, s.Budget.UsageSource)
			}
			switch {
			case i == 0 || !calibrate:
				if c.PromptEstimate != c.PromptEstimateRaw {
					t.Errorf("call %d (calibrate %v): estimate %d, raw %d: want the static estimate", i, calibrate, c.PromptEstimate, c.PromptEstimateRaw)
				}
			case i >= 3:
				if e := (float64(c.PromptEstimate) - billed) / billed; e < -0.05 || e > 0.05 {
					t.Errorf("call %d: calibrated %d (raw %d), billed %v: error %.1f%%", i, c.PromptEstimate, c.PromptEstimateRaw, billed, 100*e)
				}
			}
			if c.PromptEstimateRaw*2 > uint64(billed) {
				t.Fatalf("call %d: raw %d vs billed %v: the hidden prompt is not billed", i, c.PromptEstimateRaw, billed)
			}
		}
	}
}
