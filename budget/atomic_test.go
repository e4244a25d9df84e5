package budget_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/budget/window"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var ctx = context.Background()

func requireDenied(t *testing.T, err error, requested, remaining uint64) {
	t.Helper()
	require.ErrorIs(t, err, budget.ErrDenied)
	var d *budget.DeniedError
	require.ErrorAs(t, err, &d)
	assert.Equal(t, requested, d.Requested, "Requested")
	assert.Equal(t, remaining, d.Remaining, "Remaining")
}

func snap(t *testing.T, b budget.Observable) budget.Snapshot {
	t.Helper()
	s, err := b.Snapshot(ctx)
	require.NoError(t, err)
	return s
}

func TestAtomicReserveRecordRefundsAndCharges(t *testing.T) {
	b := budget.NewAtomic(1000, budget.WithName("b"))
	r, err := b.TryReserve(ctx, 400)
	require.NoError(t, err)
	assert.Equal(t, uint64(400), r.Tokens())
	require.NoError(t, budgetkit.CheckIssuer(r, b, ""), "issued by b")
	assert.Equal(t, budget.Snapshot{Name: "b", Capacity: 1000, Held: 400, Remaining: 600}, snap(t, b))

	require.NoError(t, b.Record(ctx, r, 100, 50)) // 250 refunded
	assert.Equal(t, budget.Snapshot{Name: "b", Capacity: 1000, Consumed: 150, Remaining: 850}, snap(t, b))

	r, err = b.TryReserve(ctx, 100)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 300, 200)) // 400 over the estimate: charged in full
	assert.Equal(t, uint64(650), snap(t, b).Consumed)
	assert.Equal(t, uint64(350), b.Remaining())
}

func TestAtomicCapacityZeroDeniesEverything(t *testing.T) {
	b := budget.NewAtomic(0, budget.WithName("zero"))
	_, err := b.TryReserve(ctx, 0)
	requireDenied(t, err, 0, 0)
	_, err = b.TryReserve(ctx, 1)
	requireDenied(t, err, 1, 0)
	_, err = b.TryReserveRange(ctx, 0, 10)
	requireDenied(t, err, 0, 0)
}

func TestAtomicEstimateZeroDeniedWhenExhausted(t *testing.T) {
	b := budget.NewAtomic(100)
	r, err := b.TryReserve(ctx, 0) // something is left: granted
	require.NoError(t, err)
	require.NoError(t, b.Release(ctx, r))

	r, err = b.TryReserve(ctx, 100)
	require.NoError(t, err)
	_, err = b.TryReserve(ctx, 0) // all held: nothing left
	requireDenied(t, err, 0, 0)
	require.NoError(t, b.Record(ctx, r, 100, 0))
	_, err = b.TryReserve(ctx, 0) // all consumed
	requireDenied(t, err, 0, 0)
}

func TestAtomicDebtIsCarried(t *testing.T) {
	b := budget.NewAtomic(1000)
	r, err := b.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 1500, 0)) // 500 in debt
	s := snap(t, b)
	assert.Equal(t, uint64(1500), s.Consumed)
	assert.Equal(t, uint64(0), s.Remaining)
	assert.Equal(t, uint64(0), s.Held)
	_, err = b.TryReserve(ctx, 0)
	requireDenied(t, err, 0, 0)
}

func TestAtomicSaturatesAtMaxUint64(t *testing.T) {
	b := budget.NewAtomic(math.MaxUint64)
	r, err := b.TryReserve(ctx, math.MaxUint64)
	require.NoError(t, err)
	_, err = b.TryReserve(ctx, 0)
	requireDenied(t, err, 0, 0)
	require.NoError(t, b.Record(ctx, r, math.MaxUint64, math.MaxUint64))
	assert.Equal(t, uint64(math.MaxUint64), snap(t, b).Consumed)

	small := budget.NewAtomic(10)
	_, err = small.TryReserve(ctx, math.MaxUint64)
	requireDenied(t, err, math.MaxUint64, 10)
	r, err = small.TryReserve(ctx, 5)
	require.NoError(t, err)
	require.NoError(t, small.Record(ctx, r, math.MaxUint64, 1))
	s := snap(t, small)
	assert.Equal(t, uint64(math.MaxUint64), s.Consumed)
	assert.Equal(t, uint64(0), s.Held)
	assert.Equal(t, uint64(0), s.Remaining)
}

