package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
	"github.com/spendguard/spendguard/ratelimit"
)

// spends collects each call's Spend.Rate and Spend.Budget, copied.
type spends struct {
	mu     sync.Mutex
	rate   []*llmwrap.RateWait
	budget []*llmwrap.BudgetCharge
}

func (r *spends) hook() llmwrap.Middleware {
	return llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) {
		r.mu.Lock()
		defer r.mu.Unlock()
		var w *llmwrap.RateWait
		if s.Rate != nil {
			c := *s.Rate
			w = &c
		}
		var b *llmwrap.BudgetCharge
		if s.Budget != nil {
			c := *s.Budget
			b = &c
		}
		r.rate, r.budget = append(r.rate, w), append(r.budget, b)
	})
}

func (r *spends) last() (*llmwrap.RateWait, *llmwrap.BudgetCharge) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rate[len(r.rate)-1], r.budget[len(r.budget)-1]
}

// wrapOpenAI is langchaingo's real openai client against srv, wrapped as a user would:
// spend hook, budget, then the rate limit.
func wrapOpenAI(t *testing.T, srv *providertest.Server, b budget.TokenBudget, l ratelimit.Limiter, rec *spends) llms.Model {
	t.Helper()
	llm, err := srv.OpenAIClient()
	require.NoError(t, err)
	mws := []llmwrap.Middleware{rec.hook(), llmwrap.WithModelName("gpt-4o")}
	if b != nil {
		mws = append(mws, middleware.Budget(b))
	}
	return llmwrap.Wrap(llm, append(mws, ratelimit.Middleware(l))...)
}

var hello = []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hello")}

func TestMiddlewareWaitsAndSettlesWhatWasBilled(t *testing.T) {
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: "hi", Usage: &providertest.Usage{Prompt: 500, Completion: 100}}))
	defer srv.Close()
	const interval = 200 * time.Millisecond
	lim := newLimiter(t, ratelimit.Limit{Interval: interval, Tokens: 1500})
	rec := &spends{}
	model := wrapOpenAI(t, srv, budget.NewAtomic(1_000_000), lim, rec)

	var starts []time.Time
	for range 3 {
		_, err := model.GenerateContent(ctx, hello, llms.WithMaxTokens(700))
		require.NoError(t, err)
		w, b := rec.last()
		require.NotNil(t, w)
		assert.Equal(t, b.PromptEstimate, w.EstimateInput, "the limit takes the budget's prompt estimate")
		assert.Equal(t, uint64(700), w.EstimateOutput, "and the MaxTokens sent, as OpenAI counts it")
		assert.Equal(t, [2]uint64{500, 100}, [2]uint64{w.ChargedInput, w.ChargedOutput}, "the settle counts what was billed")
		assert.Equal(t, t.Name(), w.Limiter)
		starts = append(starts, w.Start)
	}
	w, _ := rec.last()
	// 600 + 600 billed, then 600 + ~710 estimated > 1500: the third call waited for
	// the first to stop counting.
	assert.Positive(t, w.Waited)
	assert.GreaterOrEqual(t, starts[2].Sub(starts[0]), interval)
	assert.Less(t, starts[1].Sub(starts[0]), interval, "the second call fitted beside the first")
}

func TestMiddleware429PausesChargesNothingAndIsNotRetried(t *testing.T) {
	const msg = "Rate limit reached for gpt-4o in organization org-test on tokens per min (TPM): Limit 30000, Used 29500, Requested 900. Please try again in 300ms. Visit https://platform.openai.com/account/rate-limits to learn more."
	srv := providertest.NewOpenAI(providertest.Sequence(
		providertest.Reply{Status: 429, Text: msg},
		providertest.Reply{Text: "hi", Usage: &providertest.Usage{Prompt: 10, Completion: 2}}))
	defer srv.Close()
	lim := newLimiter(t, ratelimit.Limit{Interval: time.Millisecond, Tokens: 100_000})
	rec := &spends{}
	// Two wrapped models sharing one limit: replicas of a fleet, in one process.
	replica1 := wrapOpenAI(t, srv, budget.NewAtomic(1_000_000), lim, rec)
	replica2 := wrapOpenAI(t, srv, budget.NewAtomic(1_000_000), lim, rec)

	before := time.Now()
	_, err := replica1.GenerateContent(ctx, hello)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "429", "the provider's error is returned as it is")
	assert.Len(t, srv.Requests(), 1, "spendguard did not retry the call")
	w, b := rec.last()
	assert.Equal(t, 300*time.Millisecond, w.RetryAfter)
	assert.Zero(t, w.ChargedInput+w.ChargedOutput, "a 429 gives the hold back")
	assert.Zero(t, b.Charged, "and the budget charged nothing")
	assert.False(t, errors.Is(err, budget.ErrDenied))

	_, err = replica2.GenerateContent(ctx, hello)
	require.NoError(t, err)
	w, _ = rec.last()
	assert.False(t, w.Start.Before(before.Add(300*time.Millisecond)), "the other replica's call went out during the pause")
	assert.Positive(t, w.Waited)
}

