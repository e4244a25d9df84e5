package redisbudget_test

import (
	"context"
	"errors"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/budget/redisbudget"
)

func newBudget(t testing.TB, rdb redis.UniversalClient, capacity uint64, opts ...redisbudget.Option) *redisbudget.Budget {
	t.Helper()
	b, err := redisbudget.New(rdb, uniqueName(t), capacity, opts...)
	require.NoError(t, err)
	return b
}

func snap(t testing.TB, b *redisbudget.Budget) budget.Snapshot {
	t.Helper()
	s, err := b.Snapshot(ctx)
	require.NoError(t, err)
	return s
}

func requireDenied(t testing.TB, err error, requested, remaining uint64) {
	t.Helper()
	require.ErrorIs(t, err, budget.ErrDenied)
	var d *budget.DeniedError
	require.ErrorAs(t, err, &d)
	assert.Equal(t, requested, d.Requested, "requested")
	assert.Equal(t, remaining, d.Remaining, "remaining")
}

func TestReserveRecordRelease(t *testing.T) { onEachRedis(t, testReserveRecordRelease) }

func testReserveRecordRelease(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 1000)
	r, err := b.TryReserve(ctx, 300)
	require.NoError(t, err)
	assert.Equal(t, uint64(300), r.Tokens())
	require.NoError(t, budgetkit.CheckIssuer(r, b, ""), "issued by b")
	assert.Len(t, budgetkit.ID(r), 32)
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Held: 300, Remaining: 700}, snap(t, b))

	require.NoError(t, b.Record(ctx, r, 120, 80))
	assert.True(t, budgetkit.Settled(r))
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 200, Remaining: 800}, snap(t, b))

	_, err = b.TryReserve(ctx, 900)
	requireDenied(t, err, 900, 800)

	r2, err := b.TryReserve(ctx, 800)
	require.NoError(t, err)
	require.NoError(t, b.Release(ctx, r2))
	assert.Equal(t, uint64(200), snap(t, b).Consumed)
	assert.Equal(t, uint64(800), snap(t, b).Remaining)
}

func TestDebtCarriedAndZeroDenied(t *testing.T) { onEachRedis(t, testDebtCarriedAndZeroDenied) }

func testDebtCarriedAndZeroDenied(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 100)
	r, err := b.TryReserve(ctx, 0) // an estimate of 0 is granted while something is left
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 90, 60)) // 50 of debt
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 100, Consumed: 150}, snap(t, b))
	_, err = b.TryReserve(ctx, 0)
	requireDenied(t, err, 0, 0)
	_, err = b.TryReserveRange(ctx, 0, 10)
	requireDenied(t, err, 0, 0)
}

func TestRange(t *testing.T) { onEachRedis(t, testRange) }

func testRange(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 100)
	r, err := b.TryReserveRange(ctx, 10, 70)
	require.NoError(t, err)
	assert.Equal(t, uint64(70), r.Tokens())
	r2, err := b.TryReserveRange(ctx, 10, 70) // 30 left: all of it
	require.NoError(t, err)
	assert.Equal(t, uint64(30), r2.Tokens())
	require.NoError(t, b.Release(ctx, r2))
	_, err = b.TryReserveRange(ctx, 31, 50)
	requireDenied(t, err, 31, 30)
	_, err = b.TryReserveRange(ctx, 40, 5) // min > max: exactly min
	requireDenied(t, err, 40, 30)
	r3, err := b.TryReserveRange(ctx, 20, 5)
	require.NoError(t, err)
	assert.Equal(t, uint64(20), r3.Tokens())
}

func TestDuplicateSettlesIgnored(t *testing.T) { onEachRedis(t, testDuplicateSettlesIgnored) }

func testDuplicateSettlesIgnored(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 1000)
	r, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 40, 0))
	require.NoError(t, b.Record(ctx, r, 500, 0))
	require.NoError(t, b.Release(ctx, r))
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 40, Remaining: 960}, snap(t, b))

	// Concurrent settles of one reservation all reach Redis; its marker lets one through.
	r, err = b.TryReserve(ctx, 100)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				assert.NoError(t, b.Record(ctx, r, 10, 0))
			} else {
				assert.NoError(t, b.Record(ctx, r, 10, 0))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 50, Remaining: 950}, snap(t, b))

	// Another process holding a copy of the reservation (same id) is deduplicated by
	// Redis, not by the in-memory flag.
	r, err = b.TryReserve(ctx, 100)
	require.NoError(t, err)
	twin := budgetkit.NewReservation(b, budgetkit.ID(r), r.Tokens())
	require.NoError(t, b.Record(ctx, r, 5, 0))
	require.NoError(t, b.Record(ctx, twin, 5, 0))
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 55, Remaining: 945}, snap(t, b))
}

