package redisbudget_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/internal/testenv"
)

// overshootBound is how far past its deadline a call may return: a correctness bound
// (the call does not wait on Redis), not a speed measure.
const overshootBound = 250 * time.Millisecond

// frozenServer runs a redis-server of the test's own and returns its address, its
// pid, and the client the README builds (no ContextTimeoutEnabled, default timeouts
// and retries). The server is resumed (SIGCONT) when the test ends, before it is
// killed.
func frozenServer(t *testing.T) (rdb *redis.Client, pid int, stop func()) {
	t.Helper()
	bin := testenv.Need(t, testenv.RedisServer)
	addr := closedAddr(t)
	stop, pid = ownServerPID(t, bin, addr)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) // runs before stop's cleanup
	rdb = redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, pid, stop
}

// within runs f and returns how long past deadline it returned (negative: before).
func within(deadline time.Time, f func()) time.Duration {
	f()
	return time.Since(deadline)
}

// TestFrozenRedisReserveReturnsAtItsDeadline: with Redis stopped (SIGSTOP), a
// TryReserve with a 500 ms deadline returns ErrUnavailable at its deadline, not when
// Redis or the client's ReadTimeout lets it, and once Redis resumes the reservation
// was never granted: held and consumed are what they were.
func TestFrozenRedisReserveReturnsAtItsDeadline(t *testing.T) {
	rdb, pid, _ := frozenServer(t)
	b, err := redisbudget.New(rdb, uniqueName(t), 1000)
	require.NoError(t, err)
	r, err := b.TryReserve(ctx, 100) // loads the script, learns Redis's clock
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 30, 10))
	before := snap(t, b)

	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	dl, _ := dctx.Deadline()
	var got *budget.Reservation
	over := within(dl, func() { got, err = b.TryReserve(dctx, 100) })
	t.Logf("TryReserve returned %v past its 500 ms deadline", over)
	assert.LessOrEqual(t, over, overshootBound, "returned %v past its deadline", over)
	assert.Nil(t, got)
	require.ErrorIs(t, err, budget.ErrUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, syscall.Kill(pid, syscall.SIGCONT))
	b.WaitLate() // the abandoned call has had Redis's answer (and given back a late grant)
	assert.Equal(t, before, snap(t, b), "nothing granted after the deadline")
}

// TestFrozenRedisSettleReturnsAtItsTimeout: a settle bounded as middleware bounds it
// (WithSettleTimeout: a context with that timeout) returns at it, wrapping
// ErrUnavailable, and stays retryable; the retry after Redis resumes settles once.
func TestFrozenRedisSettleReturnsAtItsTimeout(t *testing.T) {
	rdb, pid, _ := frozenServer(t)
	b, err := redisbudget.New(rdb, uniqueName(t), 1000)
	require.NoError(t, err)
	r, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)

	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 300*time.Millisecond)
	defer cancel()
	dl, _ := sctx.Deadline()
	over := within(dl, func() { err = b.Record(sctx, r, 40, 20) })
	t.Logf("Record returned %v past its 300 ms settle timeout", over)
	assert.LessOrEqual(t, over, overshootBound, "returned %v past its timeout", over)
	require.ErrorIs(t, err, budget.ErrUnavailable)
	assert.False(t, budgetkit.Settled(r), "a settle that timed out can be retried")

	require.NoError(t, syscall.Kill(pid, syscall.SIGCONT))
	b.WaitLate()
	require.NoError(t, b.Record(ctx, r, 40, 20))
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 60, Remaining: 940}, snap(t, b),
		"charged once, whether the abandoned settle or the retry got there first")
}

// TestFailOpenOutageReturnsAtItsDeadline: with WithFailOpen and Redis killed (a dead
// port, go-redis's default dial retries), a reserve returns by its deadline: fail
// open when the client gave up before it, else ErrUnavailable, never a grant past it.
func TestFailOpenOutageReturnsAtItsDeadline(t *testing.T) {
	rdb, _, stop := frozenServer(t)
	b, err := redisbudget.New(rdb, uniqueName(t), 1000, redisbudget.WithFailOpen())
	require.NoError(t, err)
	r, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)
	require.False(t, r.FailedOpen())
	require.NoError(t, b.Release(ctx, r))
	stop() // killed: the port refuses connections

	for _, d := range []time.Duration{300 * time.Millisecond, 5 * time.Second} {
		dctx, cancel := context.WithTimeout(ctx, d)
		dl, _ := dctx.Deadline()
		var got *budget.Reservation
		over := within(dl, func() { got, err = b.TryReserve(dctx, 100) })
		cancel()
		t.Logf("deadline %v: returned %v past it (%v)", d, over, err)
		assert.LessOrEqual(t, over, overshootBound, "deadline %v: returned %v past it", d, over)
		if err != nil {
			require.ErrorIs(t, err, budget.ErrUnavailable)
			require.ErrorIs(t, err, context.DeadlineExceeded, "only a passed deadline refuses a fail-open budget")
			continue
		}
		require.True(t, got.FailedOpen(), "a reservation from a dead Redis is fail-open")
		require.NoError(t, b.Release(ctx, got))
	}
	b.WaitLate()
}

// TestReserveScriptRefusesPastItsDeadline: the reserve script compares the call's
// deadline with Redis's own clock (TIME) and, once it has passed, grants nothing and
// writes nothing; a deadline ahead of Redis's clock grants.
func TestReserveScriptRefusesPastItsDeadline(t *testing.T) {
	rdb := client(t)
	b := newBudget(t, rdb, 1000)
	now, err := rdb.Time(ctx).Result()
	require.NoError(t, err)
	const id = "0123456789abcdef0123456789abcdef"
	args := func(deadline time.Time) []any {
		return []any{"1200000", "0", "1000", "10", "300", id, "600000", "0", deadline.UnixMilli()}
	}
	res, err := redisbudget.ReserveScript.Run(ctx, rdb, b.Keys(), args(now.Add(-time.Millisecond))...).Int64Slice()
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.Equal(t, int64(-1), res[0], "refused: Redis's clock is past the deadline")
	n, err := rdb.Exists(ctx, b.Keys()...).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "a refused reserve writes nothing")

	res, err = redisbudget.ReserveScript.Run(ctx, rdb, b.Keys(), args(now.Add(time.Minute))...).Int64Slice()
	require.NoError(t, err)
	require.Len(t, res, 4)
	assert.Equal(t, []int64{1, 300, 700}, res[:3])
}
