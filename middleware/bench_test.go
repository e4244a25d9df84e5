package middleware_test

import (
	"context"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
)

// fixedModel returns the same response, with openai-style usage, to every call.
type fixedModel struct{ resp *llms.ContentResponse }

func newFixedModel() *fixedModel {
	return &fixedModel{resp: &llms.ContentResponse{Choices: []*llms.ContentChoice{{
		Content:    "The answer is 42.",
		StopReason: "stop",
		GenerationInfo: map[string]any{
			"CompletionTokens": 7,
			"PromptTokens":     21,
			"TotalTokens":      28,
		},
	}}}}
}

func (m *fixedModel) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return m.resp, nil
}

func (m *fixedModel) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

var benchMsgs = []llms.MessageContent{
	llms.TextParts(llms.ChatMessageTypeSystem, "You are a terse assistant."),
	llms.TextParts(llms.ChatMessageTypeHuman, "What is six times seven?"),
}

func benchModel(b *testing.B, m llms.Model) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.GenerateContent(ctx, benchMsgs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareModel is the baseline: the in-memory model called directly.
func BenchmarkBareModel(b *testing.B) {
	benchModel(b, newFixedModel())
}

// BenchmarkWrapBudget is the same model through Wrap and Budget over an Atomic budget
// of huge capacity, with the LEARNED completion allowance (the default, and the more
// expensive path: every call updates the model's ring).
func BenchmarkWrapBudget(b *testing.B) {
	bud := budget.NewAtomic(1 << 62)
	benchModel(b, llmwrap.Wrap(newFixedModel(), middleware.Budget(bud)))
}

// BenchmarkWrapBudgetFixedAllowance is BenchmarkWrapBudget with
// WithCompletionAllowance (no learning).
func BenchmarkWrapBudgetFixedAllowance(b *testing.B) {
	bud := budget.NewAtomic(1 << 62)
	benchModel(b, llmwrap.Wrap(newFixedModel(), middleware.Budget(bud, middleware.WithCompletionAllowance(256))))
}

// BenchmarkWrapBudgetParallel is BenchmarkWrapBudget from GOMAXPROCS goroutines (one
// shared budget and one shared model ring).
func BenchmarkWrapBudgetParallel(b *testing.B) {
	m := llmwrap.Wrap(newFixedModel(), middleware.Budget(budget.NewAtomic(1<<62)))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.GenerateContent(ctx, benchMsgs); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkWrapOnly is the model through Wrap with no middleware: what Wrap itself
// costs (its per-call Spend), for telling it apart from Budget's share.
func BenchmarkWrapOnly(b *testing.B) {
	benchModel(b, llmwrap.Wrap(newFixedModel()))
}

// BenchmarkWrapBudgetConstEstimator is BenchmarkWrapBudget with a constant prompt
// estimator: Budget's own share, without the cost of estimating the prompt.
func BenchmarkWrapBudgetConstEstimator(b *testing.B) {
	bud := budget.NewAtomic(1 << 62)
	benchModel(b, llmwrap.Wrap(newFixedModel(), middleware.Budget(bud, middleware.WithEstimator(fixedEstimator(20)))))
}

// BenchmarkWrapBudgetCancellableContext is BenchmarkWrapBudget on a context that can
// be cancelled, as an agent's usually is: settles then run on a detached copy with
// the settle timeout.
func BenchmarkWrapBudgetCancellableContext(b *testing.B) {
	m := llmwrap.Wrap(newFixedModel(), middleware.Budget(budget.NewAtomic(1<<62)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.GenerateContent(ctx, benchMsgs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWrapBudgetAllocations is the allocation half of the README's overhead guard:
// Wrap+Budget over a budget.Atomic adds at most 2 allocations per call to the bare
// model (Wrap's Spend, which holds the budget's record, and the reservation).
func TestWrapBudgetAllocations(t *testing.T) {
	ctx := context.Background()
	bare := newFixedModel()
	wrapped := llmwrap.Wrap(bare, middleware.Budget(budget.NewAtomic(1<<62)))
	base := testing.AllocsPerRun(200, func() { _, _ = bare.GenerateContent(ctx, benchMsgs) })
	got := testing.AllocsPerRun(200, func() { _, _ = wrapped.GenerateContent(ctx, benchMsgs) })
	if got-base > 2 {
		t.Errorf("Wrap+Budget(Atomic): %v allocations per call, bare model %v: more than +2", got, base)
	}
}

// BenchmarkWrapBudgetUncalibrated is BenchmarkWrapBudget with WithoutCalibration: the
// baseline of what the per-model calibration adds to a call (same run, benchratio).
func BenchmarkWrapBudgetUncalibrated(b *testing.B) {
	bud := budget.NewAtomic(1 << 62)
	benchModel(b, llmwrap.Wrap(newFixedModel(), middleware.Budget(bud, middleware.WithoutCalibration())))
}
