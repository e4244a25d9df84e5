package integration_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/agents"
	"github.com/tmc/langchaingo/chains"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/openai"
	"github.com/tmc/langchaingo/tools"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
)

// lookupTool is the tool the endless agent keeps calling.
type lookupTool struct{ calls int }

func (*lookupTool) Name() string        { return "lookup" }
func (*lookupTool) Description() string { return "looks something up" }
func (l *lookupTool) Call(context.Context, string) (string, error) {
	l.calls++
	return "found nothing useful, keep looking", nil
}

// spendLog is an outermost middleware keeping a copy of every call's Spend.
type spendLog struct {
	mu     sync.Mutex
	spends []llmwrap.Spend
}

func (l *spendLog) middleware(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
	return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
		resp, err := next(ctx, msgs, opts...)
		if s := llmwrap.SpendFrom(ctx); s != nil {
			l.mu.Lock()
			l.spends = append(l.spends, *s)
			l.mu.Unlock()
		}
		return resp, err
	}
}

// endlessAgent runs a real langchaingo OpenAI-functions agent, through the real openai
// client, against a server that always asks for another tool call.
func endlessAgent(t *testing.T, b *budget.Atomic, completion int, opts ...middleware.Option) (err error, srv *providertest.Server, log *spendLog) {
	t.Helper()
	srv = providertest.NewOpenAI(func(r providertest.Request) providertest.Reply {
		c, finish := completion, ""
		if r.MaxTokens > 0 && r.MaxTokens < c { // a real model stops at max_tokens
			c, finish = r.MaxTokens, "length"
		}
		return providertest.Reply{
			ToolCalls:    []providertest.ToolCall{{Name: "lookup", Arguments: `{"__arg1":"more"}`}},
			FinishReason: finish,
			// Prompts grow with the scratchpad, as they do.
			Usage: &providertest.Usage{Prompt: 80 + 25*r.Messages, Completion: c},
		}
	})
	t.Cleanup(srv.Close)
	llm, err := srv.OpenAIClient(openai.WithModel("gpt-test"))
	if err != nil {
		t.Fatal(err)
	}
	log = &spendLog{}
	model := llmwrap.Wrap(llm, log.middleware, middleware.Budget(b, opts...))
	tool := &lookupTool{}
	agent := agents.NewOpenAIFunctionsAgent(model, []tools.Tool{tool})
	exec := agents.NewExecutor(agent, agents.WithMaxIterations(1000))
	_, err = chains.Call(context.Background(), exec, map[string]any{"input": "find the answer"})
	return err, srv, log
}

func checkAgentStopped(t *testing.T, err error, b *budget.Atomic, srv *providertest.Server, log *spendLog) (last llmwrap.Spend) {
	t.Helper()
	if !errors.Is(err, budget.ErrDenied) {
		t.Fatalf("agent run ended with %v, want a budget denial", err)
	}
	spends := log.spends
	if len(spends) < 3 {
		t.Fatalf("only %d model calls", len(spends))
	}
	final := spends[len(spends)-1]
	if !final.Budget.Denied {
		t.Fatalf("last call was not denied: %+v", final)
	}
	// The server saw exactly the calls that were granted: none after the denial.
	if got, want := len(srv.Requests()), len(spends)-1; got != want {
		t.Errorf("server saw %d requests, %d calls were granted", got, want)
	}
	for _, s := range spends[:len(spends)-1] {
		if s.Budget.Denied || s.Budget.UsageSource != llmwrap.UsageReported {
			t.Fatalf("granted call spend = %+v", s)
		}
	}
	wantSettled(t, b, sumCharged(spends))
	return spends[len(spends)-2]
}

func sumCharged(spends []llmwrap.Spend) uint64 {
	var n uint64
	for _, s := range spends {
		if s.Budget != nil { // nil: refused before the budget (a loop stop)
			n += s.Budget.Charged
		}
	}
	return n
}

