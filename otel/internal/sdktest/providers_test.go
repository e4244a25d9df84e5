package sdktest_test

import (
	"context"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"

	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	sgotel "github.com/spendguard/spendguard/otel"
)

var weatherTool = llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
	Name: "weather", Description: "Weather in a city.",
	Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
}}

func TestAnthropicOneGenerationManyBlocks(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewAnthropic(providertest.Fixed(providertest.Reply{
		Text:      "Let me look.",
		ToolCalls: []providertest.ToolCall{{ID: "tu_1", Name: "weather", Arguments: `{"city":"Paris"}`}},
		Usage:     &providertest.Usage{Prompt: 50, CachedPrompt: 20, CacheWrite: 5, Completion: 10},
	}))
	defer srv.Close()
	llm, err := srv.AnthropicClient(anthropic.WithModel("claude-test"))
	if err != nil {
		t.Fatal(err)
	}
	m := llmwrap.Wrap(llm, llmwrap.WithModelName("claude-test"), sgotel.Middleware(e.opts(sgotel.WithContentCapture(true))...))
	resp, err := m.GenerateContent(context.Background(), human, llms.WithTools([]llms.Tool{weatherTool}), llms.WithMaxTokens(64))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) < 2 {
		t.Fatalf("expected one choice per content block, got %d", len(resp.Choices))
	}
	a := attrs(e.onlySpan(t).Attributes())
	out := a["gen_ai.output.messages"]
	delete(a, "gen_ai.output.messages")
	delete(a, "gen_ai.input.messages")
	equalMaps(t, "span attributes", a, merge(startAttrs("anthropic", "claude-test"), map[string]any{
		"gen_ai.request.max_tokens":             int64(64),
		"gen_ai.usage.input_tokens":             int64(50),
		"gen_ai.usage.output_tokens":            int64(10),
		"gen_ai.usage.cache_read.input_tokens":  int64(20),
		"gen_ai.usage.cache_write.input_tokens": int64(5),
		"gen_ai.response.finish_reasons":        []string{"tool_use"},
	}))
	want := `[{"role":"assistant","parts":[{"type":"text","content":"Let me look."},` +
		`{"type":"tool_call","id":"tu_1","name":"weather","arguments":{"city":"Paris"}}],"finish_reason":"tool_call"}]`
	if out != want {
		t.Errorf("output messages = %v\nwant %s", out, want)
	}
}

func TestOllamaProvider(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOllama(providertest.Fixed(providertest.Reply{Text: completion, Usage: &providertest.Usage{Prompt: 8, Completion: 3}}))
	defer srv.Close()
	llm, err := srv.OllamaClient()
	if err != nil {
		t.Fatal(err)
	}
	m := llmwrap.Wrap(llm, llmwrap.WithModelName("llama3.2"), sgotel.Middleware(e.opts()...))
	if _, err := m.GenerateContent(context.Background(), human); err != nil {
		t.Fatal(err)
	}
	a := attrs(e.onlySpan(t).Attributes())
	if a["gen_ai.provider.name"] != "ollama" || a["gen_ai.usage.input_tokens"] != int64(8) || a["gen_ai.usage.output_tokens"] != int64(3) {
		t.Errorf("attributes = %v", a)
	}
}

func TestTimeout(t *testing.T) {
	e := newEnv(t)
	arrived := make(chan struct{})
	srv := providertest.NewOpenAI(func(providertest.Request) providertest.Reply {
		close(arrived)
		return providertest.Reply{Hang: true}
	})
	defer srv.Close()
	m := openAIModel(t, srv, e, nil)
	// The server holds the request until the deadline passes; the client then
	// reports its own error, and the context says it was a timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := m.GenerateContent(ctx, human)
	<-arrived
	if err == nil {
		t.Fatal("no error")
	}
	if got := attrs(e.onlySpan(t).Attributes())["error.type"]; got != "timeout" {
		t.Errorf("error.type = %v (err %v)", got, err)
	}
}