func TestReserveRetryIsIdempotent(t *testing.T) { onEachRedis(t, testReserveRetryIsIdempotent) }

func testReserveRetryIsIdempotent(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 1000)
	// What a client library resends after losing the reply of a reserve that ran.
	args := []any{"1200000", "0", "1000", "10", "300", "0123456789abcdef0123456789abcdef", "600000", "0"}
	for range 2 {
		res, err := redisbudget.ReserveScript.Run(ctx, rdb, b.Keys(), args...).Int64Slice()
		require.NoError(t, err)
		require.Len(t, res, 4)
		assert.Equal(t, []int64{1, 300, 700}, res[:3], "then Redis's TIME")
	}
	assert.Equal(t, uint64(300), snap(t, b).Held)
}

func TestBadReservations(t *testing.T) { onEachRedis(t, testBadReservations) }

func testBadReservations(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 1000)
	other := newBudget(t, rdb, 1000)
	require.ErrorIs(t, b.Record(ctx, nil, 1, 1), budgetkit.ErrInvalidReservation)
	require.ErrorIs(t, b.Release(ctx, nil), budgetkit.ErrInvalidReservation)

	r, err := other.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.ErrorIs(t, b.Record(ctx, r, 1, 1), budgetkit.ErrInvalidReservation)
	require.ErrorIs(t, b.Release(ctx, r), budgetkit.ErrInvalidReservation)
	assert.False(t, budgetkit.Settled(r))

	a := budget.NewAtomic(10)
	ra, err := a.TryReserve(ctx, 1)
	require.NoError(t, err)
	require.ErrorIs(t, b.Release(ctx, ra), budgetkit.ErrInvalidReservation)

	for _, id := range []string{"x/abc", "2026-01-01T00:00:00Z/abc"} {
		err := b.Release(ctx, budgetkit.NewReservation(b, id, 1))
		require.ErrorIs(t, err, budgetkit.ErrInvalidReservation, id)
	}
	assert.Equal(t, uint64(1000), snap(t, b).Remaining)
}

func TestNewRejects(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	var typedNil *redis.Client
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
		bn   string
		cap  uint64
		opts []redisbudget.Option
		want string
	}{
		{"nil client", nil, "b", 1, nil, "nil Redis client"},
		{"typed nil client", typedNil, "b", 1, nil, "nil Redis client"},
		{"empty name", rdb, "", 1, nil, "empty budget name"},
		{"brace in name", rdb, "a}b", 1, nil, "hash tag"},
		{"capacity above 2^53", rdb, "b", 1<<53 + 1, nil, "above 2^53"},
		{"max capacity", rdb, "b", math.MaxUint64, nil, "above 2^53"},
		{"zero lease", rdb, "b", 1, []redisbudget.Option{redisbudget.WithLease(0)}, "lease"},
		{"endless lease", rdb, "b", 1, []redisbudget.Option{redisbudget.WithLease(math.MaxInt64)}, "lease"},
		{"brace in prefix", rdb, "b", 1, []redisbudget.Option{redisbudget.WithKeyPrefix("x{")}, "prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := redisbudget.New(tc.rdb, tc.bn, tc.cap, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, b)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	b, err := redisbudget.New(rdb, "b", 1<<53, nil, redisbudget.WithKeyPrefix(""))
	require.NoError(t, err)
	assert.Equal(t, uint64(1<<53), b.Capacity())
	assert.Equal(t, redisbudget.DefaultLease, b.Lease())
}

func TestWrongTypeKeyIsAClearError(t *testing.T) { onEachRedis(t, testWrongTypeKeyIsAClearError) }

func testWrongTypeKeyIsAClearError(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 1000)
	r, err := b.TryReserve(ctx, 10)
	require.NoError(t, err)
	keys := b.Keys()

	require.NoError(t, rdb.Del(ctx, keys[0]).Err())
	require.NoError(t, rdb.Set(ctx, keys[0], "not a hash", 0).Err())
	_, err = b.TryReserve(ctx, 10)
	require.Error(t, err)
	assert.NotErrorIs(t, err, budget.ErrUnavailable)
	assert.Contains(t, err.Error(), "WRONGTYPE")
	assert.Contains(t, err.Error(), b.Name())
	err = b.Record(ctx, r, 1, 1)
	require.Error(t, err)
	assert.NotErrorIs(t, err, budget.ErrUnavailable)
	assert.False(t, budgetkit.Settled(r), "a failed settle stays retryable")
	_, err = b.Snapshot(ctx)
	assert.NotErrorIs(t, err, budget.ErrUnavailable)
	require.ErrorContains(t, err, "WRONGTYPE")

	// A corrupt counter is reported too, and leaves nothing half-written.
	require.NoError(t, rdb.Del(ctx, keys[0]).Err())
	require.NoError(t, rdb.HSet(ctx, keys[0], "c", "-0.5").Err())
	_, err = b.TryReserve(ctx, 10)
	require.ErrorContains(t, err, "corrupt consumed")
	assert.NotErrorIs(t, err, budget.ErrUnavailable)
	n, err := rdb.HLen(ctx, keys[0]).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	// The lease set of the wrong type.
	require.NoError(t, rdb.Del(ctx, keys[0]).Err())
	require.NoError(t, rdb.Del(ctx, keys[1]).Err())
	require.NoError(t, rdb.LPush(ctx, keys[1], "x").Err())
	_, err = b.TryReserve(ctx, 10)
	require.ErrorContains(t, err, "WRONGTYPE")
}