func TestAgentLoopStopsOnDenial(t *testing.T) {
	const capacity = 20_000
	b := budget.NewAtomic(capacity, budget.WithName("run"))
	err, srv, log := endlessAgent(t, b, 300)
	last := checkAgentStopped(t, err, b, srv, log)
	consumed := snapshot(t, b).Consumed
	var overage uint64
	if last.Budget.Charged > last.Budget.Reserved {
		overage = last.Budget.Charged - last.Budget.Reserved
	}
	if consumed > capacity+overage {
		t.Errorf("consumed %d > capacity %d + last call's overage %d", consumed, capacity, overage)
	}
	t.Logf("%d granted calls, consumed %d of %d", len(log.spends)-1, consumed, capacity)
}

func TestAgentLoopHardCap(t *testing.T) {
	const capacity = 20_000
	b := budget.NewAtomic(capacity, budget.WithName("run"))
	// A generous fixed allowance: near the end only the hard cap keeps calls within
	// what is left, by sending a smaller max_tokens.
	err, srv, log := endlessAgent(t, b, 3000, middleware.HardCap(), middleware.WithCompletionAllowance(4000))
	last := checkAgentStopped(t, err, b, srv, log)
	consumed := snapshot(t, b).Consumed
	// Under a hard cap the completion never exceeds what was granted, so the only
	// overspend is the prompt estimate's error.
	var promptErr uint64
	for _, s := range log.spends[:len(log.spends)-1] {
		if s.Usage.PromptTokens > s.Budget.PromptEstimate {
			promptErr = max(promptErr, s.Usage.PromptTokens-s.Budget.PromptEstimate)
		}
		if s.Usage.CompletionTokens > uint64(s.MaxTokens) {
			t.Errorf("completion %d beyond the max_tokens sent %d", s.Usage.CompletionTokens, s.MaxTokens)
		}
	}
	if consumed > capacity+promptErr {
		t.Errorf("consumed %d > capacity %d + prompt estimate error %d", consumed, capacity, promptErr)
	}
	capped := false
	for i, r := range srv.Requests() {
		if s := log.spends[i]; r.MaxTokens != s.MaxTokens || r.MaxTokens <= 0 {
			t.Errorf("request %d: max_tokens %d, spend says %d", i, r.MaxTokens, s.MaxTokens)
		}
		capped = capped || r.MaxTokens < 3000
	}
	if !capped {
		t.Error("no call was cut by the hard cap")
	}
	t.Logf("%d granted calls, consumed %d of %d, last max_tokens %d", len(log.spends)-1, consumed, capacity, last.MaxTokens)
}

// A guarded tool ends the agent's run the same way once its dispatches are spent.
func TestAgentLoopStopsOnToolGuard(t *testing.T) {
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{
		ToolCalls: []providertest.ToolCall{{Name: "lookup", Arguments: `{"__arg1":"more"}`}},
		Usage:     &providertest.Usage{Prompt: 50, Completion: 10},
	}))
	defer srv.Close()
	llm, err := srv.OpenAIClient()
	if err != nil {
		t.Fatal(err)
	}
	tool := &lookupTool{}
	g := budget.NewAtomic(3, budget.WithName("lookups"))
	agent := agents.NewOpenAIFunctionsAgent(llmwrap.Wrap(llm, middleware.Budget(budget.NewAtomic(1<<40))),
		[]tools.Tool{middleware.GuardTool(tool, g, 1)})
	_, err = chains.Call(context.Background(), agents.NewExecutor(agent, agents.WithMaxIterations(1000)), map[string]any{"input": "go"})
	var d *middleware.ToolDeniedError
	if !errors.As(err, &d) || d.Tool != "lookup" || !errors.Is(err, budget.ErrDenied) {
		t.Fatalf("err = %v", err)
	}
	if tool.calls != 3 || len(srv.Requests()) != 4 {
		t.Errorf("tool calls %d, model requests %d", tool.calls, len(srv.Requests()))
	}
}
