package llmwrap_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
)

// These tests run langchaingo's real openai, anthropic and ollama clients against
// servers speaking each wire format, and check that UsageOf gives back exactly what
// the server's JSON reported, counted once however many choices the client built.

var e2eMsgs = []llms.MessageContent{
	llms.TextParts(llms.ChatMessageTypeSystem, "You are terse."),
	llms.TextParts(llms.ChatMessageTypeHuman, "What is the weather in Paris?"),
}

var e2eTool = llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
	Name: "weather", Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
}}

func streamOpt() llms.CallOption {
	return llms.WithStreamingFunc(func(context.Context, []byte) error { return nil })
}

type e2eCase struct {
	name    string
	reply   providertest.Reply
	opts    []llms.CallOption
	choices int // choices the client must build
}

// wantUsage is what UsageOf must report for reply: cached tokens travel on the
// OpenAI and Anthropic wires, reasoning tokens only on OpenAI's.
func wantUsage(r providertest.Reply, cached, reasoning bool) (llmwrap.Usage, bool) {
	if r.Usage == nil || (r.Usage.Prompt == 0 && r.Usage.Completion == 0) {
		return llmwrap.Usage{}, false
	}
	u := llmwrap.Usage{PromptTokens: uint64(r.Usage.Prompt), CompletionTokens: uint64(r.Usage.Completion)}
	if cached {
		u.CachedPromptTokens = uint64(r.Usage.CachedPrompt)
	}
	if reasoning {
		u.ReasoningTokens = uint64(r.Usage.Reasoning)
	}
	return u, true
}

func runE2E(t *testing.T, llm llms.Model, srv *providertest.Server, tc e2eCase, cached, reasoning bool) {
	t.Helper()
	resp, err := llm.GenerateContent(context.Background(), e2eMsgs, tc.opts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != tc.choices {
		t.Fatalf("client built %d choices, want %d", len(resp.Choices), tc.choices)
	}
	got, ok := llmwrap.UsageOf(resp)
	want, wantOK := wantUsage(tc.reply, cached, reasoning)
	if wantOK && fmt.Sprintf("%T", llm) == "*anthropic.LLM" { // the one client that reports cache writes
		want.CacheWriteTokens = uint64(tc.reply.Usage.CacheWrite)
	}
	if got != want || ok != wantOK {
		t.Errorf("UsageOf = %+v, %v; want %+v, %v", got, ok, want, wantOK)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestUsageOfOpenAIClient(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	full := &providertest.Usage{Prompt: 1500, Completion: 420, CachedPrompt: 1024, Reasoning: 256}
	calls := []providertest.ToolCall{{Name: "weather", Arguments: `{"city":"Paris"}`}, {Name: "weather", Arguments: `{"city":"Nice"}`}}
	for _, tc := range []e2eCase{
		{"non-stream", providertest.Reply{Text: "Sunny.", Usage: full}, nil, 1},
		{"stream", providertest.Reply{Text: "Sunny and warm.", Usage: full}, []llms.CallOption{streamOpt()}, 1},
		{"N=2", providertest.Reply{Text: "Sunny.", Usage: full}, []llms.CallOption{llms.WithN(2)}, 2},
		{"N=3 tool calls", providertest.Reply{ToolCalls: calls, Usage: &providertest.Usage{Prompt: 90, Completion: 31}},
			[]llms.CallOption{llms.WithN(3), llms.WithTools([]llms.Tool{e2eTool})}, 3},
		{"stream tool calls", providertest.Reply{ToolCalls: calls, Usage: full},
			[]llms.CallOption{streamOpt(), llms.WithTools([]llms.Tool{e2eTool})}, 1},
		{"no usage", providertest.Reply{Text: "?"}, nil, 1},
		{"stream no usage", providertest.Reply{Text: "?"}, []llms.CallOption{streamOpt()}, 1},
		{"zero usage", providertest.Reply{Text: "?", Usage: &providertest.Usage{}}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := providertest.NewOpenAI(providertest.Fixed(tc.reply))
			defer srv.Close()
			llm, err := srv.OpenAIClient()
			if err != nil {
				t.Fatal(err)
			}
			runE2E(t, llm, srv, tc, true, true)
		})
	}
}

func TestUsageOfAnthropicClient(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cachey := &providertest.Usage{Prompt: 5000, Completion: 77, CachedPrompt: 3000, CacheWrite: 1500}
	tool := []providertest.ToolCall{{Name: "weather", Arguments: `{"city":"Paris"}`}}
	for _, tc := range []e2eCase{
		{"text", providertest.Reply{Text: "Sunny.", Usage: &providertest.Usage{Prompt: 40, Completion: 5}}, nil, 1},
		{"text+tool_use", providertest.Reply{Text: "Checking.", ToolCalls: tool, Usage: cachey},
			[]llms.CallOption{llms.WithTools([]llms.Tool{e2eTool})}, 2},
		{"text+two tool_use", providertest.Reply{Text: "Checking.", Usage: cachey, ToolCalls: append(tool,
			providertest.ToolCall{Name: "weather", Arguments: `{"city":"Lyon"}`})}, nil, 3},
		{"stream", providertest.Reply{Text: "Sunny and warm.", Usage: cachey}, []llms.CallOption{streamOpt()}, 1},
		{"stream text+tool_use", providertest.Reply{Text: "Checking.", ToolCalls: tool, Usage: cachey},
			[]llms.CallOption{streamOpt()}, 2},
		{"no usage", providertest.Reply{Text: "?"}, nil, 1},
		{"stream no usage", providertest.Reply{Text: "?"}, []llms.CallOption{streamOpt()}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := providertest.NewAnthropic(providertest.Fixed(tc.reply))
			defer srv.Close()
			llm, err := srv.AnthropicClient()
			if err != nil {
				t.Fatal(err)
			}
			runE2E(t, llm, srv, tc, true, false)
		})
	}
}

func TestUsageOfOllamaClient(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	u := &providertest.Usage{Prompt: 26, Completion: 298}
	for _, tc := range []e2eCase{
		{"non-stream", providertest.Reply{Text: "Sunny.", Usage: u}, nil, 1},
		{"stream", providertest.Reply{Text: "Sunny and warm today.", Usage: u}, []llms.CallOption{streamOpt()}, 1},
		{"no usage", providertest.Reply{Text: "?"}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := providertest.NewOllama(providertest.Fixed(tc.reply))
			defer srv.Close()
			llm, err := srv.OllamaClient()
			if err != nil {
				t.Fatal(err)
			}
			runE2E(t, llm, srv, tc, false, false)
		})
	}
}

// A provider error leaves no response to read usage from.
func TestUsageOfAfterProviderError(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Status: 500, Text: "boom"}))
	defer srv.Close()
	llm, err := srv.OpenAIClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := llm.GenerateContent(context.Background(), e2eMsgs)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v", err)
	}
	if u, ok := llmwrap.UsageOf(resp); ok || u != (llmwrap.Usage{}) {
		t.Errorf("UsageOf(nil) = %+v, %v", u, ok)
	}
}
