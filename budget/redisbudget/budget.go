package redisbudget

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
)

// Budget is a budget.TokenBudget whose state lives in Redis, shared by every process
// that builds one with the same client target, key prefix and name: grants are decided
// in Lua against capacity − consumed − held at one instant, one round trip per reserve
// and one per settle, and every hold has a lease, so that a process that dies leaks
// nothing. No call waits past its context's deadline, however the client was built,
// and a reservation is never granted after it.
//
// Its capacity is a default: an override stored in Redis (Family.SetCapacity, or
// `spendguard set`) takes precedence from the next reservation on, in every process.
//
// A Budget is safe for concurrent use. Build it with New or Family.Budget; the zero
// value and a nil *Budget are not usable (their methods panic).
type Budget struct {
	*config
	name string
	base string // prefix:{name}
	cur  atomic.Pointer[winKeys]
	// first holds the keys of the window the budget was built in (of its whole life
	// when unwindowed) in the budget's own allocation: a Family's budget built per
	// request costs two allocations, this struct and one string for all its keys.
	first winKeys
	// left is what the last reserve or settle of the current window through this
	// Budget reported was left (Remaining); leftKnown is false before the first.
	left      atomic.Uint64
	leftKnown atomic.Bool
}

// New returns the budget called name, of capacity tokens per window, kept in Redis
// through rdb. Every process that builds it with the same name (and prefix) shares it;
// capacity, lease and window are each process's own, so give them the same values.
//
// New makes no call to Redis. It returns an error for a nil client, a name that is
// empty, contains '{' or '}' (the name is the key's hash tag) or is not valid UTF-8, a
// capacity above 2^53 (the largest integer Redis's Lua numbers hold exactly), or a bad
// option. A capacity of 0 denies everything.
func New(rdb redis.UniversalClient, name string, capacity uint64, opts ...Option) (*Budget, error) {
	if isNil(rdb) {
		return nil, errNilClient
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	c, err := newConfig(rdb, capacity, opts)
	if err != nil {
		return nil, fmt.Errorf("redisbudget: budget %q: %w", name, err)
	}
	return c.budget(name), nil
}

// budget builds the budget called name (already checked) with c; it makes no call to
// Redis.
func (c *config) budget(name string) *Budget {
	b := &Budget{config: c, name: name}
	if b.window == nil {
		b.fill(&b.first, "all", time.Time{}, time.Time{})
	} else {
		tag, start, end := b.bounds(b.clock())
		b.fill(&b.first, tag, start, end)
	}
	b.cur.Store(&b.first)
	return b
}

// Name is the budget's name, as given to New.
func (b *Budget) Name() string { return b.name }

// Remaining is what the next reservation may take as of the last reserve or settle
// made through b in its current window: capacity in force − consumed − held, floored
// at 0, as the script reported it, with no round trip (budgetkit.RemainingReader, which
// middleware reads after every settle instead of a Snapshot). Other processes' calls
// since then are not in it, nor a window that has rolled over; before b's first call
// it is b's capacity. Use Snapshot for a fresh, fleet-wide reading.
func (b *Budget) Remaining() uint64 {
	if !b.leftKnown.Load() {
		return b.capacity
	}
	return b.left.Load()
}

// learnLeft notes what a script reported was left (negative: in debt, nothing).
func (b *Budget) learnLeft(left int64) {
	b.left.Store(uint64(max(left, 0)))
	b.leftKnown.Store(true)
}

// Snapshot reports the current window as one atomic read, in one round trip; it first
// reclaims holds whose lease has ended. Its Capacity is the one in force: Redis's
// override when there is one, else the budget's own. When Redis cannot be reached, or
// not before ctx ends, the error wraps budget.ErrUnavailable, whatever the failure
// policy.
func (b *Budget) Snapshot(ctx context.Context) (budget.Snapshot, error) {
	w, now := b.current()
	s := budget.Snapshot{Name: b.name, Capacity: b.capacity, WindowEnd: w.end}
	st, err := bounded(ctx, b.config, func(ctx context.Context) (counts, error) {
		c, _, err := readCounts(ctx, b.rdb, snapshotScript, w.keys, b.markArg, b.ttlArg(w, now), b.capArg)
		return c, err
	}, nil)
	if err != nil {
		return s, b.wrap("snapshot", err)
	}
	s.Capacity, s.Consumed, s.Held, s.Remaining = st.capacity, st.consumed, st.held, st.remaining()
	return s, nil
}

var (
	_ budget.TokenBudget        = (*Budget)(nil)
	_ budgetkit.RangeReserver   = (*Budget)(nil)
	_ budget.Observable         = (*Budget)(nil)
	_ budgetkit.RemainingReader = (*Budget)(nil)
	_ budgetkit.Alerting        = (*Budget)(nil)
)