func TestSettleAtMostOnce(t *testing.T) {
	b := budget.NewAtomic(100)
	r, err := b.TryReserve(ctx, 60)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 10, 10))
	require.NoError(t, b.Record(ctx, r, 50, 50)) // no-op
	require.NoError(t, b.Release(ctx, r))        // no-op
	assert.Equal(t, budget.Snapshot{Capacity: 100, Consumed: 20, Remaining: 80}, snap(t, b))
	assert.True(t, budgetkit.Settled(r))
	assert.False(t, budgetkit.Settle(r))
}

func TestConcurrentSettleOfOneReservationCountsOnce(t *testing.T) {
	b := budget.NewAtomic(1000)
	r, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				assert.NoError(t, b.Record(ctx, r, 7, 3))
			} else {
				assert.NoError(t, b.Release(ctx, r))
			}
		}()
	}
	wg.Wait()
	s := snap(t, b)
	assert.Zero(t, s.Held)
	assert.Contains(t, []uint64{0, 10}, s.Consumed)
	assert.Equal(t, 1000-s.Consumed, s.Remaining)
}

func TestNilAndForeignReservationsAreErrors(t *testing.T) {
	a := budget.NewAtomic(100, budget.WithName("a"))
	other := budget.NewAtomic(100, budget.WithName("other"))
	foreign, err := other.TryReserve(ctx, 10)
	require.NoError(t, err)

	for name, r := range map[string]*budget.Reservation{
		"nil":      nil,
		"foreign":  foreign,
		"external": budgetkit.NewReservation("someone else", "id", 10),
		"zero":     &budget.Reservation{},
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, a.Record(ctx, r, 1, 1), budgetkit.ErrInvalidReservation)
			assert.ErrorIs(t, a.Release(ctx, r), budgetkit.ErrInvalidReservation)
		})
	}
	assert.False(t, budgetkit.Settled(foreign), "a rejected settle must not consume the reservation")
	require.NoError(t, other.Release(ctx, foreign))
	assert.Equal(t, uint64(100), a.Remaining())
	assert.Equal(t, uint64(100), other.Remaining())
}

func TestTryReserveRange(t *testing.T) {
	b := budget.NewAtomic(1000, budget.WithName("r"))
	r, err := b.TryReserveRange(ctx, 100, 300)
	require.NoError(t, err)
	assert.Equal(t, uint64(300), r.Tokens(), "all of max when it fits")
	r2, err := b.TryReserveRange(ctx, 100, 5000)
	require.NoError(t, err)
	assert.Equal(t, uint64(700), r2.Tokens(), "what is left")
	_, err = b.TryReserveRange(ctx, 1, 10)
	requireDenied(t, err, 1, 0)
	require.NoError(t, b.Release(ctx, r2))
	_, err = b.TryReserveRange(ctx, 800, 900)
	requireDenied(t, err, 800, 700)
	r3, err := b.TryReserveRange(ctx, 50, 10) // min > max: exactly min
	require.NoError(t, err)
	assert.Equal(t, uint64(50), r3.Tokens())
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestWindowRolloverMidFlight(t *testing.T) {
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clock := newFakeClock(start.Add(30 * time.Minute))
	b := budget.NewAtomic(1000, budget.WithWindow(window.Every(time.Hour)), budget.WithClock(clock.Now))
	assert.Equal(t, start.Add(time.Hour), snap(t, b).WindowEnd.UTC())

	done, err := b.TryReserve(ctx, 200)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, done, 100, 0))
	inFlight, err := b.TryReserve(ctx, 600) // made in window 1, settled in window 2
	require.NoError(t, err)
	released, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)

	clock.Advance(time.Hour)
	s := snap(t, b)
	assert.Equal(t, budget.Snapshot{Capacity: 1000, Remaining: 1000, WindowEnd: start.Add(2 * time.Hour)}, budget.Snapshot{
		Capacity: s.Capacity, Consumed: s.Consumed, Held: s.Held, Remaining: s.Remaining, WindowEnd: s.WindowEnd.UTC(),
	}, "a new window starts empty")

	fresh, err := b.TryReserve(ctx, 1000)
	require.NoError(t, err, "old holds do not count against the new window")
	require.NoError(t, b.Record(ctx, inFlight, 500, 0))
	require.NoError(t, b.Release(ctx, released))
	s = snap(t, b)
	assert.Equal(t, uint64(0), s.Consumed, "usage of an old reservation stays in its own window")
	assert.Equal(t, uint64(1000), s.Held, "settling an old hold gives nothing to the new window")
	require.NoError(t, b.Record(ctx, fresh, 10, 0))
	assert.Equal(t, uint64(10), snap(t, b).Consumed)
}

