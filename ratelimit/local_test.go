package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/ratelimit"
)

var ctx = context.Background()

func newLimiter(t *testing.T, l ratelimit.Limit) ratelimit.Limiter {
	t.Helper()
	lim, err := ratelimit.New(t.Name(), l)
	require.NoError(t, err)
	return lim
}

func reserve(t *testing.T, l ratelimit.Limiter, in, out uint64) *ratelimit.Reservation {
	t.Helper()
	r, err := l.Reserve(ctx, ratelimit.Cost{Input: in, Output: out})
	require.NoError(t, err)
	return r
}

func TestNewRejectsBadLimits(t *testing.T) {
	for _, l := range []ratelimit.Limit{
		{Tokens: 10},                         // no interval
		{Interval: -time.Second, Tokens: 10}, // negative
		{Interval: time.Second},              // no count
	} {
		_, err := ratelimit.New("x", l)
		assert.Error(t, err, "%+v", l)
	}
}

func TestNeverFitsFailsAtOnce(t *testing.T) {
	for _, l := range []ratelimit.Limit{
		{Interval: time.Hour, Tokens: 100},
		{Interval: time.Hour, Input: 60},
		{Interval: time.Hour, Output: 40},
	} {
		lim := newLimiter(t, l)
		_, err := lim.Reserve(ctx, ratelimit.Cost{Input: 61, Output: 41})
		var e *ratelimit.Error
		require.ErrorAs(t, err, &e, "%+v", l)
		assert.True(t, e.Never)
		assert.Zero(t, e.Wait)
		assert.False(t, errors.Is(err, budget.ErrDenied), "a rate limit is not a budget denial")
		// It held nothing: the whole limit is still there.
		r := reserve(t, lim, 60, 40)
		assert.Zero(t, r.Waited)
	}
}

func TestWaitsUntilTheWindowHasRoom(t *testing.T) {
	const interval = 100 * time.Millisecond
	lim := newLimiter(t, ratelimit.Limit{Interval: interval, Tokens: 100})
	a := reserve(t, lim, 30, 30)
	require.NoError(t, lim.Settle(ctx, a, ratelimit.Cost{Input: 30, Output: 30}, 0))
	b := reserve(t, lim, 20, 20) // 60 + 40 fits
	assert.Zero(t, b.Waited)
	c := reserve(t, lim, 50, 0) // 100 + 50 does not: waits for a's and b's slot to stop counting
	gap := c.Start.Sub(a.Start)
	assert.GreaterOrEqual(t, gap, interval, "c was admitted within one interval of a")
	assert.LessOrEqual(t, gap, interval+interval/64+time.Millisecond, "c waited more than an interval and a slot")
	assert.Positive(t, c.Waited)
}

func TestDeadlineBeforeFitFailsAtOnceWithTheWait(t *testing.T) {
	lim := newLimiter(t, ratelimit.Limit{Interval: time.Hour, Requests: 1})
	reserve(t, lim, 1, 1)
	short, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	start := time.Now()
	_, err := lim.Reserve(short, ratelimit.Cost{Input: 1})
	var e *ratelimit.Error
	require.ErrorAs(t, err, &e)
	assert.False(t, e.Never)
	assert.Greater(t, e.Wait, 59*time.Minute, "the wait it reports is the hour's rest")
	assert.Less(t, time.Since(start), time.Minute, "it did not wait for the deadline")
}

func TestSettleGivesBackWhatWasNotUsed(t *testing.T) {
	lim := newLimiter(t, ratelimit.Limit{Interval: time.Hour, Tokens: 100})
	a := reserve(t, lim, 50, 50)
	require.NoError(t, lim.Settle(ctx, a, ratelimit.Cost{Input: 5, Output: 5}, 0))
	require.NoError(t, lim.Settle(ctx, a, ratelimit.Cost{Input: 0, Output: 1}, 0), "a second settle is a no-op")
	b := reserve(t, lim, 90, 0)
	assert.Zero(t, b.Waited, "the refund made room")
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := lim.Reserve(short, ratelimit.Cost{Input: 1})
	assert.ErrorAs(t, err, new(*ratelimit.Error), "the limit is full again: 10 used + 90 held")
}

func TestSettleChargesOverage(t *testing.T) {
	lim := newLimiter(t, ratelimit.Limit{Interval: time.Hour, Tokens: 100})
	a := reserve(t, lim, 10, 10)
	require.NoError(t, lim.Settle(ctx, a, ratelimit.Cost{Input: 10, Output: 90}, 0))
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := lim.Reserve(short, ratelimit.Cost{Input: 1})
	assert.ErrorAs(t, err, new(*ratelimit.Error), "the overage was charged: 100 used")
}

func TestZeroSettleGivesBackTheRequest(t *testing.T) {
	lim := newLimiter(t, ratelimit.Limit{Interval: time.Hour, Requests: 1, Tokens: 100})
	a := reserve(t, lim, 50, 50)
	require.NoError(t, lim.Settle(ctx, a, ratelimit.Cost{}, 0)) // a 429: nothing billed
	b := reserve(t, lim, 50, 50)
	assert.Zero(t, b.Waited)
}

func TestRetryAfterPausesTheLimit(t *testing.T) {
	lim := newLimiter(t, ratelimit.Limit{Interval: time.Millisecond, Tokens: 1000})
	a := reserve(t, lim, 10, 10)
	before := time.Now()
	require.NoError(t, lim.Settle(ctx, a, ratelimit.Cost{}, 150*time.Millisecond))
	b := reserve(t, lim, 10, 10)
	assert.False(t, b.Start.Before(before.Add(150*time.Millisecond)), "admitted during the pause")
	assert.Positive(t, b.Waited)
}

func TestCancelWhileWaitingHoldsNothing(t *testing.T) {
	lim := newLimiter(t, ratelimit.Limit{Interval: time.Hour, Tokens: 100})
	reserve(t, lim, 60, 0)
	c, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		_, err := lim.Reserve(c, ratelimit.Cost{Input: 60}) // waits an hour
		done <- err
	}()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	r := reserve(t, lim, 40, 0) // fits beside the first: the cancelled call holds nothing
	assert.Zero(t, r.Waited, "the cancelled waiter still holds tokens or the queue's place")
}

func TestSettleRejectsForeignReservations(t *testing.T) {
	a := newLimiter(t, ratelimit.Limit{Interval: time.Hour, Tokens: 100})
	b, err := ratelimit.New("other", ratelimit.Limit{Interval: time.Hour, Tokens: 100})
	require.NoError(t, err)
	r := reserve(t, a, 1, 1)
	assert.Error(t, b.Settle(ctx, r, ratelimit.Cost{}, 0))
	assert.Error(t, a.Settle(ctx, nil, ratelimit.Cost{}, 0))
	assert.Error(t, a.Settle(ctx, &ratelimit.Reservation{ID: r.ID}, ratelimit.Cost{}, 0))
}
