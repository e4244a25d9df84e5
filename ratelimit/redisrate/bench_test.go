package redisrate_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/ratelimit"
	"github.com/spendguard/spendguard/ratelimit/redisrate"
)

func benchClient(b *testing.B) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: needService(b, "SPENDGUARD_REDIS_ADDR"), PoolSize: 64, MinIdleConns: 32})
	b.Cleanup(func() { _ = c.Close() })
	return c
}

func parallel32(b *testing.B, body func(pb *testing.PB)) {
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(body)
}

// BenchmarkRedisRateReserveSettle is one Reserve and one Settle (two scripts, two
// round trips) from 32 goroutines, with a limit no call waits for. Its baseline is
// BenchmarkRedisRateLimiterAllowN in the same run.
func BenchmarkRedisRateReserveSettle(b *testing.B) {
	lim, err := redisrate.New(benchClient(b), uniqueName(b), ratelimit.Limit{Interval: time.Minute, Tokens: 1 << 50, Requests: 1 << 50})
	if err != nil {
		b.Fatal(err)
	}
	est, used := ratelimit.Cost{Input: 700, Output: 300}, ratelimit.Cost{Input: 690, Output: 120}
	parallel32(b, func(pb *testing.PB) {
		for pb.Next() {
			r, err := lim.Reserve(ctx, est)
			if err != nil {
				b.Error(err)
				return
			}
			if err := lim.Settle(ctx, r, used, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRedisRateLimiterAllowN is github.com/go-redis/redis_rate's AllowN of the
// estimate (GCRA, one script, nothing to settle), from 32 goroutines.
func BenchmarkRedisRateLimiterAllowN(b *testing.B) {
	rl := redis_rate.NewLimiter(benchClient(b))
	key := uniqueName(b)
	limit := redis_rate.Limit{Rate: 1 << 40, Burst: 1 << 40, Period: time.Minute}
	parallel32(b, func(pb *testing.PB) {
		for pb.Next() {
			if _, err := rl.AllowN(ctx, key, limit, 1000); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
