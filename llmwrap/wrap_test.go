package llmwrap_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/wrapkit"
)

// echo is an in-memory llms.Model: it answers with the number of messages it got.
type echo struct {
	calls int
	resp  *llms.ContentResponse
	err   error
}

func (e *echo) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	e.calls++
	if e.resp != nil || e.err != nil {
		return e.resp, e.err
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "ok"}}}, nil
}

func (e *echo) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, e, prompt, opts...)
}

type reasoning struct{ echo }

func (*reasoning) SupportsReasoning() bool { return true }

func TestWrapOrderAndSpend(t *testing.T) {
	var order []string
	var seen []*llmwrap.Spend
	mw := func(name string) llmwrap.Middleware {
		return func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
			return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
				order = append(order, name)
				seen = append(seen, llmwrap.SpendFrom(ctx))
				return next(ctx, msgs, opts...)
			}
		}
	}
	inner := &echo{}
	m := llmwrap.Wrap(inner, mw("outer"), nil, mw("inner"))
	_, err := m.GenerateContent(context.Background(), nil, llms.WithMaxTokens(42))
	require.NoError(t, err)
	assert.Equal(t, []string{"outer", "inner"}, order)
	require.Len(t, seen, 2)
	require.NotNil(t, seen[0])
	assert.Same(t, seen[0], seen[1], "one Spend per call, shared by every middleware")
	assert.Equal(t, "unknown", seen[0].Model)
	assert.Equal(t, "*llmwrap_test.echo", seen[0].ModelType)
	assert.Equal(t, 42, seen[0].MaxTokens)

	_, _ = m.GenerateContent(context.Background(), nil)
	assert.NotSame(t, seen[0], seen[2], "a fresh Spend for every call")
	assert.Nil(t, llmwrap.SpendFrom(context.Background()))
	assert.Nil(t, llmwrap.SpendFrom(nil)) //nolint:staticcheck // bad input must not panic
}

func TestModelName(t *testing.T) {
	var got string
	capture := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			got = llmwrap.SpendFrom(ctx).Model
			return next(ctx, msgs, opts...)
		}
	}
	m := llmwrap.Wrap(&echo{}, llmwrap.WithModelName("gpt-4o-mini"), capture)
	_, _ = m.GenerateContent(context.Background(), nil)
	assert.Equal(t, "gpt-4o-mini", got)
	_, _ = m.GenerateContent(context.Background(), nil, llms.WithModel("o3"))
	assert.Equal(t, "o3", got, "the call's own model wins")
}

func TestCallGoesThroughGenerateContent(t *testing.T) {
	calls := 0
	count := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			calls++
			require.Len(t, msgs, 1)
			assert.Equal(t, llms.ChatMessageTypeHuman, msgs[0].Role)
			return next(ctx, msgs, opts...)
		}
	}
	m := llmwrap.Wrap(&echo{}, count)
	out, err := m.Call(context.Background(), "hi")
	require.NoError(t, err)
	assert.Equal(t, "ok", out)
	out, err = llms.GenerateFromSinglePrompt(context.Background(), m, "hi")
	require.NoError(t, err)
	assert.Equal(t, "ok", out)
	assert.Equal(t, 2, calls)
}

func TestReasoningModelStaysReasoning(t *testing.T) {
	m := llmwrap.Wrap(&reasoning{})
	rm, ok := m.(llms.ReasoningModel)
	require.True(t, ok)
	assert.True(t, rm.SupportsReasoning())
	assert.True(t, llms.SupportsReasoningModel(m))
	_, ok = llmwrap.Wrap(&echo{}).(llms.ReasoningModel)
	assert.False(t, ok)
}

