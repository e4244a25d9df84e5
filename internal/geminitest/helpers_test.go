package geminitest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/googleai"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/internal/providertest/geminiclient"
	"github.com/spendguard/spendguard/llmwrap"
)

// capture copies the call's Spend once the call is over; put it first.
func capture(dst *llmwrap.Spend) llmwrap.Middleware {
	return llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) { *dst = *s })
}

var hello = []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hello")}

func streamOpt() llms.CallOption {
	return llms.WithStreamingFunc(func(context.Context, []byte) error { return nil })
}

// wantSettled fails unless b holds nothing and has consumed exactly consumed.
func wantSettled(t *testing.T, b budget.Observable, consumed uint64) {
	t.Helper()
	s, err := b.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Held != 0 || s.Consumed != consumed {
		t.Errorf("budget %q: consumed %d held %d, want consumed %d held 0", s.Name, s.Consumed, s.Held, consumed)
	}
}

// longAnswer is what the fake Gemini server streams in several hundred pieces.
var longAnswer = strings.TrimSpace(strings.Repeat("Gemini streams its answer in pieces. ", 70))

// geminiServer starts a providertest Gemini server that answers longAnswer, billed
// 8 + 578 tokens, and langchaingo's googleai client for it.
func geminiServer(t *testing.T) (*providertest.Server, *googleai.GoogleAI) {
	t.Helper()
	srv := providertest.NewGemini(providertest.Fixed(providertest.Reply{Text: longAnswer,
		Usage: &providertest.Usage{Prompt: 8, Completion: 578}}))
	t.Cleanup(srv.Close)
	llm, err := geminiclient.New(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = llm.Close() })
	return srv, llm
}
