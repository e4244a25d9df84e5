package redisbudget_test

import (
	"math/rand/v2"
	"runtime"
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
	"github.com/spendguard/spendguard/budget/window"
)

// family builds a family under a prefix of the test's own, and a second one under
// the same prefix that knows nothing of its capacity (what cmd/spendguard builds to
// operate budgets).
func family(t *testing.T, rdb redis.UniversalClient, capacity uint64, opts ...redisbudget.Option) (f, op *redisbudget.Family, prefix string) {
	t.Helper()
	prefix = uniqueName(t)
	f, err := redisbudget.NewFamily(rdb, capacity, append([]redisbudget.Option{redisbudget.WithKeyPrefix(prefix)}, opts...)...)
	require.NoError(t, err)
	return f, operator(t, rdb, prefix), prefix
}

// operator is a Family under prefix built to operate budgets, not to reserve.
func operator(t *testing.T, rdb redis.UniversalClient, prefix string) *redisbudget.Family {
	t.Helper()
	op, err := redisbudget.NewFamily(rdb, 0, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	return op
}

// list is Family.List of what must be only budgets.
func list(t *testing.T, f *redisbudget.Family, pattern string) []redisbudget.Status {
	t.Helper()
	l, skipped, err := f.List(ctx, pattern)
	require.NoError(t, err)
	require.Empty(t, skipped)
	return l
}

func member(t *testing.T, f *redisbudget.Family, key string) *redisbudget.Budget {
	t.Helper()
	b, err := f.Budget(key)
	require.NoError(t, err)
	return b
}

func TestFamilyKeysShareStateAcrossBudgets(t *testing.T) {
	rdb := client(t)
	f, _, prefix := family(t, rdb, 1000)
	assert.Equal(t, uint64(1000), f.Capacity())
	assert.Equal(t, prefix, f.Prefix())

	a1, a2, b := member(t, f, "tenant-a"), member(t, f, "tenant-a"), member(t, f, "tenant-b")
	assert.NotSame(t, a1, a2, "no cache: a new *Budget per call")
	r, err := a1.TryReserve(ctx, 600)
	require.NoError(t, err)
	requireDenied(t, fst(a2.TryReserve(ctx, 600)), 600, 400)
	require.ErrorIs(t, a2.Record(ctx, r, 1, 1), budgetkit.ErrInvalidReservation, "settled by the budget that granted it")
	require.NoError(t, a1.Record(ctx, r, 300, 200))
	assert.Equal(t, uint64(500), snap(t, a2).Consumed)
	assert.Equal(t, uint64(0), snap(t, b).Consumed, "keys are independent")

	// The same state as New with the same prefix and name.
	named, err := redisbudget.New(rdb, "tenant-a", 1000, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	assert.Equal(t, uint64(500), snap(t, named).Consumed)
}

func fst[T any](_ T, err error) error { return err }

func TestFamilyBadInput(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	_, err := redisbudget.NewFamily(nil, 10)
	require.ErrorContains(t, err, "nil Redis client")
	_, err = redisbudget.NewFamily(rdb, redisbudget.MaxCapacity+1)
	require.ErrorContains(t, err, "above 2^53")
	_, err = redisbudget.NewFamily(rdb, 10, redisbudget.WithLease(0))
	require.ErrorContains(t, err, "lease")
	f, err := redisbudget.NewFamily(rdb, 10)
	require.NoError(t, err)
	for _, k := range []string{"", "a{b", "}"} {
		b, err := f.Budget(k)
		require.Error(t, err, "%q", k)
		assert.Nil(t, b)
	}
}

func TestCapacityOverrideReachesEveryProcessOnItsNextReserve(t *testing.T) {
	onEachRedis(t, testCapacityOverride)
}

func testCapacityOverride(t *testing.T, rdb redis.UniversalClient) {
	// Two clients stand for two processes built with the same default.
	f1, a, prefix := family(t, rdb, 1000)
	var rdb2 redis.UniversalClient
	if _, ok := rdb.(*redis.ClusterClient); ok {
		rdb2 = clusterClient(t)
	} else {
		rdb2 = client(t)
	}
	f2, err := redisbudget.NewFamily(rdb2, 1000, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	p1, p2 := member(t, f1, "t"), member(t, f2, "t")
	r, err := p1.TryReserve(ctx, 100)
	require.NoError(t, err)
	require.NoError(t, p1.Record(ctx, r, 100, 0))

	require.NoError(t, a.SetCapacity(ctx, "t", 300))
	requireDenied(t, fst(p2.TryReserve(ctx, 201)), 201, 200)
	requireDenied(t, fst(p1.TryReserve(ctx, 201)), 201, 200)
	s := snap(t, p2)
	assert.Equal(t, uint64(300), s.Capacity, "Snapshot reports the capacity in force")
	assert.Equal(t, uint64(200), s.Remaining)
	assert.Equal(t, uint64(1000), p2.Capacity(), "the budget's own capacity is unchanged")
	st, err := a.Status(ctx, "t")
	require.NoError(t, err)
	assert.True(t, st.FromRedis)
	assert.Equal(t, uint64(1000), st.DefaultCapacity)

	require.NoError(t, a.UnsetCapacity(ctx, "t"))
	require.NoError(t, a.UnsetCapacity(ctx, "t"), "removing a missing override does nothing")
	r, err = p2.TryReserve(ctx, 900)
	require.NoError(t, err, "back to the default")
	require.NoError(t, p2.Release(ctx, r))
	st, err = a.Status(ctx, "t")
	require.NoError(t, err)
	assert.False(t, st.FromRedis)
	assert.Equal(t, uint64(1000), st.Capacity)
}

func TestLoweringBelowConsumedDeniesAndKeepsUsage(t *testing.T) {
	onEachRedis(t, testLoweringBelowConsumed)
}

func testLoweringBelowConsumed(t *testing.T, rdb redis.UniversalClient) {
	f, a, _ := family(t, rdb, 1000)
	b := member(t, f, "t")
	r1, err := b.TryReserve(ctx, 800)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r1, 800, 0))
	hold, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)

	require.NoError(t, a.SetCapacity(ctx, "t", 500))
	requireDenied(t, fst(b.TryReserve(ctx, 0)), 0, 0)
	requireDenied(t, fst(b.TryReserveRange(ctx, 1, 10)), 1, 0)
	s := snap(t, b)
	assert.Equal(t, budget.Snapshot{Name: "t", Capacity: 500, Consumed: 800, Held: 100}, s, "usage and holds untouched")

	// The hold in flight settles, once, with its usage charged in full.
	require.NoError(t, b.Record(ctx, hold, 100, 50))
	require.NoError(t, b.Record(ctx, hold, 100, 50))
	st, err := a.Status(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, uint64(950), st.Consumed)
	assert.Equal(t, uint64(0), st.Held)
	assert.Equal(t, uint64(0), st.Remaining)
	assert.Equal(t, uint64(500), st.Capacity)
}

