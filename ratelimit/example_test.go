package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spendguard/spendguard/ratelimit"
)

// A limit of 1,000 tokens per 200 ms: the second call does not fit beside the first
// and waits until the first stops counting, instead of failing; its settle gives back
// what it did not use.
func Example() {
	l, err := ratelimit.New("gpt-4o-mini", ratelimit.Limit{Interval: 200 * time.Millisecond, Tokens: 1000})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	first, _ := l.Reserve(ctx, ratelimit.Cost{Input: 400, Output: 300})  // prompt estimate, completion allowance
	_ = l.Settle(ctx, first, ratelimit.Cost{Input: 380, Output: 220}, 0) // what the provider billed
	second, _ := l.Reserve(ctx, ratelimit.Cost{Input: 500, Output: 300}) // 600 + 800 > 1000: waits
	fmt.Println("second waited about an interval:", second.Start.Sub(first.Start) >= 200*time.Millisecond)
	_ = l.Settle(ctx, second, ratelimit.Cost{}, 2*time.Second) // a 429: nothing billed, pause 2 s

	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = l.Reserve(short, ratelimit.Cost{Input: 10})
	var le *ratelimit.Error
	fmt.Println("fails at once, would wait > 1s:", errors.As(err, &le) && le.Wait > time.Second)
	// Output:
	// second waited about an interval: true
	// fails at once, would wait > 1s: true
}