// TestWindowRolloverRaceCountsEveryRecordOnce records from many goroutines while the
// clock crosses window ends, and requires exact conservation: every window holds
// exactly the usage of the reservations granted in it (a Record that lost usage, or
// put it in another window, fails), and no two window objects cover the same period (a
// rollover race that installed two windows would let grants escape the capacity).
func TestWindowRolloverRaceCountsEveryRecordOnce(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := budget.NewAtomic(math.MaxUint64/2, budget.WithWindow(window.Every(time.Second)), budget.WithClock(clock.Now))
	type seen struct {
		end      int64
		consumed func() uint64
		recorded uint64
	}
	const workers, advances = 8, 60
	perWorker := make([]map[any]*seen, workers)
	var ops atomic.Int64
	var exited atomic.Int32 // a worker that failed stops early: stop waiting for it
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range workers {
		perWorker[g] = map[any]*seen{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer exited.Add(1)
			for i := uint64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := b.TryReserve(ctx, 5)
				if !assert.NoError(t, err) {
					return
				}
				key, end, consumed := budget.WindowOf(r)
				usage := 1 + i%7 // usage varies, so a lost or halved Record shows
				if !assert.NoError(t, b.Record(ctx, r, usage, 0)) {
					return
				}
				w := perWorker[g][key]
				if w == nil {
					w = &seen{end: end, consumed: consumed}
					perWorker[g][key] = w
				}
				w.recorded += usage
				ops.Add(1)
			}
		}()
	}
	// Advance the clock only after the workers made progress since the last advance,
	// so that rollovers interleave with reserves and settles (no sleeps).
	for range advances {
		last := ops.Load()
		for ops.Load() < last+20 && exited.Load() == 0 {
			runtime.Gosched()
		}
		clock.Advance(300 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	windows := map[any]*seen{}
	ends := map[int64]int{}
	var total uint64
	for _, m := range perWorker {
		for key, w := range m {
			if all := windows[key]; all != nil {
				all.recorded += w.recorded
				continue
			}
			windows[key] = &seen{end: w.end, consumed: w.consumed, recorded: w.recorded}
			ends[w.end]++
		}
	}
	for _, w := range windows {
		assert.Equal(t, w.recorded, w.consumed(), "the window ending at %d holds exactly its reservations' usage", w.end)
		total += w.recorded
	}
	for end, n := range ends {
		assert.Equal(t, 1, n, "%d windows end at %d", n, end)
	}
	assert.Greater(t, len(windows), advances/4, "the clock crossed window ends while records ran")
	assert.NotZero(t, total)
	assert.Zero(t, snap(t, b).Held, "nothing held once every call has settled")
}

func TestCalendarWindows(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	at := time.Date(2026, 3, 8, 12, 0, 0, 0, ny) // a DST day in New York
	s, e := window.Daily(ny).Bounds(at)
	assert.Equal(t, time.Date(2026, 3, 8, 0, 0, 0, 0, ny), s)
	assert.Equal(t, time.Date(2026, 3, 9, 0, 0, 0, 0, ny), e)
	s, e = window.Monthly(nil).Bounds(time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC))
	assert.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), s)
	assert.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), e)
	s, e = window.Every(time.Hour).Bounds(time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC))
	assert.Equal(t, time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), s.UTC())
	assert.Equal(t, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), e.UTC())
}

