package budget_test

import (
	"math"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/window"
)

// The comparison, all with b.RunParallel: a reserve and a settle per op on one
// shared budget, against x/time/rate's reservation (ReserveN + Cancel) and against
// the floor of two atomic adds on shared counters.

func BenchmarkAtomicReserveRecord(b *testing.B) {
	benchAtomicPairs(b, budget.NewAtomic(math.MaxUint64))
}

func BenchmarkAtomicReserveRecordWindowed(b *testing.B) {
	benchAtomicPairs(b, budget.NewAtomic(math.MaxUint64, budget.WithWindow(window.Every(time.Hour))))
}

// benchAtomicPairs calls the *Atomic directly, so TryReserve inlines and the
// reservation stays on the stack, as in middleware's fast path.
func benchAtomicPairs(b *testing.B, bud *budget.Atomic) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := bud.TryReserve(ctx, 100)
			if err != nil {
				b.Error(err)
				return
			}
			if err := bud.Record(ctx, r, 40, 30); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Through the TokenBudget interface, as a budget of unknown type is called.
func BenchmarkAtomicReserveRecordInterface(b *testing.B) {
	var bud budget.TokenBudget = budget.NewAtomic(math.MaxUint64)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := bud.TryReserve(ctx, 100)
			if err != nil {
				b.Error(err)
				return
			}
			_ = bud.Record(ctx, r, 40, 30)
		}
	})
}

func BenchmarkRateLimiterReserveCancel(b *testing.B) {
	lim := rate.NewLimiter(rate.Limit(1e15), math.MaxInt32) // never runs dry: measure the bookkeeping only
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := lim.ReserveN(time.Now(), 100)
			if !r.OK() {
				b.Error("rate: reservation not OK")
				return
			}
			r.Cancel()
		}
	})
}

func BenchmarkFloorTwoAtomicAdds(b *testing.B) {
	var committed, consumed uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			atomic.AddUint64(&committed, 100)
			atomic.AddUint64(&consumed, 70)
		}
	})
}
