package redisbudget

import (
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Family hands out the budgets of many keys (tenant ids, user ids, API keys) that
// share a Redis client, a key prefix, a default capacity and the other options: the
// budget of key k is the one New(rdb, k, capacity, opts...) would build, shared with
// every process that names it. Its operations (Status, List, SetCapacity,
// UnsetCapacity, Reset, in admin.go) read and change those budgets from anywhere, as
// cmd/spendguard does.
//
// A Family keeps nothing per key: Budget makes no call to Redis and the process's
// memory does not grow with the number of keys it has seen. A key's capacity can be
// changed for the whole fleet while it runs by storing an override in Redis
// (SetCapacity, or `spendguard set`), read by every reservation.
//
// A Family is safe for concurrent use. Build it with NewFamily; the zero value and a
// nil *Family are not usable (their methods panic).
type Family struct {
	c *config // shared, read-only, by every budget it builds
}

// NewFamily returns a family of budgets of capacity tokens per window by default,
// kept in Redis through rdb, configured by opts as New configures one budget. It
// makes no call to Redis. It returns an error for a nil client, a capacity above 2^53
// or a bad option. A tool that only operates budgets (cmd/spendguard) can give any
// capacity: Family's operations report what the reserving processes wrote in Redis.
func NewFamily(rdb redis.UniversalClient, capacity uint64, opts ...Option) (*Family, error) {
	c, err := newConfig(rdb, capacity, opts)
	if err != nil {
		if err == errNilClient {
			return nil, err
		}
		return nil, fmt.Errorf("redisbudget: family: %w", err)
	}
	return &Family{c: c}, nil
}

// Budget returns the budget of key, without a call to Redis, or an error (and a nil
// *Budget) for a key New would refuse as a name: empty, containing '{' or '}', or not
// valid UTF-8. Every call returns a new *Budget: a reservation must be settled by the
// Budget that granted it (middleware does so when the budget travels in the request's
// context), and budgets of the same key, from any call or process, share the same
// state in Redis.
func (f *Family) Budget(key string) (*Budget, error) {
	if err := checkName(key); err != nil {
		return nil, err
	}
	return f.c.budget(key), nil
}