func TestAlertFiresOncePerWindow(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var alerts []budget.Snapshot
	var mu sync.Mutex
	b := budget.NewAtomic(1000,
		budget.WithName("alerting"),
		budget.WithWindow(window.Daily(time.UTC)), budget.WithClock(clock.Now),
		budget.WithAlerts(func(a budget.Alert) {
			mu.Lock()
			defer mu.Unlock()
			alerts = append(alerts, a.Snapshot)
		}, 0.8))
	spend := func(n uint64) {
		r, err := b.TryReserve(ctx, 1)
		require.NoError(t, err)
		require.NoError(t, b.Record(ctx, r, n, 0))
	}
	spend(799)
	assert.Empty(t, alerts)
	spend(1)
	require.Len(t, alerts, 1)
	assert.Equal(t, uint64(800), alerts[0].Consumed)
	assert.Equal(t, "alerting", alerts[0].Name)
	spend(100)
	assert.Len(t, alerts, 1, "once per window")
	clock.Advance(24 * time.Hour)
	spend(900)
	assert.Len(t, alerts, 2, "again in the next window")
}

func TestOptionsEdgeCases(t *testing.T) {
	b := budget.NewAtomic(10, nil, budget.WithClock(nil), budget.WithWindow(nil), budget.WithAlerts(func(budget.Alert) { t.Fatal("disabled") }, 2, 0, math.NaN()))
	r, err := b.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 10, 0))
	assert.True(t, snap(t, b).WindowEnd.IsZero())
	assert.Equal(t, uint64(10), snap(t, b).Capacity)
	assert.Nil(t, b.AlertFractions())
}

func TestDeniedErrorMessage(t *testing.T) {
	err := error(&budget.DeniedError{Requested: 5, Remaining: 2})
	assert.Equal(t, `budget: denied by "unnamed": requested 5 tokens, 2 remaining`, err.Error())
	assert.False(t, errors.Is(err, budget.ErrUnavailable))
}

// TestReservationOffersUsersNothingThatSettles pins the user-facing method set of
// Reservation: reading it is all a user can do, so no call on it can mark a hold
// settled behind its budget's back (implementers settle through budgetkit).
func TestReservationOffersUsersNothingThatSettles(t *testing.T) {
	typ := reflect.TypeOf(&budget.Reservation{})
	var names []string
	for i := range typ.NumMethod() {
		names = append(names, typ.Method(i).Name)
	}
	assert.Equal(t, []string{"FailedOpen", "Tokens"}, names)

	b := budget.NewAtomic(100)
	r, err := b.TryReserve(ctx, 60)
	require.NoError(t, err)
	_, _ = r.Tokens(), r.FailedOpen()
	require.NoError(t, b.Record(ctx, r, 10, 0))
	assert.Equal(t, uint64(90), b.Remaining(), "reading a reservation never settles it")
}

// TestAtomicAllocations holds the package doc to its word: a reserve and settle
// called directly allocate nothing (the reservation stays on the caller's stack), and
// through the TokenBudget interface they allocate at most the reservation.
func TestAtomicAllocations(t *testing.T) {
	a := budget.NewAtomic(1 << 62)
	direct := testing.AllocsPerRun(1000, func() {
		r, err := a.TryReserve(ctx, 10)
		if err == nil {
			_ = a.Record(ctx, r, 4, 3)
		}
	})
	if direct != 0 {
		t.Errorf("direct reserve+record: %v allocations, want 0", direct)
	}
	var b budget.TokenBudget = a
	viaInterface := testing.AllocsPerRun(1000, func() {
		r, err := b.TryReserve(ctx, 10)
		if err == nil {
			_ = b.Record(ctx, r, 4, 3)
		}
	})
	if viaInterface > 1 {
		t.Errorf("reserve+record through TokenBudget: %v allocations, want at most 1", viaInterface)
	}
}