func TestResetKeepsHoldsInFlight(t *testing.T) { onEachRedis(t, testResetKeepsHolds) }

func testResetKeepsHolds(t *testing.T, rdb redis.UniversalClient) {
	f, a, _ := family(t, rdb, 1000)
	b := member(t, f, "t")
	r, err := b.TryReserve(ctx, 400)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 400, 0))
	holds := make([]*budget.Reservation, 3)
	for i := range holds {
		holds[i], err = b.TryReserve(ctx, 100)
		require.NoError(t, err)
	}
	st, err := a.Status(ctx, "t")
	require.NoError(t, err)
	require.Len(t, st.Holds, 3)
	for _, h := range st.Holds {
		assert.Equal(t, uint64(100), h.Tokens)
		assert.WithinDuration(t, time.Now().Add(redisbudget.DefaultLease), h.LeaseEnd, time.Minute)
	}

	cleared, err := a.Reset(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, uint64(400), cleared)
	assert.Equal(t, budget.Snapshot{Name: "t", Capacity: 1000, Held: 300, Remaining: 700}, snap(t, b))
	require.NoError(t, b.Record(ctx, holds[0], 60, 10))
	require.NoError(t, b.Release(ctx, holds[1]))
	require.NoError(t, b.Record(ctx, holds[2], 200, 0)) // more than held: debt
	require.NoError(t, b.Record(ctx, holds[0], 60, 10), "a duplicate")
	assert.Equal(t, budget.Snapshot{Name: "t", Capacity: 1000, Consumed: 270, Remaining: 730}, snap(t, b))
}

