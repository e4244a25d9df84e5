package redisbudget

import (
	"fmt"

	"github.com/redis/go-redis/v9"
)

// capSuffix ends the key of a budget's capacity override: prefix:{name}:cap.
const capSuffix = "cap"

// Family hands out the budgets of many keys (tenant ids, user ids, API keys) that
// share a Redis client, a key prefix, a default capacity and the other options: the
// budget of key k is the one New(rdb, k, capacity, opts...) would build, shared with
// every process that names it.
//
// A Family keeps nothing per key: Budget makes no call to Redis and the process's
// memory does not grow with the number of keys it has seen. A key's capacity can be
// changed for the whole fleet while it runs by storing an override in Redis
// (Admin.SetCapacity, or `spendguard set`), read by every reservation.
//
// A Family is safe for concurrent use.
type Family struct {
	s *settings // shared, read-only, by every budget it builds
}

// NewFamily returns a family of budgets of capacity tokens per window by default,
// kept in Redis through rdb, configured by opts as New configures one budget. It
// makes no call to Redis. It returns an error for a nil client, a capacity above
// MaxCapacity or a bad option.
func NewFamily(rdb redis.UniversalClient, capacity uint64, opts ...Option) (*Family, error) {
	if isNil(rdb) {
		return nil, fmt.Errorf("redisbudget: nil Redis client")
	}
	s, err := newSettings(rdb, capacity, opts)
	if err != nil {
		return nil, fmt.Errorf("redisbudget: family: %w", err)
	}
	return &Family{s: s}, nil
}

// Budget returns the budget of key, without a call to Redis. Every call returns a new
// *Budget: a reservation must be settled by the Budget that granted it (middleware
// does so when the budget travels in the request's context), and budgets of the same
// key, from any call or process, share the same state in Redis. An empty key, or one
// containing '{' or '}', returns an error.
func (f *Family) Budget(key string) (*Budget, error) {
	if err := checkName(key); err != nil {
		return nil, err
	}
	return f.s.budget(key), nil
}

// Capacity is the default capacity of the family's budgets.
func (f *Family) Capacity() uint64 { return f.s.capacity }

// Prefix is the key prefix of the family's budgets.
func (f *Family) Prefix() string { return f.s.prefix }
