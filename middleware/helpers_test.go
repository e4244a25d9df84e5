package middleware_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tmc/langchaingo/llms"
	"go.uber.org/goleak"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeModel is an in-memory llms.Model driven by a function; it counts calls and
// keeps the parsed options of the last one.
type fakeModel struct {
	fn    func(ctx context.Context, msgs []llms.MessageContent, o llms.CallOptions) (*llms.ContentResponse, error)
	calls atomic.Int64

	mu   sync.Mutex
	last llms.CallOptions
}

func (m *fakeModel) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	m.calls.Add(1)
	var o llms.CallOptions
	for _, opt := range opts {
		opt(&o)
	}
	m.mu.Lock()
	m.last = o
	m.mu.Unlock()
	return m.fn(ctx, msgs, o)
}

func (m *fakeModel) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

func (m *fakeModel) lastOptions() llms.CallOptions {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// replyWith returns a model answering text with openai-style usage (none when
// prompt and completion are both 0).
func replyWith(text string, prompt, completion int, stop string) *fakeModel {
	return &fakeModel{fn: func(context.Context, []llms.MessageContent, llms.CallOptions) (*llms.ContentResponse, error) {
		return response(text, prompt, completion, stop), nil
	}}
}

func response(text string, prompt, completion int, stop string) *llms.ContentResponse {
	c := &llms.ContentChoice{Content: text, StopReason: stop, GenerationInfo: map[string]any{}}
	if prompt != 0 || completion != 0 {
		c.GenerationInfo["PromptTokens"] = prompt
		c.GenerationInfo["CompletionTokens"] = completion
		c.GenerationInfo["TotalTokens"] = prompt + completion
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{c}}
}

// fixedEstimator estimates every prompt at n tokens.
type fixedEstimator uint64

func (e fixedEstimator) Estimate([]llms.MessageContent, *llms.CallOptions) uint64 { return uint64(e) }

// capture copies the call's Spend once the call is over; put it first.
func capture(dst *llmwrap.Spend) llmwrap.Middleware {
	return llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) { *dst = *s })
}

var hello = []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hello")}

func snapshot(t *testing.T, b budget.Observable) budget.Snapshot {
	t.Helper()
	s, err := b.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantSettled fails unless b holds nothing and has consumed exactly consumed.
func wantSettled(t *testing.T, b budget.Observable, consumed uint64) {
	t.Helper()
	s := snapshot(t, b)
	if s.Held != 0 || s.Consumed != consumed {
		t.Errorf("budget %q: consumed %d held %d, want consumed %d held 0", s.Name, s.Consumed, s.Held, consumed)
	}
}