func TestAdminWindowedBudget(t *testing.T) {
	rdb := client(t)
	f, a, _ := family(t, rdb, 1000, redisbudget.WithWindow(window.Every(time.Hour)))
	b := member(t, f, "w")
	r, err := b.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 7, 0))
	st, err := a.Status(ctx, "w")
	require.NoError(t, err)
	assert.Equal(t, snap(t, b).WindowEnd.UnixMilli(), st.WindowEnd.UnixMilli())
	assert.Equal(t, uint64(7), st.Consumed)

	// A window of the past whose keys have not expired yet is not the current one.
	pastF, err := redisbudget.NewFamily(rdb, 1000, redisbudget.WithKeyPrefix(f.Prefix()),
		redisbudget.WithWindow(window.Every(time.Hour)), redisbudget.WithClock(func() time.Time { return time.Now().Add(-3 * time.Hour) }))
	require.NoError(t, err)
	old := member(t, pastF, "old")
	r, err = old.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, old.Record(ctx, r, 9, 0))
	require.NoError(t, a.SetCapacity(ctx, "old", 50))
	st, err = a.Status(ctx, "old")
	require.NoError(t, err)
	assert.Equal(t, redisbudget.Status{Name: "old", InRedis: true, Capacity: 50, FromRedis: true, DefaultCapacity: 1000, Remaining: 50, Lease: redisbudget.DefaultLease}, st,
		"its current window has not begun")
	n, err := a.Reset(ctx, "old")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing to reset")
}

// TestAdminList lists budgets; on the cluster their keys live on the masters their
// hash tags pick, and List scans every master.
func TestAdminList(t *testing.T) { onEachRedis(t, testAdminList) }

func testAdminList(t *testing.T, rdb redis.UniversalClient) {
	f, a, prefix := family(t, rdb, 100)
	assert.Empty(t, list(t, a, ""))
	for _, k := range []string{"b", "a", "c:x", "a*b"} {
		b := member(t, f, k)
		r, err := b.TryReserve(ctx, 5)
		require.NoError(t, err)
		require.NoError(t, b.Record(ctx, r, uint64(len(k)), 0))
	}
	require.NoError(t, a.SetCapacity(ctx, "new", 7)) // known by its override alone
	l := list(t, a, "")
	var names []string
	for _, s := range l {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"a", "a*b", "b", "c:x", "new"}, names)
	assert.Equal(t, redisbudget.Status{Name: "c:x", InRedis: true, Capacity: 100, DefaultCapacity: 100, Consumed: 3, Remaining: 97, Lease: redisbudget.DefaultLease}, l[3])
	assert.Equal(t, redisbudget.Status{Name: "new", InRedis: true, Capacity: 7, FromRedis: true, Remaining: 7}, l[4])

	assert.Len(t, list(t, a, "a*"), 2)
	l = list(t, a, `a\*b`)
	require.Len(t, l, 1)
	assert.Equal(t, "a*b", l[0].Name)

	// Another prefix sees none of them.
	assert.Empty(t, list(t, operator(t, rdb, prefix+"x"), ""))
}

