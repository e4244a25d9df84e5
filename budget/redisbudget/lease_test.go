package redisbudget_test

import (
	"strconv"
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

// waitExpired waits until Redis's own clock has passed every lease in the budget's
// lease set, without running a budget script (which would reclaim them).
func waitExpired(t *testing.T, rdb redis.UniversalClient, b *redisbudget.Budget, n int) {
	t.Helper()
	z := b.Keys()[1]
	deadline := time.Now().Add(30 * time.Second)
	for {
		now, err := rdb.Time(ctx).Result()
		require.NoError(t, err)
		c, err := rdb.ZCount(ctx, z, "-inf", fmtMs(now.UnixMilli())).Result()
		require.NoError(t, err)
		if int(c) >= n {
			return
		}
		require.True(t, time.Now().Before(deadline), "leases did not expire: %d of %d", c, n)
		time.Sleep(20 * time.Millisecond)
	}
}

func fmtMs(ms int64) string { return strconv.FormatInt(ms, 10) }

// TestLeaseReclaimedOnceLateSettleCharges: a hold whose lease ended is given back by the
// next script (a Snapshot here) exactly once; its late Record still charges the usage
// without freeing the hold again.
func TestLeaseReclaimedOnceLateSettleCharges(t *testing.T) {
	onEachRedis(t, testLeaseReclaimedOnceLateSettleCharges)
}

func testLeaseReclaimedOnceLateSettleCharges(t *testing.T, rdb redis.UniversalClient) {
	name := uniqueName(t)
	short, err := redisbudget.New(rdb, name, 1000, redisbudget.WithLease(50*time.Millisecond))
	require.NoError(t, err)
	long, err := redisbudget.New(rdb, name, 1000)
	require.NoError(t, err)

	// The long hold first: a reserve after the short one could already reclaim it (a
	// loaded machine easily takes 50ms between two calls).
	rl, err := long.TryReserve(ctx, 200)
	require.NoError(t, err)
	rs, err := short.TryReserve(ctx, 300)
	require.NoError(t, err)
	waitExpired(t, rdb, short, 1)

	assert.Equal(t, budget.Snapshot{Name: name, Capacity: 1000, Held: 200, Remaining: 800}, snap(t, long))
	assert.Equal(t, budget.Snapshot{Name: name, Capacity: 1000, Held: 200, Remaining: 800}, snap(t, long), "reclaimed once")

	require.NoError(t, short.Record(ctx, rs, 250, 100)) // late: charged, nothing freed
	assert.Equal(t, budget.Snapshot{Name: name, Capacity: 1000, Consumed: 350, Held: 200, Remaining: 450}, snap(t, long))
	require.NoError(t, short.Record(ctx, budgetkit.NewReservation(short, budgetkit.ID(rs), 300), 250, 100), "duplicate from elsewhere")
	require.NoError(t, long.Record(ctx, rl, 10, 0))
	assert.Equal(t, budget.Snapshot{Name: name, Capacity: 1000, Consumed: 360, Remaining: 640}, snap(t, long))
}

// TestExpiredOwnHoldFreedOnceBySettle: a settle whose own lease has ended but which no
// script has reclaimed yet frees the hold itself, once.
func TestExpiredOwnHoldFreedOnceBySettle(t *testing.T) {
	onEachRedis(t, testExpiredOwnHoldFreedOnceBySettle)
}

func testExpiredOwnHoldFreedOnceBySettle(t *testing.T, rdb redis.UniversalClient) {
	// Long enough that r2's reserve does not reclaim r1 even on a loaded machine.
	b := newBudget(t, rdb, 1000, redisbudget.WithLease(300*time.Millisecond))
	r1, err := b.TryReserve(ctx, 300)
	require.NoError(t, err)
	r2, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)
	waitExpired(t, rdb, b, 2)
	require.NoError(t, b.Record(ctx, r1, 5, 0)) // frees its own 300, reclaims r2's 100
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 5, Remaining: 995}, snap(t, b))
	require.NoError(t, b.Release(ctx, r2))
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 5, Remaining: 995}, snap(t, b))
}

// TestReclaimIsBounded: one script reclaims at most 100 expired holds; the rest wait
// for the next calls.
func TestReclaimIsBounded(t *testing.T) {
	t.Parallel() // waits out leases; its budget is its own
	onEachRedis(t, testReclaimIsBounded)
}