func TestMiddlewareLimitIsNotADenial(t *testing.T) {
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: "hi", Usage: &providertest.Usage{Prompt: 10, Completion: 2}}))
	defer srv.Close()
	lim := newLimiter(t, ratelimit.Limit{Interval: time.Hour, Tokens: 500})
	rec := &spends{}
	model := wrapOpenAI(t, srv, budget.NewAtomic(1_000_000), lim, rec)

	_, err := model.GenerateContent(ctx, hello, llms.WithMaxTokens(600)) // can never fit 500
	var le *ratelimit.Error
	require.ErrorAs(t, err, &le)
	assert.True(t, le.Never)
	assert.False(t, errors.Is(err, budget.ErrDenied), "a rate limit is not a budget denial")
	assert.Empty(t, srv.Requests(), "not sent")
	w, b := rec.last()
	assert.True(t, w.Limited)
	assert.Zero(t, b.Charged)

	// A deadline the call would fit only after: refused at once, with the wait.
	_, err = model.GenerateContent(ctx, hello, llms.WithMaxTokens(450))
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = model.GenerateContent(short, hello, llms.WithMaxTokens(490))
	require.ErrorAs(t, err, &le)
	assert.Greater(t, le.Wait, 59*time.Minute)
	assert.Len(t, srv.Requests(), 1)
}

func TestMiddlewareBudgetDenialStaysADenial(t *testing.T) {
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: "hi"}))
	defer srv.Close()
	lim := newLimiter(t, ratelimit.Limit{Interval: time.Hour, Requests: 1})
	rec := &spends{}
	model := wrapOpenAI(t, srv, budget.NewAtomic(10), lim, rec)
	_, err := model.GenerateContent(ctx, hello)
	require.ErrorIs(t, err, budget.ErrDenied)
	w, _ := rec.last()
	assert.Nil(t, w, "a denied call never reaches the limit")
	r := reserve(t, lim, 1, 1)
	assert.Zero(t, r.Waited, "the limit's one request is still there")
}

func TestMiddlewareWithoutBudgetEstimatesItself(t *testing.T) {
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: "hi"})) // no usage reported
	defer srv.Close()
	lim := newLimiter(t, ratelimit.Limit{Interval: time.Hour, Tokens: 100_000})
	rec := &spends{}
	model := wrapOpenAI(t, srv, nil, lim, rec)
	_, err := model.GenerateContent(ctx, hello)
	require.NoError(t, err)
	w, _ := rec.last()
	assert.Positive(t, w.EstimateInput)
	assert.Equal(t, uint64(1024), w.EstimateOutput)
	assert.Equal(t, [2]uint64{w.EstimateInput, w.EstimateOutput}, [2]uint64{w.ChargedInput, w.ChargedOutput},
		"no usage reported: the estimate stays counted")
}

func TestMiddlewarePassesThrough(t *testing.T) {
	called := false
	next := func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
		called = true
		return &llms.ContentResponse{}, nil
	}
	lim := newLimiter(t, ratelimit.Limit{Interval: time.Hour, Requests: 1})
	_, err := ratelimit.Middleware(lim)(next)(ctx, hello) // outside Wrap
	require.NoError(t, err)
	assert.True(t, called)
	_, err = ratelimit.Middleware(lim)(nil)(ctx, hello)
	assert.Error(t, err)
	r := reserve(t, lim, 1, 1)
	assert.Zero(t, r.Waited, "outside Wrap nothing was reserved")
}
