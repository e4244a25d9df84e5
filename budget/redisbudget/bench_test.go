package redisbudget_test

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget/redisbudget"
)

// benchClient connects to the shared server with a pool large enough for 32
// goroutines, or skips the benchmark when there is no server.
func benchClient(b *testing.B) *redis.Client {
	addr := needService(b, "SPENDGUARD_REDIS_ADDR")
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64, MinIdleConns: 32})
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// parallel32 runs body from 32 goroutines, whatever GOMAXPROCS is.
func parallel32(b *testing.B, body func(pb *testing.PB)) {
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(body)
}

// reserveRecord is the measured operation: reserve 1,000 tokens, record 500.
func reserveRecord(b *testing.B, bud *redisbudget.Budget) bool {
	r, err := bud.TryReserve(ctx, 1000)
	if err != nil {
		b.Error(err)
		return false
	}
	if err := bud.Record(ctx, r, 300, 200); err != nil {
		b.Error(err)
		return false
	}
	return true
}

// BenchmarkRedisReserveRecord is one TryReserve and one Record: two scripts, two
// round trips.
func BenchmarkRedisReserveRecord(b *testing.B) {
	rdb := benchClient(b)
	bud, err := redisbudget.New(rdb, uniqueName(b), redisbudget.MaxCapacity)
	if err != nil {
		b.Fatal(err)
	}
	parallel32(b, func(pb *testing.PB) {
		for pb.Next() && reserveRecord(b, bud) {
		}
	})
}

// BenchmarkRedisFamilyReserveRecord is ReserveRecord through a Family, each op on
// the next of 10,000 distinct keys: the budget is built per call from its key (as a
// service does per request), and every key has its own counters in Redis. Its
// baseline is BenchmarkRedisReserveRecord, one named budget, in the same run.
func BenchmarkRedisFamilyReserveRecord(b *testing.B) {
	rdb := benchClient(b)
	f, err := redisbudget.NewFamily(rdb, redisbudget.MaxCapacity, redisbudget.WithKeyPrefix(uniqueName(b)))
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "tenant-" + strconv.Itoa(i)
	}
	op := func(key string) bool {
		bud, err := f.Budget(key)
		if err != nil {
			b.Error(err)
			return false
		}
		return reserveRecord(b, bud)
	}
	// Every key's counters exist before the clock starts, as in a service that has
	// seen its tenants: what is measured is the steady state, not first calls.
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(keys) && op(keys[i]); i += 32 {
			}
		}()
	}
	wg.Wait()
	var next atomic.Uint64
	parallel32(b, func(pb *testing.PB) {
		for pb.Next() {
			if !op(keys[next.Add(1)%uint64(len(keys))]) {
				return
			}
		}
	})
}

var noop = redis.NewScript("return 1")

// BenchmarkRedisFloorTwoEvalsha is the floor for ReserveRecord: two EVALSHA round
// trips of a script that does nothing, on a key of the same shape.
func BenchmarkRedisFloorTwoEvalsha(b *testing.B) {
	rdb := benchClient(b)
	keys := []string{"spendguard:{" + uniqueName(b) + "}:all:h"}
	if err := noop.Load(ctx, rdb).Err(); err != nil {
		b.Fatal(err)
	}
	parallel32(b, func(pb *testing.PB) {
		for pb.Next() {
			for range 2 {
				if err := noop.EvalSha(ctx, rdb, keys).Err(); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
}

// BenchmarkRedisRateAllowN is go-redis/redis_rate's GCRA limiter: one script, one
// round trip per op, for reference.
func BenchmarkRedisRateAllowN(b *testing.B) {
	rdb := benchClient(b)
	lim := redis_rate.NewLimiter(rdb)
	key := uniqueName(b)
	// High enough never to deny at this rate, low enough for redis_rate's float
	// arithmetic to stay exact (at 2^30/s the state stops changing and only the read
	// path runs).
	limit := redis_rate.PerSecond(10_000_000)
	parallel32(b, func(pb *testing.PB) {
		for pb.Next() {
			res, err := lim.AllowN(ctx, key, limit, 1)
			if err != nil || res.Allowed != 1 {
				b.Error(err, res)
				return
			}
		}
	})
}

// BenchmarkClusterReserveRecord is BenchmarkRedisReserveRecord on the Redis Cluster:
// the baseline of BenchmarkClusterReserveRecordReplicaAck.
func BenchmarkClusterReserveRecord(b *testing.B) { benchCluster(b) }

// BenchmarkClusterReserveRecordReplicaAck is one TryReserve and one Record that each
// wait for the replica (WithReplicaAck(1, …)): what acknowledged writes cost.
func BenchmarkClusterReserveRecordReplicaAck(b *testing.B) {
	benchCluster(b, redisbudget.WithReplicaAck(1, time.Second))
}

func benchCluster(b *testing.B, opts ...redisbudget.Option) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:    strings.Split(needService(b, envCluster), ","),
		PoolSize: 64, MinIdleConns: 32,
	})
	b.Cleanup(func() { _ = rdb.Close() })
	bud, err := redisbudget.New(rdb, uniqueName(b), redisbudget.MaxCapacity, opts...)
	if err != nil {
		b.Fatal(err)
	}
	parallel32(b, func(pb *testing.PB) {
		for pb.Next() && reserveRecord(b, bud) {
		}
	})
}