func TestSaturation(t *testing.T) { onEachRedis(t, testSaturation) }

func testSaturation(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, redisbudget.MaxCapacity)
	_, err := b.TryReserve(ctx, math.MaxUint64)
	requireDenied(t, err, math.MaxUint64, redisbudget.MaxCapacity)
	_, err = b.TryReserve(ctx, redisbudget.MaxCapacity+1)
	requireDenied(t, err, redisbudget.MaxCapacity+1, redisbudget.MaxCapacity)

	r, err := b.TryReserveRange(ctx, 1, math.MaxUint64)
	require.NoError(t, err)
	assert.Equal(t, uint64(redisbudget.MaxCapacity), r.Tokens())
	assert.Equal(t, uint64(0), snap(t, b).Remaining)
	require.NoError(t, b.Release(ctx, r))

	r, err = b.TryReserve(ctx, redisbudget.MaxCapacity-1)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, redisbudget.MaxCapacity-3, 1))
	s := snap(t, b)
	assert.Equal(t, uint64(redisbudget.MaxCapacity-2), s.Consumed, "exact just below 2^53")
	assert.Equal(t, uint64(2), s.Remaining)

	r, err = b.TryReserve(ctx, 1)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, math.MaxUint64, math.MaxUint64))
	s = snap(t, b)
	assert.Equal(t, uint64(redisbudget.MaxCapacity), s.Consumed, "saturated")
	assert.Equal(t, uint64(0), s.Held)
	assert.Equal(t, uint64(0), s.Remaining)
	_, err = b.TryReserve(ctx, 0)
	requireDenied(t, err, 0, 0)
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestUnreachableFailsClosed(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1})
	defer rdb.Close()
	b, err := redisbudget.New(rdb, "down", 100)
	require.NoError(t, err)
	r, err := b.TryReserve(ctx, 10)
	require.ErrorIs(t, err, budget.ErrUnavailable)
	assert.NotErrorIs(t, err, budget.ErrDenied)
	assert.Nil(t, r)
	_, err = b.TryReserveRange(ctx, 1, 10)
	require.ErrorIs(t, err, budget.ErrUnavailable)
	_, err = b.Snapshot(ctx)
	require.ErrorIs(t, err, budget.ErrUnavailable)
	r = budgetkit.NewReservation(b, "0123", 5)
	require.ErrorIs(t, b.Record(ctx, r, 1, 1), budget.ErrUnavailable)
	assert.False(t, budgetkit.Settled(r))
}

func TestFailOpen(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1})
	defer rdb.Close()
	b, err := redisbudget.New(rdb, "down", 100, redisbudget.WithFailOpen())
	require.NoError(t, err)
	r, err := b.TryReserve(ctx, 1_000_000)
	require.NoError(t, err)
	require.True(t, r.FailedOpen())
	assert.Equal(t, uint64(1_000_000), r.Tokens())
	require.NoError(t, budgetkit.CheckIssuer(r, b, ""), "issued by b")
	require.NoError(t, b.Record(ctx, r, 5, 5))
	require.NoError(t, b.Release(ctx, r))

	r, err = b.TryReserveRange(ctx, 10, 20)
	require.NoError(t, err)
	assert.Equal(t, uint64(20), r.Tokens())
	require.NoError(t, b.Release(ctx, r))
	// Observing still reports the failure.
	_, err = b.Snapshot(ctx)
	require.ErrorIs(t, err, budget.ErrUnavailable)
}

func TestFailOpenStillDeniesWhenReachable(t *testing.T) {
	onEachRedis(t, testFailOpenStillDeniesWhenReachable)
}

