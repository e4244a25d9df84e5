package ratelimit_test

import (
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/spendguard/spendguard/ratelimit"
)

// BenchmarkRateLocalReserveSettle is one Reserve and one Settle on the in-process
// limiter, from 2 goroutines, with a limit no call waits for. Its baseline is
// BenchmarkRateXTimeReserveCancel in the same run.
func BenchmarkRateLocalReserveSettle(b *testing.B) {
	l, err := ratelimit.New("bench", ratelimit.Limit{Interval: time.Minute, Tokens: 1 << 62, Requests: 1 << 62})
	if err != nil {
		b.Fatal(err)
	}
	est, used := ratelimit.Cost{Input: 700, Output: 300}, ratelimit.Cost{Input: 690, Output: 120}
	b.ReportAllocs()
	b.SetParallelism(1)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := l.Reserve(ctx, est)
			if err != nil {
				b.Error(err)
				return
			}
			if err := l.Settle(ctx, r, used, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRateXTimeReserveCancel is golang.org/x/time/rate's nearest pair: ReserveN
// of the estimate, then Cancel (its only way to give tokens back), with a limit no
// call waits for.
func BenchmarkRateXTimeReserveCancel(b *testing.B) {
	l := rate.NewLimiter(rate.Limit(1<<40), 1<<40)
	b.ReportAllocs()
	b.SetParallelism(1)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := l.ReserveN(time.Now(), 1000)
			if !r.OK() {
				b.Error("not ok")
				return
			}
			r.Cancel()
		}
	})
}
