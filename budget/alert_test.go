package budget_test

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/budget/window"
)

func TestAlertsFireOncePerWindowEach(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var fired []float64
	var single []budget.Snapshot
	b := budget.NewAtomic(1000, budget.WithName("money"),
		budget.WithWindow(window.Daily(time.UTC)), budget.WithClock(clock.Now),
		budget.WithAlerts(func(a budget.Alert) {
			mu.Lock()
			defer mu.Unlock()
			fired = append(fired, a.Fraction)
			assert.Equal(t, "money", a.Snapshot.Name)
			assert.GreaterOrEqual(t, a.Snapshot.Consumed, budget.AlertAt(a.Fraction, 1000))
		}, 0.95, 0.5, 0.8, 0.5, 0, -1, 1.5, math.NaN()),
		budget.WithAlerts(func(a budget.Alert) { single = append(single, a.Snapshot) }, 0.9, 0.95)) // adds to the first
	assert.Equal(t, []float64{0.5, 0.8, 0.9, 0.95}, b.AlertFractions(), "ascending, each once")
	spend := func(ctx context.Context, n uint64) {
		r, err := b.TryReserve(ctx, 1)
		require.NoError(t, err)
		require.NoError(t, b.Record(ctx, r, n, 0))
	}
	var heard []float64
	heardCtx := budgetkit.NotifyAlerts(context.Background(), func(a budget.Alert) { heard = append(heard, a.Fraction) })

	spend(heardCtx, 499)
	assert.Empty(t, fired)
	spend(heardCtx, 1)
	assert.Equal(t, []float64{0.5}, fired)
	assert.Equal(t, []float64{0.5}, heard, "the Record's context hears of the crossing")
	spend(context.Background(), 460) // 960: crosses 0.8, 0.9 and 0.95 at once, in order
	assert.Equal(t, []float64{0.5, 0.8, 0.95}, fired)
	require.Len(t, single, 2, "the second WithAlerts fires its own thresholds")
	assert.Equal(t, []uint64{960, 960}, []uint64{single[0].Consumed, single[1].Consumed})
	assert.Equal(t, []float64{0.5}, heard, "a context without the notifier hears nothing")
	spend(heardCtx, 100)
	assert.Equal(t, []float64{0.5, 0.8, 0.95}, fired, "each once per window")

	clock.Advance(24 * time.Hour)
	spend(heardCtx, 800)
	assert.Equal(t, []float64{0.5, 0.8, 0.95, 0.5, 0.8}, fired, "again in the next window")
	assert.Equal(t, []float64{0.5, 0.5, 0.8}, heard)
}

func TestAlertsConcurrentFireExactlyOnce(t *testing.T) {
	var counts [3]atomic.Int64
	idx := map[float64]int{0.25: 0, 0.5: 1, 1: 2}
	b := budget.NewAtomic(10_000, budget.WithAlerts(func(a budget.Alert) { counts[idx[a.Fraction]].Add(1) }, 0.25, 0.5, 1))
	var heard atomic.Int64
	ctx := budgetkit.NotifyAlerts(context.Background(), func(budget.Alert) { heard.Add(1) })
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if r, err := b.TryReserve(ctx, 10); err == nil {
					_ = b.Record(ctx, r, 10, 0)
				}
			}
		}()
	}
	wg.Wait()
	for i := range counts {
		assert.Equal(t, int64(1), counts[i].Load(), "threshold %d", i)
	}
	assert.Equal(t, int64(3), heard.Load())
}

func TestNotifyAlertsChains(t *testing.T) {
	var got []string
	ctx := budgetkit.NotifyAlerts(context.Background(), func(budget.Alert) { got = append(got, "outer") })
	ctx = budgetkit.NotifyAlerts(ctx, func(budget.Alert) { got = append(got, "inner") })
	assert.Equal(t, ctx, budgetkit.NotifyAlerts(ctx, nil))
	b := budget.NewAtomic(10, budget.WithAlerts(nil, 0.5))
	r, err := b.TryReserve(ctx, 5)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 5, 0))
	assert.Equal(t, []string{"outer", "inner"}, got)
	assert.Equal(t, uint64(1), budget.AlertAt(0.01, 10), "never at 0")
	assert.Equal(t, uint64(math.MaxUint64), budget.AlertAt(1, math.MaxUint64))
}
