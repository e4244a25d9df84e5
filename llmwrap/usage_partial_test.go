package llmwrap_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

func withOutput(r *llms.ContentResponse, text string) *llms.ContentResponse {
	r.Choices[len(r.Choices)-1].Content = text
	return r
}

// A count of 0 that cannot be real is reported as missing, for every provider; what
// was reported is kept.
func TestReportedUsage(t *testing.T) {
	answer := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 57) // ~2.5 KB, as in the issue
	toolOnly := respWith(openaiInfo(40, 0, 0, 0))
	toolOnly.Choices[0].ToolCalls = []llms.ToolCall{{ID: "c", FunctionCall: &llms.FunctionCall{Name: "f", Arguments: `{"x":1}`}}}
	reasoningOnly := respWith(anthropicTextInfo(30, 0, 0, 0))
	reasoningOnly.Choices[0].ReasoningContent = "Let me think."
	funcOnly := respWith(openaiInfo(40, 0, 0, 0))
	funcOnly.Choices[0].FuncCall = &llms.FunctionCall{Name: "f"}
	for _, tc := range []struct {
		name    string
		resp    *llms.ContentResponse
		want    llmwrap.Usage
		missing llmwrap.Missing
	}{
		// langchaingo's googleai: the usage of a stream's first chunk, which the
		// response cannot tell from a whole one, so the completion is missing. A chunk
		// without a candidates count was not the last: its prompt is provisional too.
		{"googleai first chunk", withOutput(respWith(googleaiInfo(9, 0, 0)), answer),
			llmwrap.Usage{}, llmwrap.MissingAll},
		{"googleai running count", withOutput(respWith(googleaiInfo(9, 4, 0)), answer),
			llmwrap.Usage{PromptTokens: 9, CompletionTokens: 4}, llmwrap.MissingCompletion},
		{"googleai whole", withOutput(respWith(googleaiInfo(8, 578, 0)), answer),
			llmwrap.Usage{PromptTokens: 8, CompletionTokens: 578}, llmwrap.MissingCompletion},
		{"googleai no output", respWith(googleaiInfo(8, 0, 0)), llmwrap.Usage{PromptTokens: 8}, llmwrap.MissingCompletion},
		// vertex answers in one body: its report is whole.
		{"vertex", withOutput(respWith(vertexInfo(7, 8, 68)), "Paris"),
			llmwrap.Usage{PromptTokens: 7, CompletionTokens: 61, ReasoningTokens: 53}, 0},
		{"openai completion key absent", withOutput(respWith(map[string]any{"PromptTokens": 12}), "hi"),
			llmwrap.Usage{PromptTokens: 12}, llmwrap.MissingCompletion},
		{"anthropic output 0", withOutput(respWith(anthropicTextInfo(30, 0, 0, 0)), "hi"),
			llmwrap.Usage{PromptTokens: 30}, llmwrap.MissingCompletion},
		{"tool call only", toolOnly, llmwrap.Usage{PromptTokens: 40}, llmwrap.MissingCompletion},
		{"reasoning only", reasoningOnly, llmwrap.Usage{PromptTokens: 30}, llmwrap.MissingCompletion},
		{"legacy function call only", funcOnly, llmwrap.Usage{PromptTokens: 40}, llmwrap.MissingCompletion},
		// Ollama leaves prompt_eval_count out when its cache held the whole prompt.
		{"ollama cached prompt", withOutput(respWith(ollamaInfo(0, 12)), "hi"),
			llmwrap.Usage{CompletionTokens: 12}, llmwrap.MissingPrompt},
		{"bedrock output key absent", withOutput(respWith(map[string]any{"input_tokens": 20}), "hi"),
			llmwrap.Usage{PromptTokens: 20}, llmwrap.MissingCompletion},
		// A completion of 0 with nothing said is a real report.
		{"empty answer", respWith(openaiInfo(40, 0, 0, 0)), llmwrap.Usage{PromptTokens: 40}, 0},
		{"all zero with text", withOutput(respWith(openaiInfo(0, 0, 0, 0)), "hi"), llmwrap.Usage{}, llmwrap.MissingAll},
		{"no keys", withOutput(respWith(map[string]any{"model": "x"}), "hi"), llmwrap.Usage{}, llmwrap.MissingAll},
		{"nil", nil, llmwrap.Usage{}, llmwrap.MissingAll},
		{"full", withOutput(respWith(openaiInfo(40, 7, 0, 0)), "hi"), llmwrap.Usage{PromptTokens: 40, CompletionTokens: 7}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, missing := llmwrap.ReportedUsage(tc.resp)
			if got != tc.want || missing != tc.missing {
				t.Errorf("ReportedUsage = %+v, %b; want %+v, %b", got, missing, tc.want, tc.missing)
			}
		})
	}
}

func TestReportedUsageDoesNotAllocate(t *testing.T) {
	resp := withOutput(respWith(googleaiInfo(9, 0, 0)), "hello")
	if n := testing.AllocsPerRun(100, func() { llmwrap.ReportedUsage(resp) }); n != 0 {
		t.Errorf("ReportedUsage allocates %v times", n)
	}
}

