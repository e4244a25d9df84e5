package llmwrap_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"
	"go.uber.org/goleak"

	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/internal/providertest/geminiclient"
	"github.com/spendguard/spendguard/llmwrap"
)

// langchaingo v0.1.14's googleai client against a server speaking the Gemini REST
// wire: a single-message call without streaming reports the whole usage; a streamed
// call, and any call with more than one message (the genai SDK's chat session always
// streams), reports the first chunk's usage, whose completion count is 0. That is
// the issue-10 bug, reproduced with the real client: ReportedUsage must say the
// completion is missing.
func TestReportedUsageGeminiClient(t *testing.T) {
	ignore := []goleak.Option{goleak.IgnoreCurrent()}
	for _, f := range geminiclient.Leaks {
		ignore = append(ignore, goleak.IgnoreTopFunction(f))
	}
	defer goleak.VerifyNone(t, ignore...)
	answer := strings.TrimSpace(strings.Repeat("Gemini streams its answer in pieces. ", 70))
	srv := providertest.NewGemini(providertest.Fixed(providertest.Reply{Text: answer,
		Usage: &providertest.Usage{Prompt: 8, Completion: 578}}))
	defer srv.Close()
	llm, err := geminiclient.New(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer llm.Close()
	one := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "Tell me about streams.")}
	two := append([]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeSystem, "Be thorough.")}, one...)
	for _, tc := range []struct {
		name    string
		msgs    []llms.MessageContent
		opts    []llms.CallOption
		want    llmwrap.Usage
		missing llmwrap.Missing
	}{
		{"one message", one, nil, llmwrap.Usage{PromptTokens: 8, CompletionTokens: 578}, 0},
		{"one message streamed", one, []llms.CallOption{streamOpt()}, llmwrap.Usage{PromptTokens: 8}, llmwrap.MissingCompletion},
		{"system + human", two, nil, llmwrap.Usage{PromptTokens: 8}, llmwrap.MissingCompletion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := llm.GenerateContent(context.Background(), tc.msgs, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Choices) != 1 || resp.Choices[0].Content != answer {
				t.Fatalf("client returned %d choices, text %q", len(resp.Choices), resp.Choices[0].Content)
			}
			got, missing := llmwrap.ReportedUsage(resp)
			if got != tc.want || missing != tc.missing {
				t.Errorf("ReportedUsage = %+v, %b; want %+v, %b", got, missing, tc.want, tc.missing)
			}
		})
	}
	for _, r := range srv.Requests() {
		if r.Model != "gemini-2.0-flash" {
			t.Errorf("request to %s for model %q", r.Path, r.Model)
		}
	}
}
