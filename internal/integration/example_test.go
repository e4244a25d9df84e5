package integration_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tmc/langchaingo/agents"
	"github.com/tmc/langchaingo/chains"
	"github.com/tmc/langchaingo/llms/openai"
	"github.com/tmc/langchaingo/tools"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
)

// A real langchaingo agent whose model always asks for one more tool call, through
// the real openai client, stopped by its budget before the call it cannot cover.
func Example() {
	srv := providertest.NewOpenAI(func(r providertest.Request) providertest.Reply {
		return providertest.Reply{ToolCalls: []providertest.ToolCall{{Name: "lookup", Arguments: `{"__arg1":"more"}`}},
			Usage: &providertest.Usage{Prompt: 80 + 25*r.Messages, Completion: 20}}
	})
	defer srv.Close()
	llm, err := srv.OpenAIClient(openai.WithModel("gpt-test"))
	if err != nil {
		panic(err)
	}
	b := budget.NewAtomic(5_000, budget.WithName("run"))
	model := llmwrap.Wrap(llm, middleware.Budget(b))
	agent := agents.NewOpenAIFunctionsAgent(model, []tools.Tool{&lookupTool{}})
	_, err = chains.Call(context.Background(), agents.NewExecutor(agent, agents.WithMaxIterations(1000)),
		map[string]any{"input": "find the answer"})
	s, _ := b.Snapshot(context.Background())
	fmt.Println(errors.Is(err, budget.ErrDenied), s.Held, len(srv.Requests()) > 1)
	// Output: true 0 true
}
