package sdktest_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/llms"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/conv"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
	sgotel "github.com/spendguard/spendguard/otel"
	"github.com/spendguard/spendguard/price"
)

// runTotals sums the chat spans that are children of root, as the run span should.
func runTotals(spans []sdktrace.ReadOnlySpan, root sdktrace.ReadOnlySpan) map[string]int64 {
	sum := map[string]int64{}
	for _, s := range spans {
		if s.Parent().SpanID() != root.SpanContext().SpanID() || s.Name() == root.Name() {
			continue
		}
		for k, v := range attrs(s.Attributes()) {
			switch k {
			case "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens":
				sum[k] += v.(int64)
			}
		}
	}
	return sum
}

func spanNamed(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range spans {
		if s.Name() == name {
			return s
		}
	}
	t.Fatalf("no span %q among %d", name, len(spans))
	return nil
}

// A run's span is the parent of its calls' spans, and its totals are theirs: tokens
// summed over the chat spans, calls sent and denied, the cost, and its budget as the
// run left it.
func TestRunSpanTotalsAreItsCallsSums(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: "fine", Usage: &providertest.Usage{Prompt: 40, Completion: 12}}))
	defer srv.Close()
	run := budget.NewAtomic(150, budget.WithName("run"))
	prices := price.Table{"gpt-test": {Rates: price.Rates{Input: 2_000_000, Output: 8_000_000}}} // $2 / $8 per million
	llm, err := srv.OpenAIClient()
	if err != nil {
		t.Fatal(err)
	}
	model := llmwrap.Wrap(llm, llmwrap.WithModelName("gpt-test"),
		sgotel.Middleware(e.opts(sgotel.WithPrices(prices))...),
		middleware.Budget(run, middleware.WithEstimator(constEstimator(25)), middleware.WithCompletionAllowance(20)))

	ctx, end := sgotel.StartRun(context.Background(), "researcher", run, e.opts()...)
	var runErr error
	calls := 0
	for runErr == nil && calls < 10 { // 52 charged each of 150: the budget denies one of the first four
		_, runErr = model.Call(ctx, "hello")
		calls++
	}
	sent := int64(calls - 1)
	if !errors.Is(runErr, budget.ErrDenied) {
		t.Fatalf("call %d: %v, want a denial", calls, runErr)
	}
	end(runErr)
	end(nil) // only the first end counts

	spans := e.ended(t)
	root := spanNamed(t, spans, "invoke_agent researcher")
	if len(spans) != calls+1 || sent < 2 {
		t.Fatalf("%d spans after %d calls, want the run and its calls, 2 or more sent", len(spans), calls)
	}
	got := attrs(root.Attributes())
	sum := runTotals(spans, root)
	want := map[string]any{
		"gen_ai.operation.name":           "invoke_agent",
		"gen_ai.agent.name":               "researcher",
		"gen_ai.usage.input_tokens":       sum["gen_ai.usage.input_tokens"],
		"gen_ai.usage.output_tokens":      sum["gen_ai.usage.output_tokens"],
		string(conv.RunCallsSentKey):      sent,
		string(conv.RunCallsDeniedKey):    int64(1),
		string(conv.RunLoopStopsKey):      int64(0),
		string(conv.RunFallbacksKey):      int64(0),
		string(conv.RunBudgetNameKey):     "run",
		string(conv.RunBudgetLimitKey):    int64(150),
		string(conv.RunBudgetConsumedKey): sent * 52,
		string(conv.RunCostUSDKey):        float64(sent) * (40*2e-6 + 12*8e-6),
		"error.type":                      "budget_denied",
	}
	if sum["gen_ai.usage.input_tokens"] != 40*sent || sum["gen_ai.usage.output_tokens"] != 12*sent {
		t.Fatalf("the chat spans sum to %v, want 40 in and 12 out per call sent", sum)
	}
	for k, w := range want {
		if k == string(conv.RunCostUSDKey) {
			if g, _ := got[k].(float64); g < w.(float64)-1e-9 || g > w.(float64)+1e-9 {
				t.Errorf("%s = %v, want %v", k, got[k], w)
			}
			continue
		}
		if got[k] != w {
			t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], w)
		}
	}
	if root.Status().Code.String() != "Error" {
		t.Errorf("status %v, want Error", root.Status())
	}
}