func TestBadModelsGiveErrorsNotPanics(t *testing.T) {
	// A model that returns neither a response nor an error.
	m := llmwrap.Wrap(&echo{resp: nil, err: nil, calls: 0})
	var spend *llmwrap.Spend
	m = llmwrap.Wrap(&nilModel{}, func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			spend = llmwrap.SpendFrom(ctx)
			return next(ctx, msgs, opts...)
		}
	})
	_, err := m.GenerateContent(context.Background(), nil)
	require.ErrorIs(t, err, llmwrap.ErrEmptyResponse)
	assert.ErrorIs(t, spend.Err, llmwrap.ErrEmptyResponse)
	_, err = m.Call(context.Background(), "x")
	require.ErrorIs(t, err, llmwrap.ErrEmptyResponse)

	empty := llmwrap.Wrap(&echo{resp: &llms.ContentResponse{}})
	_, err = empty.Call(context.Background(), "x")
	require.ErrorIs(t, err, llmwrap.ErrEmptyResponse)

	_, err = llmwrap.Wrap(nil).GenerateContent(context.Background(), nil)
	require.Error(t, err)

	boom := errors.New("boom")
	_, err = llmwrap.Wrap(&echo{err: boom}).Call(nil, "x") //nolint:staticcheck // a nil context is bad input
	require.ErrorIs(t, err, boom)
}

type nilModel struct{ echo }

func (*nilModel) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return nil, nil
}

func TestSpendRefunded(t *testing.T) {
	assert.Equal(t, uint64(30), (&llmwrap.BudgetCharge{Reserved: 100, Charged: 70}).Refunded())
	assert.Equal(t, uint64(0), (&llmwrap.BudgetCharge{Reserved: 100, Charged: 170}).Refunded())
}

// Wrap reads the caller's options into the Spend before the first middleware runs,
// skipping nil options.
func TestWrapParsesOptions(t *testing.T) {
	var before llmwrap.Spend
	peek := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			before = *llmwrap.SpendFrom(ctx)
			return next(ctx, msgs, opts...)
		}
	}
	m := llmwrap.Wrap(&echo{}, peek)
	_, err := m.GenerateContent(context.Background(), nil, llms.WithModel("m"), nil, llms.WithMaxTokens(7), llms.WithN(2))
	require.NoError(t, err)
	assert.Equal(t, "m", before.Model)
	assert.Equal(t, 7, before.Options.MaxTokens)
	assert.Equal(t, 2, before.Options.N)
	assert.False(t, before.Sent, "nothing was sent yet")
	assert.Equal(t, llmwrap.MissingAll, before.UsageMissing, "nothing was reported yet")
	_, err = m.GenerateContent(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, "unknown", before.Model)
}

// TestTerminalRecordsAnotherModel: a middleware that sends the call to another model
// through Terminal gets the same record in the Spend as Wrap's own innermost step
// gives the wrapped model, and StartFallback says which model was skipped.
func TestTerminalRecordsAnotherModel(t *testing.T) {
	other := &echo{resp: &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "other",
		GenerationInfo: map[string]any{"PromptTokens": 7, "CompletionTokens": 3, "TotalTokens": 10}}}}}
	primary := &echo{}
	var got llmwrap.Spend
	divert := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		call := wrapkit.Terminal(other)
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			s := llmwrap.SpendFrom(ctx)
			f := wrapkit.StartFallback(s, "other-model", "*llmwrap_test.echo", 99)
			assert.Same(t, f, wrapkit.StartFallback(s, "third", "", 1), "a second switch keeps the first From")
			s.Model = "other-model"
			resp, err := call(ctx, msgs, opts...)
			got = *s
			return resp, err
		}
	}
	m := llmwrap.Wrap(primary, llmwrap.WithModelName("primary"), divert)
	resp, err := m.GenerateContent(context.Background(), nil, llms.WithMaxTokens(5))
	require.NoError(t, err)
	assert.Equal(t, "other", resp.Choices[0].Content)
	assert.Equal(t, 0, primary.calls)
	assert.True(t, got.Sent)
	assert.Equal(t, 5, got.MaxTokens)
	assert.Equal(t, llmwrap.Missing(0), got.UsageMissing)
	assert.Equal(t, llmwrap.Usage{PromptTokens: 7, CompletionTokens: 3}, got.Usage)
	require.NotNil(t, got.Fallback)
	assert.Equal(t, llmwrap.Fallback{From: "primary", FromEstimate: 99}, *got.Fallback)

	// Outside a wrapped call it only calls the model; a nil model is an error.
	_, err = wrapkit.Terminal(other)(context.Background(), nil)
	require.NoError(t, err)
	_, err = wrapkit.Terminal(nil)(context.Background(), nil)
	require.Error(t, err)
	_, err = llmwrap.Wrap(nil).GenerateContent(context.Background(), nil)
	require.Error(t, err)
}
