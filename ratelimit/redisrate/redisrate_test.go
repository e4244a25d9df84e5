package redisrate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/ratelimit"
	"github.com/spendguard/spendguard/ratelimit/redisrate"
)

func newLimit(t *testing.T, rdb redis.UniversalClient, name string, l ratelimit.Limit) ratelimit.Limiter {
	t.Helper()
	lim, err := redisrate.New(rdb, name, l)
	require.NoError(t, err)
	return lim
}

func reserve(t *testing.T, l ratelimit.Limiter, in, out uint64) *ratelimit.Reservation {
	t.Helper()
	r, err := l.Reserve(ctx, ratelimit.Cost{Input: in, Output: out})
	require.NoError(t, err)
	return r
}

func within(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(ctx, d)
}

func TestNewRejectsBadInput(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	ok := ratelimit.Limit{Interval: time.Second, Tokens: 10}
	for _, c := range []struct {
		rdb  redis.UniversalClient
		name string
		l    ratelimit.Limit
		opts []redisrate.Option
	}{
		{nil, "a", ok, nil},
		{(*redis.Client)(nil), "a", ok, nil},
		{rdb, "", ok, nil},
		{rdb, "a{b}", ok, nil},
		{rdb, "a", ratelimit.Limit{Interval: time.Second}, nil},
		{rdb, "a", ratelimit.Limit{Interval: time.Microsecond, Tokens: 1}, nil},
		{rdb, "a", ok, []redisrate.Option{redisrate.WithKeyPrefix("x{")}},
	} {
		_, err := redisrate.New(c.rdb, c.name, c.l, c.opts...)
		assert.Error(t, err, "%+v", c)
	}
}

func TestUnreachableRedisFailsClosed(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	lim, err := redisrate.New(rdb, "down", ratelimit.Limit{Interval: time.Second, Tokens: 10})
	require.NoError(t, err)
	_, err = lim.Reserve(ctx, ratelimit.Cost{Input: 1})
	assert.ErrorIs(t, err, budget.ErrUnavailable)
}

func TestBehaviour(t *testing.T) { onEachRedis(t, testBehaviour) }

func testBehaviour(t *testing.T, rdb redis.UniversalClient) {
	t.Run("never fits", func(t *testing.T) {
		lim := newLimit(t, rdb, uniqueName(t), ratelimit.Limit{Interval: time.Hour, Tokens: 100, Output: 30})
		_, err := lim.Reserve(ctx, ratelimit.Cost{Input: 10, Output: 31})
		var e *ratelimit.Error
		require.ErrorAs(t, err, &e)
		assert.True(t, e.Never)
		assert.False(t, errors.Is(err, budget.ErrDenied))
	})
	t.Run("waits for room, shared by two replicas", func(t *testing.T) {
		const interval = 200 * time.Millisecond
		name := uniqueName(t)
		a := newLimit(t, rdb, name, ratelimit.Limit{Interval: interval, Tokens: 100})
		b := newLimit(t, rdb, name, ratelimit.Limit{Interval: interval, Tokens: 100})
		first := reserve(t, a, 60, 10)
		second := reserve(t, b, 40, 0) // b sees a's hold: 70 + 40 > 100
		gap := second.Start.Sub(first.Start)
		assert.GreaterOrEqual(t, gap, interval)
		assert.LessOrEqual(t, gap, interval+interval/64+2*time.Millisecond)
		assert.Positive(t, second.Waited)
	})
	t.Run("deadline before fit fails at once with the wait", func(t *testing.T) {
		lim := newLimit(t, rdb, uniqueName(t), ratelimit.Limit{Interval: time.Hour, Requests: 1})
		reserve(t, lim, 1, 1)
		c, cancel := within(t, time.Minute)
		defer cancel()
		_, err := lim.Reserve(c, ratelimit.Cost{Input: 1})
		var e *ratelimit.Error
		require.ErrorAs(t, err, &e)
		assert.Greater(t, e.Wait, 59*time.Minute)
	})
	t.Run("settle refunds, charges overage, once", func(t *testing.T) {
		lim := newLimit(t, rdb, uniqueName(t), ratelimit.Limit{Interval: time.Hour, Tokens: 100})
		r := reserve(t, lim, 50, 50)
		require.NoError(t, lim.Settle(ctx, r, ratelimit.Cost{Input: 5, Output: 5}, 0))
		require.NoError(t, lim.Settle(ctx, r, ratelimit.Cost{Input: 50, Output: 50}, 0), "a duplicate is a no-op")
		r2 := reserve(t, lim, 80, 10)
		assert.Zero(t, r2.Waited, "the refund made room")
		require.NoError(t, lim.Settle(ctx, r2, ratelimit.Cost{Input: 80, Output: 20}, 0)) // 10 + 100: over
		c, cancel := within(t, time.Second)
		defer cancel()
		_, err := lim.Reserve(c, ratelimit.Cost{Input: 1})
		assert.ErrorAs(t, err, new(*ratelimit.Error), "the overage was charged")
	})
	t.Run("a 429 gives everything back and pauses every replica", func(t *testing.T) {
		name := uniqueName(t)
		l := ratelimit.Limit{Interval: 10 * time.Millisecond, Tokens: 1000, Requests: 1}
		a, b := newLimit(t, rdb, name, l), newLimit(t, rdb, name, l)
		r := reserve(t, a, 100, 100)
		before := time.Now()
		require.NoError(t, a.Settle(ctx, r, ratelimit.Cost{}, 300*time.Millisecond))
		next := reserve(t, b, 100, 100)
		assert.False(t, next.Start.Before(before.Add(300*time.Millisecond-5*time.Millisecond)), "admitted during the pause")
		assert.Positive(t, next.Waited)
	})
	t.Run("a cancelled waiter holds nothing", func(t *testing.T) {
		lim := newLimit(t, rdb, uniqueName(t), ratelimit.Limit{Interval: time.Hour, Tokens: 100})
		reserve(t, lim, 60, 0)
		c, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() {
			_, err := lim.Reserve(c, ratelimit.Cost{Input: 60})
			done <- err
		}()
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		r := reserve(t, lim, 40, 0)
		assert.Zero(t, r.Waited, "the cancelled waiter still holds its tokens or its place")
	})
	t.Run("foreign reservations", func(t *testing.T) {
		lim := newLimit(t, rdb, uniqueName(t), ratelimit.Limit{Interval: time.Hour, Tokens: 100})
		assert.Error(t, lim.Settle(ctx, nil, ratelimit.Cost{}, 0))
		local, _ := ratelimit.New("x", ratelimit.Limit{Interval: time.Hour, Tokens: 100})
		r, _ := local.Reserve(ctx, ratelimit.Cost{Input: 1})
		assert.Error(t, lim.Settle(ctx, r, ratelimit.Cost{}, 0))
	})
	t.Run("keys share one slot and expire", func(t *testing.T) {
		name := uniqueName(t)
		lim := newLimit(t, rdb, name, ratelimit.Limit{Interval: time.Second, Tokens: 100})
		reserve(t, lim, 1, 1)
		for _, k := range []string{":window", ":holds"} {
			key := "spendguard-rate:{" + name + "}" + k
			ttl, err := rdb.PTTL(ctx, key).Result()
			require.NoError(t, err)
			assert.Positive(t, ttl, key)
			assert.LessOrEqual(t, ttl, 2*time.Second+time.Second+time.Second/64+time.Second, key) // interval twice, a slot, a second
		}
	})
}
