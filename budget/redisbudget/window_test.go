package redisbudget_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/budget/window"
)

type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestWindowRollover(t *testing.T) { onEachRedis(t, testWindowRollover) }

func testWindowRollover(t *testing.T, rdb redis.UniversalClient) {
	clock := &fakeClock{}
	t0 := time.Date(2030, 5, 1, 10, 15, 0, 0, time.UTC)
	clock.Set(t0)
	b := newBudget(t, rdb, 1000, redisbudget.WithWindow(window.Every(time.Hour)), redisbudget.WithClock(clock.Now))

	r1, err := b.TryReserve(ctx, 300)
	require.NoError(t, err)
	r2, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r2, 500, 0))
	end1 := time.Date(2030, 5, 1, 11, 0, 0, 0, time.UTC)
	assertSnap(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 500, Held: 300, Remaining: 200, WindowEnd: end1}, snap(t, b))

	// The window's keys outlive its end by twice the lease.
	for _, k := range b.Keys()[:2] {
		ttl, err := rdb.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, 45*time.Minute+2*redisbudget.DefaultLease-time.Second, k)
		assert.LessOrEqual(t, ttl, 45*time.Minute+2*redisbudget.DefaultLease+time.Second, k)
	}

	clock.Set(end1) // the next hour starts empty
	end2 := end1.Add(time.Hour)
	assertSnap(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Remaining: 1000, WindowEnd: end2}, snap(t, b))
	r3, err := b.TryReserve(ctx, 1000)
	require.NoError(t, err)

	// r1 settles against the hour it was taken in: nothing changes in this one.
	require.NoError(t, b.Record(ctx, r1, 50, 0))
	assertSnap(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Held: 1000, WindowEnd: end2}, snap(t, b))
	require.NoError(t, b.Record(ctx, r3, 10, 0))
	assert.Equal(t, uint64(10), snap(t, b).Consumed)

	clock.Set(t0) // back in the first hour: r1's usage landed there, its hold freed
	assertSnap(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 550, Remaining: 450, WindowEnd: end1}, snap(t, b))

	// Another process whose clock is in the second hour sees the second hour.
	other, err := redisbudget.New(rdb, b.Name(), 1000, redisbudget.WithWindow(window.Every(time.Hour)),
		redisbudget.WithClock(func() time.Time { return end1.Add(time.Minute) }))
	require.NoError(t, err)
	assert.Equal(t, uint64(10), snap(t, other).Consumed)
}

func TestWindowDailyInLocation(t *testing.T) { onEachRedis(t, testWindowDailyInLocation) }

func testWindowDailyInLocation(t *testing.T, rdb redis.UniversalClient) {
	loc := time.FixedZone("X", 5*3600)
	clock := &fakeClock{}
	clock.Set(time.Date(2031, 1, 2, 23, 30, 0, 0, loc))
	b := newBudget(t, rdb, 100, redisbudget.WithWindow(window.Daily(loc)), redisbudget.WithClock(clock.Now))
	r, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)
	_, err = b.TryReserve(ctx, 0)
	requireDenied(t, err, 0, 0)
	clock.Advance(time.Hour)
	r2, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 100, 100))
	require.NoError(t, b.Release(ctx, r2))
	s := snap(t, b)
	assert.Equal(t, uint64(0), s.Consumed)
	assert.True(t, s.WindowEnd.Equal(time.Date(2031, 1, 4, 0, 0, 0, 0, loc)), s.WindowEnd)
}

// assertSnap compares snapshots, their window ends as instants.
func assertSnap(t *testing.T, want, got budget.Snapshot) {
	t.Helper()
	assert.True(t, want.WindowEnd.Equal(got.WindowEnd), "window end: want %v, got %v", want.WindowEnd, got.WindowEnd)
	want.WindowEnd, got.WindowEnd = time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}
