package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/ratelimit"
	"github.com/spendguard/spendguard/ratelimit/redisrate"
)

// parseRate reads -rate TOKENS/INTERVAL ("3000/5s", "90000/1m"): a token limit per
// interval. The interval is a Go duration, or a bare unit ("3000/s", "90000/m").
func parseRate(s string) (ratelimit.Limit, error) {
	tok, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return ratelimit.Limit{}, fmt.Errorf("-rate %q: want TOKENS/INTERVAL, like 3000/5s", s)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(tok), 10, 64)
	if err != nil || n == 0 {
		return ratelimit.Limit{}, fmt.Errorf("-rate %q: the tokens must be a positive integer", s)
	}
	per = strings.TrimSpace(per)
	if per != "" && (per[0] < '0' || per[0] > '9') {
		per = "1" + per // "3000/s" is 3000 per 1s
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Millisecond || d > 24*time.Hour {
		return ratelimit.Limit{}, fmt.Errorf("-rate %q: the interval must be a duration between 1ms and 24h, like 5s or 1m", s)
	}
	return ratelimit.Limit{Interval: d, Tokens: n}, nil
}

// newRateLimit is the run's token rate limit (nil without -rate): in-process, or
// shared through Redis by every run that names the same model, with -redis.
func newRateLimit(c config) (ratelimit.Limiter, func(), error) {
	if c.rate.Interval == 0 {
		return nil, func() {}, nil
	}
	name := c.model + "-rate"
	if c.redisAddr == "" {
		l, err := ratelimit.New(name, c.rate)
		return l, func() {}, err
	}
	rdb := redisClient(c.redisAddr)
	l, err := redisrate.New(rdb, name, c.rate)
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	return l, func() { _ = rdb.Close() }, nil
}

// redisTimeout bounds a dial to Redis and the first ping.
const redisTimeout = 2 * time.Second

// redisClient is a client of the Redis at addr whose dials give up after
// redisTimeout, retried once, instead of go-redis's default of five attempts.
func redisClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, DialTimeout: redisTimeout, MaxRetries: 1, DialerRetries: 1})
}

// ping checks that the Redis at addr answers within redisTimeout: an unreachable
// Redis is one error naming it, before the run starts.
func ping(ctx context.Context, rdb *redis.Client, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cannot reach Redis at %s: %v", addr, err)
	}
	return nil
}
