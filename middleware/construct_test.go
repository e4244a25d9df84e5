package middleware_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
	"github.com/spendguard/spendguard/price"
)

// One Budget value applied to a nil next, then to real models from several
// goroutines: the nil application fails on its own, the others work, and the
// applications do not race (issue 17's bug: the first captured a shared error).
func TestBudgetValueIsReusable(t *testing.T) {
	b := budget.NewAtomic(10_000)
	mw := middleware.Budget(b, middleware.WithEstimator(fixedEstimator(10)), middleware.WithCompletionAllowance(10))
	_, err := mw(nil)(context.Background(), hello)
	require.Error(t, err, "a nil next is refused")

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := llmwrap.Wrap(replyWith("hi", 5, 2, "stop"), mw)
			_, err := m.GenerateContent(context.Background(), hello)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	wantSettled(t, b, 4*7)
}

// A configuration error is reported when the middleware is built.
func TestBudgetPanicsOnBadConfiguration(t *testing.T) {
	b := budget.NewAtomic(10_000)
	assert.PanicsWithError(t, `middleware: WithFallback: alternative 1 ("cheap") has a nil Model`, func() {
		middleware.Budget(b, middleware.WithFallback(middleware.Alternative{Name: "cheap"}))
	})
	assert.Panics(t, func() {
		middleware.Budget(b, middleware.WithPrices(price.Table{"big": {Rates: price.Rates{Input: 1}}}),
			middleware.WithFallback(middleware.Alternative{Name: "cheap", Model: replyWith("hi", 1, 1, "stop")}))
	}, "an unpriced alternative")
}

// Outside Wrap there is no record to settle: the call is refused and not sent.
func TestBudgetOutsideWrapIsRefused(t *testing.T) {
	b := budget.NewAtomic(10_000)
	model := replyWith("hi", 5, 2, "stop")
	gen := middleware.Budget(b)(model.GenerateContent)
	_, err := gen(context.Background(), hello)
	require.Error(t, err)
	assert.Zero(t, model.calls.Load(), "nothing was sent")
	wantSettled(t, b, 0)
}

// OnSpend's hook runs once the call is over, with the finished record, wherever it
// stands in the list, as long as the call reached it: one first sees denials too.
func TestOnSpendSeesTheWholeRecord(t *testing.T) {
	for _, capacity := range []uint64{1, 10_000} {
		b := budget.NewAtomic(capacity, budget.WithName("b"))
		var first, last []llmwrap.Spend
		m := llmwrap.Wrap(replyWith("hi", 5, 2, "stop"),
			llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) { first = append(first, *s) }),
			middleware.Budget(b, middleware.WithEstimator(fixedEstimator(10))),
			llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) { last = append(last, *s) }))
		_, err := m.GenerateContent(context.Background(), hello, llms.WithMaxTokens(3))
		require.Len(t, first, 1)
		s := first[0]
		require.NotNil(t, s.Budget)
		assert.Equal(t, err, s.Err)
		if capacity == 1 {
			require.ErrorIs(t, err, budget.ErrDenied)
			assert.True(t, s.Budget.Denied)
			assert.False(t, s.Sent)
			assert.Empty(t, last, "the call never reached the inner OnSpend")
			continue
		}
		require.NoError(t, err)
		require.Len(t, last, 1)
		for _, s := range []llmwrap.Spend{first[0], last[0]} {
			assert.True(t, s.Sent)
			assert.Equal(t, uint64(7), s.Budget.Charged, "the inner hook runs after the settle too")
			assert.Equal(t, llmwrap.UsageReported, s.Budget.UsageSource)
		}
	}
}
