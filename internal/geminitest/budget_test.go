package geminitest_test

import (
	"context"
	"testing"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/middleware"
)

// The issue-10 bug end to end (moved here from middleware): langchaingo's googleai
// client, streaming, against a Gemini server that billed 8 + 578 tokens. The call is
// charged the reported prompt and an estimate of the answer, marked partial, not the
// first chunk's 8 + 1 as "reported".
func TestGeminiStreamIsChargedItsAnswer(t *testing.T) {
	_, llm := geminiServer(t)
	b := budget.NewAtomic(100_000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(llm, capture(&s), middleware.Budget(b))
	if _, err := m.GenerateContent(context.Background(), hello, streamOpt()); err != nil {
		t.Fatal(err)
	}
	if s.Budget.UsageSource != llmwrap.UsagePartial || s.UsageMissing != llmwrap.MissingCompletion || s.Budget.Usage.PromptTokens != 8 {
		t.Fatalf("charged %+v from %q (missing %b)", s.Budget.Usage, s.Budget.UsageSource, s.UsageMissing)
	}
	if c := s.Budget.Usage.CompletionTokens; c < 578*8/10 || c > 578*12/10 {
		t.Errorf("completion charged %d, billed 578", c)
	}
	wantSettled(t, b, s.Budget.Charged)
	if s.Budget.PromptEstimateRaw == 0 || estimate.ProviderOf(s.ModelType) != estimate.Gemini {
		t.Errorf("model type %q, raw estimate %d", s.ModelType, s.Budget.PromptEstimateRaw)
	}
}