func TestAdminBadInput(t *testing.T) {
	rdb := client(t)
	f, a, prefix := family(t, rdb, 100)
	_, err := redisbudget.NewFamily(nil, 0)
	require.Error(t, err)
	_, err = redisbudget.NewFamily(rdb, 0, redisbudget.WithKeyPrefix("a{"))
	require.Error(t, err)

	st, err := a.Status(ctx, "nobody")
	require.NoError(t, err)
	assert.Equal(t, redisbudget.Status{Name: "nobody", Lease: redisbudget.DefaultLease}, st, "Redis holds nothing of it; the operator's family has capacity 0")
	st, err = f.Status(ctx, "nobody")
	require.NoError(t, err)
	assert.Equal(t, redisbudget.Status{Name: "nobody", Capacity: 100, DefaultCapacity: 100, Remaining: 100, Lease: redisbudget.DefaultLease}, st,
		"the family's own defaults")
	n, err := a.Reset(ctx, "nobody")
	require.NoError(t, err)
	assert.Zero(t, n)
	for _, n := range []string{"", "x{y}", "t\xff"} {
		_, err = a.Status(ctx, n)
		require.Error(t, err)
		_, err = a.Reset(ctx, n)
		require.Error(t, err)
		require.Error(t, a.SetCapacity(ctx, n, 1))
		require.Error(t, a.UnsetCapacity(ctx, n))
	}
	_, _, err = a.List(ctx, "{x}")
	require.Error(t, err)
	require.ErrorContains(t, a.SetCapacity(ctx, "x", redisbudget.MaxCapacity+1), "2^53")

	// A plain Redis key named like the budget.
	plain := uniqueName(t)
	require.NoError(t, rdb.Set(ctx, plain, "v", time.Minute).Err())
	_, err = operator(t, rdb, "").Status(ctx, plain)
	require.ErrorIs(t, err, redisbudget.ErrNotBudget)

	// Keys shaped like a budget's that hold something else.
	require.NoError(t, rdb.Set(ctx, prefix+":{str}:all:h", "v", time.Minute).Err())
	_, err = a.Status(ctx, "str")
	require.ErrorIs(t, err, redisbudget.ErrNotBudget)
	_, err = a.Reset(ctx, "str")
	require.ErrorIs(t, err, redisbudget.ErrNotBudget)
	require.NoError(t, rdb.HSet(ctx, prefix+":{bad}:all:h", "c", "12", "d", "lots").Err())
	_, err = a.Status(ctx, "bad")
	require.ErrorIs(t, err, redisbudget.ErrNotBudget)
	require.NoError(t, rdb.HSet(ctx, prefix+":{hash}:cap", "x", "1").Err())
	require.ErrorIs(t, a.SetCapacity(ctx, "hash", 5), redisbudget.ErrNotBudget)
	assert.Equal(t, "1", rdb.HGet(ctx, prefix+":{hash}:cap", "x").Val(), "left alone")
	l, skipped, err := a.List(ctx, "")
	require.NoError(t, err, "List skips what is not a budget")
	assert.Empty(t, l)
	require.Len(t, skipped, 3)
	for i, name := range []string{"bad", "hash", "str"} {
		require.ErrorIs(t, skipped[i], redisbudget.ErrNotBudget)
		assert.ErrorContains(t, skipped[i], `"`+name+`"`)
	}
	// Reads change nothing (issue 19: show and list used to write h and n into a
	// stray hash): each key as it was written, and no key added under the prefix.
	assert.Equal(t, map[string]string{"c": "12", "d": "lots"}, rdb.HGetAll(ctx, prefix+":{bad}:all:h").Val())
	assert.Equal(t, "v", rdb.Get(ctx, prefix+":{str}:all:h").Val())
	keys, err := rdb.Keys(ctx, prefix+":*").Result()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{prefix + ":{str}:all:h", prefix + ":{bad}:all:h", prefix + ":{hash}:cap"}, keys)

	// A corrupt override fails the reserve (changing nothing) instead of being ignored.
	b := member(t, f, "corrupt")
	require.NoError(t, rdb.Set(ctx, prefix+":{corrupt}:cap", "-5", time.Minute).Err())
	_, err = b.TryReserve(ctx, 1)
	require.ErrorContains(t, err, "corrupt capacity")
	require.NotErrorIs(t, err, budget.ErrUnavailable)
	_, err = b.Snapshot(ctx)
	require.ErrorContains(t, err, "corrupt capacity")
}

