package middleware_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/middleware"
)

// modelWithInfo answers text with GenerationInfo gi, as a provider's client builds it.
func modelWithInfo(text string, gi map[string]any) *fakeModel {
	return &fakeModel{fn: func(_ context.Context, _ []llms.MessageContent, o llms.CallOptions) (*llms.ContentResponse, error) {
		if o.StreamingFunc != nil {
			if err := o.StreamingFunc(context.Background(), []byte(text)); err != nil {
				return nil, err
			}
		}
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: text, GenerationInfo: gi}}}, nil
	}}
}

// langchaingo v0.1.14's googleai client reports the first stream chunk's usage: the
// prompt count and 0 completion tokens, however long the answer. The prompt count
// is kept, the completion is estimated from the answer, and the usage is "partial".
func TestPartialUsageKeepsReportedEstimatesMissing(t *testing.T) {
	answer := strings.Repeat("Budgets stop agents that would loop for ever. ", 56) // ~2.6 KB
	for _, tc := range []struct {
		name        string
		gi          map[string]any
		stream      bool
		wantPrompt  uint64 // 0: the prompt estimate
		estimateOut bool
	}{
		{"googleai first chunk", map[string]any{"PromptTokens": int32(8), "CompletionTokens": int32(0), "input_tokens": int32(8), "output_tokens": int32(0)}, false, 8, true},
		{"googleai streamed", map[string]any{"PromptTokens": int32(8), "CompletionTokens": int32(0)}, true, 8, true},
		{"ollama cached prompt", map[string]any{"PromptTokens": 0, "CompletionTokens": 578}, false, 0, false},
		{"anthropic output key absent", map[string]any{"InputTokens": 8}, false, 8, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := budget.NewAtomic(100_000)
			var s llmwrap.Spend
			m := llmwrap.Wrap(modelWithInfo(answer, tc.gi), capture(&s),
				middleware.Budget(b, middleware.WithEstimator(fixedEstimator(30)), middleware.WithCompletionAllowance(100)))
			var opts []llms.CallOption
			if tc.stream {
				opts = append(opts, llms.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
			}
			if _, err := m.GenerateContent(context.Background(), hello, opts...); err != nil {
				t.Fatal(err)
			}
			if s.Budget.UsageSource != llmwrap.UsagePartial {
				t.Errorf("usage source %q, want partial", s.Budget.UsageSource)
			}
			wantPrompt := tc.wantPrompt
			if wantPrompt == 0 {
				wantPrompt = 30
			}
			wantOut := uint64(578)
			if tc.estimateOut {
				wantOut = estimate.Text(answer)
			}
			if s.Budget.Usage.PromptTokens != wantPrompt || s.Budget.Usage.CompletionTokens != wantOut {
				t.Errorf("usage %+v, want prompt %d completion %d", s.Budget.Usage, wantPrompt, wantOut)
			}
			if wantOut < 500 {
				t.Fatalf("the answer's estimate %d is implausible", wantOut)
			}
			wantSettled(t, b, wantPrompt+wantOut)
		})
	}
}

// Output that reached the caller only through the stream still makes a reported 0
// completion a missing one.
func TestStreamedOutputWithZeroCompletion(t *testing.T) {
	text := "Streamed, never in the response."
	model := &fakeModel{fn: func(_ context.Context, _ []llms.MessageContent, o llms.CallOptions) (*llms.ContentResponse, error) {
		if err := o.StreamingFunc(context.Background(), []byte(text)); err != nil {
			return nil, err
		}
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{{GenerationInfo: map[string]any{"PromptTokens": 12, "CompletionTokens": 0}}}}, nil
	}}
	b := budget.NewAtomic(10_000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(b, middleware.WithEstimator(fixedEstimator(30))))
	if _, err := m.GenerateContent(context.Background(), hello, llms.WithStreamingFunc(func(context.Context, []byte) error { return nil })); err != nil {
		t.Fatal(err)
	}
	if s.Budget.UsageSource != llmwrap.UsagePartial || s.Budget.Usage.PromptTokens != 12 || s.Budget.Usage.CompletionTokens != estimate.Text(text) {
		t.Errorf("usage %+v from %q", s.Budget.Usage, s.Budget.UsageSource)
	}
}

// A complete report stays "reported" and an empty answer with 0 completion tokens is
// a real report.
func TestCompleteReportStaysReported(t *testing.T) {
	for _, text := range []string{"hi", ""} {
		b := budget.NewAtomic(10_000)
		var s llmwrap.Spend
		completion := 0
		if text != "" {
			completion = 1
		}
		m := llmwrap.Wrap(replyWith(text, 21, completion, "stop"), capture(&s), middleware.Budget(b, middleware.WithEstimator(fixedEstimator(30))))
		if _, err := m.GenerateContent(context.Background(), hello); err != nil {
			t.Fatal(err)
		}
		if s.Budget.UsageSource != llmwrap.UsageReported || s.Budget.Usage.PromptTokens != 21 {
			t.Errorf("%q: usage %+v from %q", text, s.Budget.Usage, s.Budget.UsageSource)
		}
	}
}

// The provider's rules come from the wrapped model's type, or WithProvider: the
// Anthropic tool-use system prompt is in the estimate either way.
func TestProviderRulesChosenByTypeOrOption(t *testing.T) {
	tools := llms.WithTools([]llms.Tool{{Type: "function", Function: &llms.FunctionDefinition{Name: "f", Description: "Does f.",
		Parameters: map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"type": "string"}}}}}})
	raw := func(m llms.Model, opts ...middleware.Option) uint64 {
		var s llmwrap.Spend
		w := llmwrap.Wrap(m, capture(&s), middleware.Budget(budget.NewAtomic(1<<20), opts...))
		if _, err := w.GenerateContent(context.Background(), hello, tools); err != nil {
			t.Fatal(err)
		}
		return s.Budget.PromptEstimateRaw
	}
	srv := providertest.NewAnthropic(providertest.Fixed(providertest.Reply{Text: "ok", Usage: &providertest.Usage{Prompt: 400, Completion: 1}}))
	defer srv.Close()
	an, err := srv.AnthropicClient()
	if err != nil {
		t.Fatal(err)
	}
	fake := replyWith("ok", 10, 1, "stop")
	byType, byOption, other := raw(an), raw(fake, middleware.WithProvider("anthropic")), raw(fake)
	if byType != byOption || byType < other+300 {
		t.Errorf("anthropic by type %d, by option %d, other %d: want equal, with the ~346-token tool prompt over other", byType, byOption, other)
	}
}