// A sub-agent's run is a child span of its parent's, with a budget of its own drawn
// from the parent's through the context; the parent's totals include the child's.
func TestNestedRunDrawsOnItsParent(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: "ok", Usage: &providertest.Usage{Prompt: 10, Completion: 5}}))
	defer srv.Close()
	llm, err := srv.OpenAIClient()
	if err != nil {
		t.Fatal(err)
	}
	model := llmwrap.Wrap(llm, llmwrap.WithModelName("gpt-test"), sgotel.Middleware(e.opts()...),
		middleware.Budget(nil, middleware.WithEstimator(constEstimator(10)), middleware.WithCompletionAllowance(5)))
	parentBudget := budget.NewAtomic(1000, budget.WithName("parent"))
	ctx, endParent := sgotel.StartRun(budget.NewContext(context.Background(), parentBudget), "lead", nil, e.opts()...)
	if _, err := model.Call(ctx, "plan"); err != nil {
		t.Fatal(err)
	}
	sub := budget.NewAtomic(30, budget.WithName("sub"))
	subCtx, endSub := sgotel.StartRun(budget.NewContext(ctx, sub), "researcher", nil, e.opts()...)
	var subErr error
	for range 3 { // 15 each: the third does not fit the sub-agent's 30
		if _, subErr = model.Call(subCtx, "dig"); subErr != nil {
			break
		}
	}
	endSub(subErr)
	endParent(nil)

	spans := e.ended(t)
	lead, researcher := spanNamed(t, spans, "invoke_agent lead"), spanNamed(t, spans, "invoke_agent researcher")
	if researcher.Parent().SpanID() != lead.SpanContext().SpanID() {
		t.Fatal("the sub-agent's run is not a child of its parent's")
	}
	la, ra := attrs(lead.Attributes()), attrs(researcher.Attributes())
	if ra["gen_ai.usage.input_tokens"] != int64(20) || ra[string(conv.RunCallsSentKey)] != int64(2) || ra[string(conv.RunCallsDeniedKey)] != int64(1) ||
		ra[string(conv.RunBudgetNameKey)] != "sub" || ra[string(conv.RunBudgetConsumedKey)] != int64(30) {
		t.Errorf("sub-run: %v", ra)
	}
	if la["gen_ai.usage.input_tokens"] != int64(30) || la[string(conv.RunCallsSentKey)] != int64(3) || la[string(conv.RunCallsDeniedKey)] != int64(1) ||
		la[string(conv.RunBudgetNameKey)] != "parent" || la[string(conv.RunBudgetConsumedKey)] != int64(45) {
		t.Errorf("parent run: %v (it includes the sub-run's calls, and its budget paid for them)", la)
	}
	if s, _ := parentBudget.Snapshot(context.Background()); s.Consumed != 45 {
		t.Errorf("the parent's budget consumed %d, want 45: the sub-agent's calls are drawn from it", s.Consumed)
	}
}

// Calls of one run from many goroutines: the totals are exact under -race.
func TestRunCountsConcurrentCalls(t *testing.T) {
	e := newEnv(t)
	ctx, end := sgotel.StartRun(context.Background(), "swarm", nil, e.opts()...)
	model := llmwrap.Wrap(&fakeModel{text: "x", usage: true}, llmwrap.WithModelName("m"), sgotel.Middleware(e.opts()...))
	const workers, calls = 8, 50
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				if _, err := model.GenerateContent(ctx, []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "q")}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	end(nil)
	a := attrs(spanNamed(t, e.ended(t), "invoke_agent swarm").Attributes())
	if a["gen_ai.usage.input_tokens"] != int64(workers*calls*10) || a["gen_ai.usage.output_tokens"] != int64(workers*calls*3) ||
		a[string(conv.RunCallsSentKey)] != int64(workers*calls) {
		t.Fatalf("totals %v, want %d calls of 10+3", a, workers*calls)
	}
	if _, ok := a[string(conv.RunBudgetNameKey)]; ok {
		t.Errorf("a run without a budget has budget attributes: %v", a)
	}
}