func testFailOpenStillDeniesWhenReachable(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 10, redisbudget.WithFailOpen())
	r, err := b.TryReserve(ctx, 10)
	require.NoError(t, err)
	assert.False(t, r.FailedOpen())
	_, err = b.TryReserve(ctx, 1)
	requireDenied(t, err, 1, 0)
	// A data error is not an outage: no fail-open grant for it.
	require.NoError(t, rdb.Set(ctx, b.Keys()[0], "x", 0).Err())
	_, err = b.TryReserve(ctx, 1)
	require.ErrorContains(t, err, "WRONGTYPE")
}

func TestScriptCacheFlushFallsBackToEval(t *testing.T) {
	onEachRedis(t, testScriptCacheFlushFallsBackToEval)
}

func testScriptCacheFlushFallsBackToEval(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 100)
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	r, err := b.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	require.NoError(t, b.Record(ctx, r, 3, 4))
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	assert.Equal(t, uint64(7), snap(t, b).Consumed)
}

func TestKeysCarryHashTag(t *testing.T) { onEachRedis(t, testKeysCarryHashTag) }

func testKeysCarryHashTag(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 100, redisbudget.WithLease(time.Minute), redisbudget.WithKeyPrefix("sgtest"))
	r, err := b.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 1, 0))
	r, err = b.TryReserve(ctx, 10) // a live hold, so the lease set exists
	require.NoError(t, err)
	keys := keysOf(t, rdb, b)
	assert.ElementsMatch(t, b.Keys()[:2], keys, "a settle leaves no key behind")
	for _, k := range b.Keys() {
		assert.True(t, strings.HasPrefix(k, "sgtest:{"+b.Name()+"}:"), k)
	}
	require.NoError(t, b.Release(ctx, r))
}

func TestCanceledContextIsNotUnavailable(t *testing.T) {
	onEachRedis(t, testCanceledContextIsNotUnavailable)
}

func testCanceledContextIsNotUnavailable(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 100)
	c, cancel := contextWithCancel()
	cancel()
	_, err := b.TryReserve(c, 1)
	require.Error(t, err)
	assert.True(t, errors.Is(err, errCanceled), err)
	assert.NotErrorIs(t, err, budget.ErrUnavailable)
}

// TestTimeoutIsUnavailable: a server that accepts but never answers is unavailable.
func TestTimeoutIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns sync.WaitGroup
	done := make(chan struct{})
	conns.Add(1)
	go func() {
		defer conns.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { // read and never answer
				defer conns.Done()
				<-done
				_ = c.Close()
			}()
		}
	}()
	defer func() {
		close(done)
		_ = l.Close()
		conns.Wait()
	}()
	rdb := redis.NewClient(&redis.Options{Addr: l.Addr().String(), MaxRetries: -1, DialerRetries: 1,
		ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond, Protocol: 2})
	defer rdb.Close()
	b, err := redisbudget.New(rdb, "silent", 100)
	require.NoError(t, err)
	_, err = b.TryReserve(ctx, 1)
	require.ErrorIs(t, err, budget.ErrUnavailable)

	c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = b.Snapshot(c)
	require.ErrorIs(t, err, budget.ErrUnavailable)
}

// TestRemainingFollowsTheScripts: Remaining is what the last reserve or settle through
// the budget reported was left, with no round trip of its own; other processes' calls
// show up with the next one.
func TestRemainingFollowsTheScripts(t *testing.T) {
	rdb := client(t)
	b := newBudget(t, rdb, 1000)
	assert.Equal(t, uint64(1000), b.Remaining(), "before any call: the capacity")
	r, err := b.TryReserve(ctx, 300)
	require.NoError(t, err)
	assert.Equal(t, uint64(700), b.Remaining())
	require.NoError(t, b.Record(ctx, r, 100, 50))
	assert.Equal(t, uint64(850), b.Remaining())

	other, err := redisbudget.New(rdb, b.Name(), 1000)
	require.NoError(t, err)
	r2, err := other.TryReserve(ctx, 800)
	require.NoError(t, err)
	assert.Equal(t, uint64(850), b.Remaining(), "another budget value's call is not seen without a call")
	_, err = b.TryReserve(ctx, 100)
	var d *budget.DeniedError
	require.ErrorAs(t, err, &d)
	assert.Equal(t, uint64(50), b.Remaining(), "a denial reports what is left too")
	require.NoError(t, other.Record(ctx, r2, 900, 0)) // 50 over the hold: debt
	r3, err := b.TryReserve(ctx, 0)
	assert.Error(t, err, "nothing left denies everything")
	assert.Nil(t, r3)
	assert.Equal(t, uint64(0), b.Remaining(), "in debt: nothing left, not a negative number")
}