// TestCapacityChangesUnderLoad changes the override while goroutines reserve and
// record: a grant never takes consumed+held past the capacity in force when it was
// made, and nothing recorded is lost.
func TestCapacityChangesUnderLoad(t *testing.T) {
	rdb := client(t)
	f, a, _ := family(t, rdb, 1_000_000)
	s := seed(t)
	var recorded sync.Map
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(s, uint64(g)))
			b := member(t, f, "t")
			var sum uint64
			defer func() { recorded.Store(g, sum) }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := b.TryReserve(ctx, 1+rng.Uint64N(20))
				if err != nil {
					if !assert.ErrorIs(t, err, budget.ErrDenied) {
						return
					}
					continue
				}
				u := rng.Uint64N(r.Tokens() + 1)
				if !assert.NoError(t, b.Record(ctx, r, u, 0)) {
					return
				}
				sum += u
			}
		}()
	}
	// Lower the capacity below what is used; every later grant is refused until it
	// is raised again.
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, a.SetCapacity(ctx, "t", 1))
	st1, err := a.Status(ctx, "t")
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	st2, err := a.Status(ctx, "t")
	require.NoError(t, err)
	assert.LessOrEqual(t, st2.Consumed, st1.Consumed+st1.Held, "no grant after the capacity fell below the use")
	require.NoError(t, a.UnsetCapacity(ctx, "t"))
	require.Eventually(t, func() bool {
		s, err := a.Status(ctx, "t")
		return err == nil && s.Consumed > st2.Consumed
	}, 10*time.Second, 10*time.Millisecond, "grants resume once the override is removed")
	close(stop)
	wg.Wait()
	var total uint64
	recorded.Range(func(_, v any) bool { total += v.(uint64); return true })
	st, err := a.Status(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, total, st.Consumed, "consumed is the sum recorded")
	assert.Zero(t, st.Held)
}

// TestFamilyKeepsNothingPerKey builds the budgets of 100,000 distinct keys: the heap
// left once they are dropped does not grow with the number of keys (a per-key cache
// of even 50 bytes a key would keep 5 MB).
func TestFamilyKeepsNothingPerKey(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	f, err := redisbudget.NewFamily(rdb, 100, redisbudget.WithWindow(window.Daily(nil)))
	require.NoError(t, err)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := range 100_000 {
		b, err := f.Budget("tenant-" + strconv.Itoa(i))
		require.NoError(t, err)
		require.Equal(t, uint64(100), b.Capacity())
	}
	after := heap()
	assert.Less(t, int64(after)-int64(before), int64(1<<20), "heap grew from %d to %d bytes", before, after)
}

func TestFamilyBudgetKeys(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	f, err := redisbudget.NewFamily(rdb, 100, redisbudget.WithKeyPrefix("p"))
	require.NoError(t, err)
	assert.Equal(t, []string{"p:{t:1}:all:h", "p:{t:1}:all:z", "p:{t:1}:all:r", "p:{t:1}:cap"}, member(t, f, "t:1").Keys())
	f, err = redisbudget.NewFamily(rdb, 100, redisbudget.WithKeyPrefix(""),
		redisbudget.WithWindow(window.Every(time.Hour)), redisbudget.WithClock(func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }))
	require.NoError(t, err)
	assert.Equal(t, []string{"{x}:2026-01-02T03:00:00Z:h", "{x}:2026-01-02T03:00:00Z:z", "{x}:2026-01-02T03:00:00Z:r", "{x}:cap"}, member(t, f, "x").Keys())
}
