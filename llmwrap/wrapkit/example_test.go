package wrapkit_test

import (
	"context"
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/wrapkit"
)

type answer string

func (a answer) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: string(a),
		GenerationInfo: map[string]any{"PromptTokens": 12, "CompletionTokens": 3}}}}, nil
}

func (a answer) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, a, prompt, opts...)
}

// A middleware that sends every call to a cheaper model, recording the switch and the
// call as Wrap would have recorded a call to the wrapped model.
func Example() {
	cheap := wrapkit.Terminal(answer("from the cheap model"))
	divert := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			if s := llmwrap.SpendFrom(ctx); s != nil {
				wrapkit.StartFallback(s, "cheap-model", "wrapkit_test.answer", 0)
				wrapkit.StartBudget(s).Name = "demo" // a budget middleware's part of the record
			}
			return cheap(ctx, msgs, opts...)
		}
	}
	m := llmwrap.Wrap(answer("from the big model"), llmwrap.WithModelName("big-model"),
		llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) {
			fmt.Printf("%s (was %s), sent %v, usage %d+%d, budget %q\n",
				s.Model, s.Fallback.From, s.Sent, s.Usage.PromptTokens, s.Usage.CompletionTokens, s.Budget.Name)
		}), divert)
	text, _ := m.Call(context.Background(), "hello")
	fmt.Println(text)
	// Output:
	// cheap-model (was big-model), sent true, usage 12+3, budget "demo"
	// from the cheap model
}
