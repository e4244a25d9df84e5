package middleware_test

import (
	"context"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/sat"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/middleware"
)

// FuzzSettle feeds whatever a provider might send back (stop reasons, text, tool-call
// arguments, usage numbers of any sign and size) through the middleware: it never
// panics, charges exactly what the Spend says, and holds nothing afterwards.
func FuzzSettle(f *testing.F) {
	f.Add("stop", "hello", `{"a":1}`, int64(10), int64(5), 0, false)
	f.Add("length", "", "", int64(0), int64(0), 7, true)
	f.Add("FinishReasonMaxTokens", "x", "{", int64(-3), int64(1<<41), 1, false)
	f.Add("", "\xff\xfe", "", int64(1<<62), int64(-1), 0, true)
	f.Fuzz(func(t *testing.T, stop, text, args string, prompt, completion int64, maxTokens int, hardCap bool) {
		resp := func() *llms.ContentResponse {
			return &llms.ContentResponse{Choices: []*llms.ContentChoice{
				{Content: text, StopReason: stop, GenerationInfo: map[string]any{"PromptTokens": prompt, "CompletionTokens": completion}},
				{ToolCalls: []llms.ToolCall{{FunctionCall: &llms.FunctionCall{Name: "f", Arguments: args}}}},
				nil,
			}}
		}
		model := &fakeModel{fn: func(context.Context, []llms.MessageContent, llms.CallOptions) (*llms.ContentResponse, error) {
			return resp(), nil
		}}
		b := budget.NewAtomic(1 << 50)
		opts := []middleware.Option{}
		if hardCap {
			opts = append(opts, middleware.HardCap())
		}
		var s llmwrap.Spend
		m := llmwrap.Wrap(model, capture(&s), middleware.Budget(b, opts...))
		var callOpts []llms.CallOption
		if maxTokens != 0 {
			callOpts = append(callOpts, llms.WithMaxTokens(maxTokens))
		}
		for i := 0; i < 3; i++ { // the learned allowance sees the result too
			if _, err := m.GenerateContent(context.Background(), hello, callOpts...); err != nil {
				t.Fatal(err)
			}
		}
		// The charge is what the provider reported when it reported a usage, else the
		// prompt estimate plus an estimate of every piece of text that came back.
		want, reported := llmwrap.UsageOf(resp())
		src := llmwrap.UsageReported
		if !reported {
			src = llmwrap.UsageEstimated
			want = llmwrap.Usage{
				PromptTokens:     s.Budget.PromptEstimate,
				CompletionTokens: estimate.Text(text) + estimate.Text("f") + estimate.Text(args),
			}
		}
		if s.Budget.UsageSource != src || s.Budget.Usage != want || s.Budget.Charged != sat.Add(want.PromptTokens, want.CompletionTokens) {
			t.Fatalf("charged %d for %+v (%s), want %+v (%s)", s.Budget.Charged, s.Budget.Usage, s.Budget.UsageSource, want, src)
		}
		snap, _ := b.Snapshot(context.Background())
		if snap.Held != 0 || snap.Consumed != 3*(sat.Add(want.PromptTokens, want.CompletionTokens)) && sat.Add(want.PromptTokens, want.CompletionTokens) < 1<<48 {
			t.Fatalf("snapshot %+v after three calls charged %d each", snap, sat.Add(want.PromptTokens, want.CompletionTokens))
		}
	})
}
