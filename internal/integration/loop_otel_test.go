package integration_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tmc/langchaingo/agents"
	"github.com/tmc/langchaingo/chains"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/openai"
	"github.com/tmc/langchaingo/tools"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/conv"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/loopguard"
	"github.com/spendguard/spendguard/middleware"
	sgotel "github.com/spendguard/spendguard/otel"
)

// sameTool answers the same thing to every call.
type sameTool struct{}

func (sameTool) Name() string                                 { return "lookup" }
func (sameTool) Description() string                          { return "looks something up" }
func (sameTool) Call(context.Context, string) (string, error) { return "nothing new", nil }

// A stuck agent, run by the real executor through the real openai client: the call
// the loop guard refuses is a span with error.type loop_detected, the tool and the
// repeats, and the loop stop counter counts it for the model.
func TestLoopStopSpanAndMetric(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{
		ToolCalls: []providertest.ToolCall{{Name: "lookup", Arguments: `{"__arg1":"more"}`}},
		Usage:     &providertest.Usage{Prompt: 100, Completion: 10},
	}))
	defer srv.Close()
	llm, err := srv.OpenAIClient(openai.WithModel("gpt-test"))
	if err != nil {
		t.Fatal(err)
	}
	b := budget.NewAtomic(1_000_000, budget.WithName("run"))
	model := llmwrap.Wrap(llm, llmwrap.WithModelName("gpt-test"), sgotel.Middleware(e.opts()...), loopguard.New(), middleware.Budget(b))
	exec := agents.NewExecutor(agents.NewOpenAIFunctionsAgent(model, []tools.Tool{sameTool{}}), agents.WithMaxIterations(20))
	_, err = chains.Call(context.Background(), exec, map[string]any{"input": "find it"})
	if !errors.Is(err, loopguard.ErrLoop) {
		t.Fatalf("err = %v, want a loop stop", err)
	}
	spans := e.ended(t)
	if len(spans) != 4 || len(srv.Requests()) != 3 {
		t.Fatalf("%d spans for %d requests, want 4 for 3", len(spans), len(srv.Requests()))
	}
	for _, s := range spans[:3] {
		if a := attrs(s.Attributes()); a["error.type"] != nil || a["spendguard.loop.tool"] != nil {
			t.Errorf("a call that went through has %v", a)
		}
	}
	last := spans[3]
	if last.Status().Code != codes.Error {
		t.Errorf("status %v", last.Status())
	}
	equalMaps(t, "refused call's attributes", attrs(last.Attributes()), merge(startAttrs("openai", "gpt-test"), map[string]any{
		"error.type":              "loop_detected",
		"spendguard.loop.tool":    "lookup",
		"spendguard.loop.repeats": int64(3),
	}))
	rm := e.collect(t)
	m, ok := findMetric(rm, conv.LoopStopsMetric)
	if !ok {
		t.Fatalf("no %s metric", conv.LoopStopsMetric)
	}
	pts := m.Data.(metricdata.Sum[int64]).DataPoints
	if len(pts) != 1 || pts[0].Value != 1 {
		t.Fatalf("loop stops = %+v", pts)
	}
	equalMaps(t, "loop stop attributes", setAttrs(pts[0].Attributes), map[string]any{
		"gen_ai.provider.name": "openai",
		"gen_ai.request.model": "gpt-test",
	})
	if den, ok := findMetric(rm, conv.BudgetDenialsMetric); ok && len(den.Data.(metricdata.Sum[int64]).DataPoints) > 0 {
		t.Errorf("a loop stop counted as a budget denial: %+v", den)
	}
}

// A cycle of two calls is named by its length.
func TestLoopStopSpanCycle(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: "ok"}))
	defer srv.Close()
	llm, err := srv.OpenAIClient(openai.WithModel("gpt-test"))
	if err != nil {
		t.Fatal(err)
	}
	model := llmwrap.Wrap(llm, sgotel.Middleware(e.opts()...), loopguard.New())
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "go")}
	for i := range 6 {
		id, name := fmt.Sprint("c", i), []string{"search", "open"}[i%2]
		msgs = append(msgs,
			llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{llms.ToolCall{ID: id, FunctionCall: &llms.FunctionCall{Name: name, Arguments: "{}"}}}},
			llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{ToolCallID: id, Content: name + " result"}}})
	}
	if _, err := model.GenerateContent(context.Background(), msgs); !errors.Is(err, loopguard.ErrLoop) {
		t.Fatalf("err = %v", err)
	}
	a := attrs(e.onlySpan(t).Attributes())
	if a["spendguard.loop.cycle"] != int64(2) || a["spendguard.loop.tool"] != "open" || a["spendguard.loop.repeats"] != int64(3) || len(srv.Requests()) != 0 {
		t.Errorf("attributes %v, %d requests", a, len(srv.Requests()))
	}
}
