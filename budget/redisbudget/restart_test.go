package redisbudget_test

import (
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/budget/redisbudget"
)

// ownServer runs a redis-server of the test's own on addr; stop kills it.
func ownServer(t *testing.T, bin, addr string) (stop func()) {
	t.Helper()
	stop, _ = ownServerPID(t, bin, addr)
	return stop
}

// ownServerPID is ownServer, and the server's pid.
func ownServerPID(t *testing.T, bin, addr string) (stop func(), pid int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	cmd := exec.Command(bin, "--port", port, "--bind", host, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	require.NoError(t, cmd.Start())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(ctx).Err() != nil {
		require.True(t, time.Now().Before(deadline), "redis-server on %s did not start", addr)
		time.Sleep(20 * time.Millisecond)
	}
	return stop, cmd.Process.Pid
}

// TestRedisRestart: while Redis is down every call fails closed with ErrUnavailable
// (and a settle stays retryable); once it is back, the same budget works again.
func TestRedisRestart(t *testing.T) {
	bin := needService(t, "SPENDGUARD_REDIS_SERVER")
	addr := closedAddr(t)
	stop := ownServer(t, bin, addr)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: time.Second, ReadTimeout: time.Second})
	defer rdb.Close()
	b, err := redisbudget.New(rdb, uniqueName(t), 1000)
	require.NoError(t, err)

	r, err := b.TryReserve(ctx, 400)
	require.NoError(t, err)
	stop()

	_, err = b.TryReserve(ctx, 10)
	require.ErrorIs(t, err, budget.ErrUnavailable)
	require.ErrorIs(t, b.Record(ctx, r, 100, 50), budget.ErrUnavailable)
	assert.False(t, budgetkit.Settled(r), "a settle that did not reach Redis can be retried")
	_, err = b.Snapshot(ctx)
	require.ErrorIs(t, err, budget.ErrUnavailable)

	ownServer(t, bin, addr) // an empty server: nothing persisted
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = b.Snapshot(ctx) // the pool may hand out a dead connection first
		if err == nil {
			break
		}
		require.ErrorIs(t, err, budget.ErrUnavailable)
		require.True(t, time.Now().Before(deadline), "budget did not recover: %v", err)
	}
	r2, err := b.TryReserve(ctx, 1000)
	require.NoError(t, err)
	require.NoError(t, b.Release(ctx, r2))
	// The retried settle reaches Redis, which lost the hold with everything else (no
	// persistence): there is nothing left to settle.
	require.NoError(t, b.Record(ctx, r, 100, 50))
	assert.True(t, budgetkit.Settled(r))
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Remaining: 1000}, snap(t, b))
	r3, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r3, 20, 10))
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 30, Remaining: 970}, snap(t, b))
}
