package otel_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
	"github.com/spendguard/spendguard/otel"
)

// scriptedLLM stands in for a real langchaingo client: it answers every call the
// way the openai client does, usage included.
type scriptedLLM struct{}

func (scriptedLLM) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{
		Content:        "Paris.",
		StopReason:     "stop",
		GenerationInfo: map[string]any{"PromptTokens": 14, "CompletionTokens": 2},
	}}}, nil
}

func (s scriptedLLM) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, s, prompt, opts...)
}

// Each call through the wrapped model is a "chat gpt-4o-mini" span on the tracer
// provider (here the global one, which the OpenTelemetry SDK replaces when a program
// installs it) with the GenAI usage attributes and the budget's spendguard.budget.*
// ones, and a point on the gen_ai.client.token.usage histogram. The example prints
// what the span is made from: the call's Spend. (The spans themselves are printed by
// the examples of package otel/internal/sdktest, which read them back with the SDK.)
func ExampleMiddleware() {
	run := budget.NewAtomic(10_000, budget.WithName("run"))
	model := llmwrap.Wrap(scriptedLLM{},
		llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) {
			fmt.Printf("%s: %d+%d tokens, budget %q charged %d\n", s.Model,
				s.Usage.PromptTokens, s.Usage.CompletionTokens, s.Budget.Name, s.Budget.Charged)
		}),
		llmwrap.WithModelName("gpt-4o-mini"),
		otel.Middleware(otel.WithProviderName("openai")),
		middleware.Budget(run),
	)
	answer, err := model.Call(context.Background(), "Capital of France?", llms.WithMaxTokens(16))
	if err != nil {
		panic(err)
	}
	fmt.Println(answer)
	// Output:
	// gpt-4o-mini: 14+2 tokens, budget "run" charged 16
	// Paris.
}

// A run, and a sub-agent's run inside it with a share of the run's budget: the calls
// of the sub-run must fit both budgets, so the sub-agent stops at its share and its
// spending counts in the parent's budget. Each run is an "invoke_agent {name}" span
// whose totals (tokens, cost, calls sent and denied, the budget's limit and consumed)
// are those of its calls, the sub-run's included in the parent's.
func ExampleStartRun() {
	model := llmwrap.Wrap(scriptedLLM{}, llmwrap.WithModelName("gpt-4o-mini"),
		otel.Middleware(),
		middleware.Budget(nil, middleware.WithCompletionAllowance(2)), // the budgets come from the context
	)
	lead := budget.NewAtomic(100, budget.WithName("lead"))
	ctx, end := otel.StartRun(budget.NewContext(context.Background(), lead), "lead", nil)

	share := budget.NewAtomic(40, budget.WithName("researcher")) // drawn from lead's 100
	subCtx, endSub := otel.StartRun(budget.NewContext(ctx, share), "researcher", nil)
	var err error
	calls := 0
	for err == nil {
		_, err = model.Call(subCtx, "Capital of France?")
		calls++
	}
	endSub(err)
	fmt.Printf("researcher: %d calls answered, then %v\n", calls-1, errors.Is(err, budget.ErrDenied))

	if _, err := model.Call(ctx, "Summarize."); err != nil {
		panic(err)
	}
	end(nil)
	s, _ := lead.Snapshot(context.Background())
	fmt.Printf("lead's budget consumed %d of %d\n", s.Consumed, s.Capacity)
	// Output:
	// researcher: 2 calls answered, then true
	// lead's budget consumed 48 of 100
}