func ExampleReportedUsage() {
	// What langchaingo's openai client returns from a server that counted the
	// prompt and not the answer.
	resp := &llms.ContentResponse{Choices: []*llms.ContentChoice{{
		Content:        "A long answer ...",
		GenerationInfo: map[string]any{"PromptTokens": 9, "CompletionTokens": 0},
	}}}
	u, missing := llmwrap.ReportedUsage(resp)
	fmt.Println(u.PromptTokens, missing&llmwrap.MissingCompletion != 0)
	// Output: 9 true
}

// fixedResp is a model answering resp to every call.
type fixedResp struct{ resp *llms.ContentResponse }

func (m fixedResp) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return m.resp, nil
}

func (m fixedResp) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

// Wrap's model step records which part of a report is missing in the Spend, and
// keeps the reported counts. For googleai it knows which calls the genai SDK streamed
// (a streaming function, or other than one message): only those carry a first
// chunk's usage.
func TestWrapMarksPartialUsage(t *testing.T) {
	one := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hi")}
	two := append([]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeSystem, "sys")}, one...)
	stream := []llms.CallOption{llms.WithStreamingFunc(func(context.Context, []byte) error { return nil })}
	for i, tc := range []struct {
		resp    *llms.ContentResponse
		msgs    []llms.MessageContent
		opts    []llms.CallOption
		usage   llmwrap.Usage
		missing llmwrap.Missing
	}{
		{withOutput(respWith(googleaiInfo(9, 0, 0)), "a long answer"), one, nil, llmwrap.Usage{PromptTokens: 9}, llmwrap.MissingCompletion},
		{withOutput(respWith(googleaiInfo(9, 4, 0)), "a long answer"), one, nil, llmwrap.Usage{PromptTokens: 9, CompletionTokens: 4}, 0},
		{withOutput(respWith(googleaiInfo(9, 4, 0)), "a long answer"), one, stream, llmwrap.Usage{PromptTokens: 9, CompletionTokens: 4}, llmwrap.MissingCompletion},
		{withOutput(respWith(googleaiInfo(9, 4, 0)), "a long answer"), two, nil, llmwrap.Usage{PromptTokens: 9, CompletionTokens: 4}, llmwrap.MissingCompletion},
		{withOutput(respWith(googleaiInfo(9, 0, 0)), "a long answer"), one, stream, llmwrap.Usage{}, llmwrap.MissingAll},
		{withOutput(respWith(openaiInfo(9, 4, 0, 0)), "a long answer"), two, stream, llmwrap.Usage{PromptTokens: 9, CompletionTokens: 4}, 0},
		{withOutput(respWith(map[string]any{}), "a long answer"), one, nil, llmwrap.Usage{}, llmwrap.MissingAll},
	} {
		var got *llmwrap.Spend
		m := llmwrap.Wrap(fixedResp{tc.resp}, llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) {
			c := *s
			got = &c
		}))
		if _, err := m.GenerateContent(context.Background(), tc.msgs, tc.opts...); err != nil {
			t.Fatal(err)
		}
		if got.Usage != tc.usage || got.UsageMissing != tc.missing || !got.Sent {
			t.Errorf("case %d: usage %+v missing %b sent %v; want %+v %b true", i, got.Usage, got.UsageMissing, got.Sent, tc.usage, tc.missing)
		}
	}
}

// Gemini's thoughts are billed as output and reach the Usage through the total
// langchaingo passes on (the counts of recorded calls: internal/realbills).
func TestUsageOfGeminiThoughts(t *testing.T) {
	thinking := googleaiInfo(34, 469, 0)
	thinking["TotalTokens"], thinking["total_tokens"] = int32(1290), int32(1290) // 787 thoughts
	bedrock := map[string]any{"input_tokens": 7, "output_tokens": 8, "total_tokens": 68}
	for _, tc := range []struct {
		name string
		resp *llms.ContentResponse
		want llmwrap.Usage
	}{
		{"googleai", respWith(thinking), llmwrap.Usage{PromptTokens: 34, CompletionTokens: 1256, ReasoningTokens: 787}},
		{"googleai no thoughts", respWith(googleaiInfo(34, 469, 0)), llmwrap.Usage{PromptTokens: 34, CompletionTokens: 469}},
		{"vertex", respWith(vertexInfo(7, 8, 68)), llmwrap.Usage{PromptTokens: 7, CompletionTokens: 61, ReasoningTokens: 53}},
		{"vertex total short", respWith(vertexInfo(7, 8, 10)), llmwrap.Usage{PromptTokens: 7, CompletionTokens: 8}},
		// Only Google's total counts thoughts: another provider's total is not read.
		{"bedrock total", respWith(bedrock), llmwrap.Usage{PromptTokens: 7, CompletionTokens: 8}},
	} {
		if got, ok := llmwrap.UsageOf(tc.resp); !ok || got != tc.want {
			t.Errorf("%s: UsageOf = %+v, %v; want %+v", tc.name, got, ok, tc.want)
		}
	}
}

// vertexInfo is llms/googleai/vertex's map: input, output (candidates) and total.
func vertexInfo(prompt, candidates, total int32) map[string]any {
	return map[string]any{"citations": nil, "safety": nil,
		"input_tokens": prompt, "output_tokens": candidates, "total_tokens": total}
}