func testReclaimIsBounded(t *testing.T, rdb redis.UniversalClient) {
	// Long enough that the reserves below do not reclaim each other.
	b := newBudget(t, rdb, 1000, redisbudget.WithLease(3*time.Second))
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				_, err := b.TryReserve(ctx, 1)
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int64(250), rdb.ZCard(ctx, b.Keys()[1]).Val(), "some leases ended while reserving")
	waitExpired(t, rdb, b, 250)
	for _, held := range []uint64{150, 50, 0, 0} {
		assert.Equal(t, held, snap(t, b).Held)
	}
	fields, err := rdb.HKeys(ctx, b.Keys()[0]).Result()
	require.NoError(t, err)
	// Counters and the settings operators read (d, l, e): no hold is left behind.
	assert.ElementsMatch(t, []string{"h", "n", "d", "l", "e"}, fields, "counters and settings only: no hold is left behind")
	n, err := rdb.Exists(ctx, b.Keys()[1]).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the empty lease set is gone")
}

// TestShorterLeaseAfterLongerIsReclaimed: a process with a shorter lease reserving
// after one with a longer lease must still be reclaimed on time (the earliest lease
// end the scripts keep is lowered by it).
func TestShorterLeaseAfterLongerIsReclaimed(t *testing.T) {
	t.Parallel() // waits out leases; its budget is its own
	onEachRedis(t, testShorterLeaseAfterLongerIsReclaimed)
}

func testShorterLeaseAfterLongerIsReclaimed(t *testing.T, rdb redis.UniversalClient) {
	name := uniqueName(t)
	long, err := redisbudget.New(rdb, name, 1000)
	require.NoError(t, err)
	short, err := redisbudget.New(rdb, name, 1000, redisbudget.WithLease(time.Second))
	require.NoError(t, err)
	rl, err := long.TryReserve(ctx, 100)
	require.NoError(t, err)
	rl2, err := long.TryReserve(ctx, 100)
	require.NoError(t, err)
	require.NoError(t, long.Release(ctx, rl)) // the earliest lease goes: the bound is now stale
	_, err = short.TryReserve(ctx, 300)
	require.NoError(t, err)
	assert.Equal(t, uint64(400), snap(t, long).Held)
	waitExpired(t, rdb, short, 1)
	assert.Equal(t, uint64(100), snap(t, long).Held)
	require.NoError(t, long.Release(ctx, rl2))
	assert.Equal(t, uint64(0), snap(t, long).Held)

	// Later short holds are found as well.
	_, err = short.TryReserve(ctx, 50)
	require.NoError(t, err)
	waitExpired(t, rdb, short, 1)
	assert.Equal(t, uint64(0), snap(t, long).Held)
}

// TestReclaimedHoldsAreForgotten: a reclaimed hold is remembered for twice the lease,
// then nothing of it is left in Redis, and its settle changes nothing.
func TestReclaimedHoldsAreForgotten(t *testing.T) {
	t.Parallel() // waits out leases; its budget is its own
	onEachRedis(t, testReclaimedHoldsAreForgotten)
}

func testReclaimedHoldsAreForgotten(t *testing.T, rdb redis.UniversalClient) {
	b := newBudget(t, rdb, 1000, redisbudget.WithLease(time.Second))
	r, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)
	waitExpired(t, rdb, b, 1)
	assert.Zero(t, snap(t, b).Held)
	ttl, err := rdb.PTTL(ctx, b.Keys()[2]).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Duration(0))
	assert.LessOrEqual(t, ttl, 2*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Exists(ctx, b.Keys()[2]).Val() != 0 {
		require.True(t, time.Now().Before(deadline), "reclaimed set never expired")
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, b.Record(ctx, r, 10, 10))
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Remaining: 1000}, snap(t, b))
	keys := keysOf(t, rdb, b)
	assert.Equal(t, []string{b.Keys()[0]}, keys)
}

// TestReclaimedMemoryFollowsTheLongestLease: a process with a short lease reclaiming
// does not cut short what a process with a longer lease reclaimed before.
func TestReclaimedMemoryFollowsTheLongestLease(t *testing.T) {
	t.Parallel()
	onEachRedis(t, testReclaimedMemoryFollowsTheLongestLease)
}

func testReclaimedMemoryFollowsTheLongestLease(t *testing.T, rdb redis.UniversalClient) {
	name := uniqueName(t)
	long, err := redisbudget.New(rdb, name, 1000, redisbudget.WithLease(time.Second))
	require.NoError(t, err)
	short, err := redisbudget.New(rdb, name, 1000, redisbudget.WithLease(100*time.Millisecond))
	require.NoError(t, err)
	rl, err := long.TryReserve(ctx, 100)
	require.NoError(t, err)
	waitExpired(t, rdb, long, 1)
	assert.Zero(t, snap(t, long).Held) // remembered for 2s
	_, err = short.TryReserve(ctx, 10)
	require.NoError(t, err)
	waitExpired(t, rdb, short, 1)
	assert.Zero(t, snap(t, short).Held) // remembered for 200ms; the set must keep rl's
	ttl, err := rdb.PTTL(ctx, long.Keys()[2]).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 500*time.Millisecond)
	require.NoError(t, long.Record(ctx, rl, 7, 0))
	assert.Equal(t, uint64(7), snap(t, long).Consumed, "the late settle is still charged")
}
