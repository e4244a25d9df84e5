package loopguard_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/loopguard"
)

// toolConversation is an agent run of n messages (n odd, at least 3) that is not
// stuck: a system prompt, the task, then (n-3)/2 tool calls with their results,
// arguments and results all different, after one call whose result never came when
// lost is set (a tool that crashed, a history cut by hand).
func toolConversation(n int, lost bool) []llms.MessageContent {
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You are a research agent. Use the tools to answer; cite what you found."),
		llms.TextParts(llms.ChatMessageTypeHuman, "Find every paper on token budgets for LLM agents published since 2023 and summarize their findings."),
	}
	if lost {
		msgs = append(msgs, llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
			llms.ToolCall{ID: "call_lost", Type: "function", FunctionCall: &llms.FunctionCall{Name: "search", Arguments: `{"query": "token budgets"}`}}}})
	}
	tools := []string{"search", "fetch_page", "calculator"}
	for i := 0; len(msgs)+2 <= n; i++ {
		id := fmt.Sprintf("call_%03d", i)
		name := tools[i%len(tools)]
		args := fmt.Sprintf(`{"query": "token budgets agents %d", "page": %d, "lang": "en"}`, i, i/3+1)
		result := fmt.Sprintf("Result %d: %s found %d documents; the first says that agents overspend by a factor of %d when no budget is enforced, and that loops account for most of it.",
			i, name, 10+i, 2+i%7)
		msgs = append(msgs,
			llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
				llms.ToolCall{ID: id, Type: "function", FunctionCall: &llms.FunctionCall{Name: name, Arguments: args}}}},
			llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
				llms.ToolCallResponse{ToolCallID: id, Name: name, Content: result}}})
	}
	return msgs
}

// mrklConversation is a OneShotAgent prompt with 99 rounds in its scratchpad.
func mrklConversation() []llms.MessageContent {
	var b strings.Builder
	b.WriteString("Answer the following questions as best you can. You have access to the following tools:\n\n- search: searches\n\n" +
		"Use the following format:\n\nQuestion: the input question you must answer\nThought: you should always think about what to do\n" +
		"Action: the action to take, should be one of [ search ]\nAction Input: the input to the action\nObservation: the result of the action\n" +
		"... (this Thought/Action/Action Input/Observation can repeat N times)\nThought: I now know the final answer\n" +
		"Final Answer: the final answer to the original input question\n\nBegin!\n\nQuestion: find the papers\n")
	for i := range 99 {
		fmt.Fprintf(&b, "\nThought: I should search further\nAction: search\nAction Input: token budgets agents %d\n", i)
		fmt.Fprintf(&b, "Observation: Result %d: found %d documents; the first says that agents overspend by a factor of %d.\n", i, 10+i, 2+i%7)
	}
	return []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, b.String())}
}

func benchGuard(b *testing.B, msgs []llms.MessageContent) {
	resp := &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "ok"}}}
	gen := loopguard.New()(func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
		return resp, nil
	})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gen(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEstimate(b *testing.B, msgs []llms.MessageContent) {
	est := estimate.Default()
	var opts llms.CallOptions
	b.ReportAllocs()
	for b.Loop() {
		if est.Estimate(msgs, &opts) == 0 {
			b.Fatal("no estimate")
		}
	}
}

// BenchmarkLoopGuard200 is LoopGuard's check of a 200-message tool-calling
// conversation; BenchmarkLoopEstimate200, its baseline, is the default estimator on
// the same messages (scripts/benchratio.go prints the ratio; the target is ≤ 5 %).
func BenchmarkLoopGuard200(b *testing.B)    { benchGuard(b, toolConversation(200, false)) }
func BenchmarkLoopEstimate200(b *testing.B) { benchEstimate(b, toolConversation(200, false)) }

// BenchmarkLoopGuardUnanswered1000 and 10000 are the check of a conversation of 1,000
// and 10,000 messages whose first tool call never got its result: 10000 against 1000
// is the growth with the run (10× is linear), and each against
// BenchmarkLoopEstimateUnanswered of the same size is the share of the estimator's
// time.
func BenchmarkLoopGuardUnanswered1000(b *testing.B) { benchGuard(b, toolConversation(1001, true)) }
func BenchmarkLoopGuardUnanswered10000(b *testing.B) {
	benchGuard(b, toolConversation(10001, true))
}
func BenchmarkLoopEstimateUnanswered1000(b *testing.B) {
	benchEstimate(b, toolConversation(1001, true))
}
func BenchmarkLoopEstimateUnanswered10000(b *testing.B) {
	benchEstimate(b, toolConversation(10001, true))
}

// BenchmarkLoopGuardMRKL is the same for a OneShotAgent prompt of 99 rounds, against
// BenchmarkLoopEstimateMRKL.
func BenchmarkLoopGuardMRKL(b *testing.B)    { benchGuard(b, mrklConversation()) }
func BenchmarkLoopEstimateMRKL(b *testing.B) { benchEstimate(b, mrklConversation()) }
