package geminitest_test

import (
	"context"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

// langchaingo v0.1.14's googleai client against a server speaking the Gemini REST
// wire (moved here from llmwrap, whose tests must not import the Google clients). A
// single-message call without streaming is answered in one body and reports the
// whole usage; a streamed call, and any call with more than one message (the genai
// SDK's chat session always streams), reports the first chunk's usage, whose
// completion count is the output so far. ReportedUsage, which sees only the response,
// takes googleai's completion for missing in every case; Wrap, which sees the call,
// keeps it as reported for the single-message call.
func TestReportedUsageGeminiClient(t *testing.T) {
	srv, llm := geminiServer(t)
	one := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "Tell me about streams.")}
	two := append([]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeSystem, "Be thorough.")}, one...)
	for _, tc := range []struct {
		name   string
		msgs   []llms.MessageContent
		opts   []llms.CallOption
		stream bool // the SDK streamed it: the first chunk's usage
	}{
		{"one message", one, nil, false},
		{"one message streamed", one, []llms.CallOption{streamOpt()}, true},
		{"system + human", two, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := llm.GenerateContent(context.Background(), tc.msgs, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Choices) != 1 || resp.Choices[0].Content != longAnswer {
				t.Fatalf("client returned %d choices, text %q", len(resp.Choices), resp.Choices[0].Content)
			}
			got, missing := llmwrap.ReportedUsage(resp)
			if got.PromptTokens != 8 || missing != llmwrap.MissingCompletion ||
				tc.stream != (got.CompletionTokens < 578) || got.CompletionTokens == 0 {
				t.Errorf("ReportedUsage = %+v, %b; want prompt 8, completion missing (578, or the first chunk's share)", got, missing)
			}

			var s llmwrap.Spend
			w := llmwrap.Wrap(llm, capture(&s))
			if _, err := w.GenerateContent(context.Background(), tc.msgs, tc.opts...); err != nil {
				t.Fatal(err)
			}
			if s.Usage.PromptTokens != 8 || (s.UsageMissing == 0) == tc.stream ||
				!tc.stream && s.Usage.CompletionTokens != 578 {
				t.Errorf("Spend usage %+v (missing %b), want it whole: %v", s.Usage, s.UsageMissing, !tc.stream)
			}
		})
	}
	for _, r := range srv.Requests() {
		if r.Model != "gemini-2.0-flash" {
			t.Errorf("request to %s for model %q", r.Path, r.Model)
		}
	}
}
