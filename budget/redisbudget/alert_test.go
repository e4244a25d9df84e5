package redisbudget_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/budget/window"
)

// TestAlertsOncePerFleetPerWindow: four "processes" (each its own client and Budget
// value) settle concurrently into one shared budget; each threshold fires exactly once
// among them per window, and the Record's context hears of it on the call that
// crossed it.
func TestAlertsOncePerFleetPerWindow(t *testing.T) {
	addr := needService(t, "SPENDGUARD_REDIS_ADDR")
	name := uniqueName(t)
	clock := &fakeClock{}
	clock.Set(time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	fired := map[float64]int{}
	heard := map[float64]int{}
	var fleet []*redisbudget.Budget
	for range 4 {
		b, err := redisbudget.New(clientAt(t, addr), name, 10_000,
			redisbudget.WithWindow(window.Every(time.Hour)), redisbudget.WithClock(clock.Now),
			redisbudget.WithAlerts(func(a budget.Alert) {
				mu.Lock()
				defer mu.Unlock()
				fired[a.Fraction]++
				assert.Equal(t, name, a.Snapshot.Name)
				assert.Equal(t, uint64(10_000), a.Snapshot.Capacity)
				assert.GreaterOrEqual(t, a.Snapshot.Consumed, uint64(math.Ceil(a.Fraction*10_000)))
			}, 0.95, 0.5, 0.8))
		require.NoError(t, err)
		assert.Equal(t, []float64{0.5, 0.8, 0.95}, b.AlertFractions())
		fleet = append(fleet, b)
	}
	ctx := budgetkit.NotifyAlerts(context.Background(), func(a budget.Alert) {
		mu.Lock()
		defer mu.Unlock()
		heard[a.Fraction]++
	})
	spendAll := func() {
		var wg sync.WaitGroup
		for _, b := range fleet {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 30 {
					r, err := b.TryReserve(ctx, 100)
					if err != nil {
						return // spent
					}
					assert.NoError(t, b.Record(ctx, r, 100, 0))
				}
			}()
		}
		wg.Wait()
	}
	spendAll() // 100 settles of 100: all of the 10 000
	assert.Equal(t, map[float64]int{0.5: 1, 0.8: 1, 0.95: 1}, fired, "once per fleet")
	assert.Equal(t, map[float64]int{0.5: 1, 0.8: 1, 0.95: 1}, heard)
	spendAll() // nothing left: no reservation, no alert
	assert.Equal(t, map[float64]int{0.5: 1, 0.8: 1, 0.95: 1}, fired)

	clock.Advance(time.Hour)
	spendAll()
	assert.Equal(t, map[float64]int{0.5: 2, 0.8: 2, 0.95: 2}, fired, "again in the next window")
}

func TestAlertsOneSettleCrossesSeveral(t *testing.T) {
	rdb := client(t)
	var fired []budget.Alert
	b := newBudget(t, rdb, 1000, redisbudget.WithAlerts(func(a budget.Alert) { fired = append(fired, a) }, 0.9, 0.5, 0.5))
	assert.Equal(t, []float64{0.5, 0.9}, b.AlertFractions(), "sorted, a repeat fires once")
	r, err := b.TryReserve(ctx, 600)
	require.NoError(t, err)
	r2, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 950, 0))
	require.Len(t, fired, 2)
	assert.Equal(t, 0.5, fired[0].Fraction)
	assert.Equal(t, 0.9, fired[1].Fraction)
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 950, Held: 100, Remaining: 0}, fired[1].Snapshot)
	require.NoError(t, b.Record(ctx, r, 950, 0), "a duplicate settle")
	require.NoError(t, b.Release(ctx, r2))
	assert.Len(t, fired, 2)
}

// TestAlertsFollowTheCapacityInForce: thresholds are fractions of the capacity an
// operator set (Family.SetCapacity), and a reset (Family.Reset) re-arms them.
func TestAlertsFollowTheCapacityInForce(t *testing.T) {
	rdb := client(t)
	var fired []budget.Alert
	b := newBudget(t, rdb, 1000, redisbudget.WithAlerts(func(a budget.Alert) { fired = append(fired, a) }, 0.5))
	admin, err := redisbudget.NewFamily(rdb, 0)
	require.NoError(t, err)
	require.NoError(t, admin.SetCapacity(ctx, b.Name(), 10_000))
	spend := func(n uint64) {
		t.Helper()
		r, err := b.TryReserve(ctx, n)
		require.NoError(t, err)
		require.NoError(t, b.Record(ctx, r, n, 0))
	}
	spend(4000)
	assert.Empty(t, fired, "half of 1000 is not half of the 10 000 in force")
	spend(1000)
	require.Len(t, fired, 1)
	assert.Equal(t, uint64(10_000), fired[0].Snapshot.Capacity)
	assert.Equal(t, uint64(5000), fired[0].Snapshot.Consumed)

	_, err = admin.Reset(ctx, b.Name())
	require.NoError(t, err)
	spend(4999)
	assert.Len(t, fired, 1)
	spend(1)
	assert.Len(t, fired, 2, "a reset window alerts again")
	snap(t, b) // the alert fields do not upset a Snapshot
}

func TestAlertsBadFractions(t *testing.T) {
	rdb := client(t)
	for _, fs := range [][]float64{{0}, {-0.5}, {1.01}, {math.NaN()}, make([]float64, 65)} {
		_, err := redisbudget.New(rdb, "x", 10, redisbudget.WithAlerts(nil, fs...))
		require.Error(t, err, "%v", fs)
		assert.Contains(t, err.Error(), `budget "x"`)
	}
}
