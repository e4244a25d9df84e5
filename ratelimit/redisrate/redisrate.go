package redisrate

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/ratelimit"
	"github.com/spendguard/spendguard/ratelimit/internal/window"
)

var (
	//go:embed common.lua
	commonLua string
	//go:embed reserve.lua
	reserveLua string
	//go:embed settle.lua
	settleLua string
	//go:embed status.lua
	statusLua string
	//go:embed setlimit.lua
	setLimitLua string

	reserveScript  = redis.NewScript(commonLua + reserveLua)
	settleScript   = redis.NewScript(commonLua + settleLua)
	statusScript   = redis.NewScript(commonLua + statusLua)
	setLimitScript = redis.NewScript(commonLua + setLimitLua)
)

// maxCount is the largest count the scripts hold exactly (Lua's doubles); larger
// estimates and usages are clamped to it.
const maxCount = 1 << 53

// settleTimeout bounds the settle that gives back the hold of a call whose context
// ended while it waited.
const settleTimeout = 5 * time.Second

// Option configures a limiter built by New.
type Option func(*config)

type config struct {
	prefix string
	err    error
}

// WithKeyPrefix sets the start of every key (default "spendguard-rate"): keys are
// prefix:{name}:…, so that all keys of one limit share a Redis Cluster hash slot. An
// empty prefix leaves keys starting at {name}; a prefix containing '{' or '}' makes
// New fail.
func WithKeyPrefix(p string) Option {
	return func(c *config) {
		if strings.ContainsAny(p, "{}") {
			c.err = fmt.Errorf("key prefix %q contains '{' or '}'", p)
			return
		}
		c.prefix = p
	}
}

type limiter struct {
	rdb      redis.UniversalClient
	name     string
	lim      ratelimit.Limit
	keys     []string
	interval any // ms, boxed once
	widthMs  int64
	width    any
	limits   [4]any
	own      any // l as the scripts write it, "interval T I O R", boxed once
}

// New returns the rate limit called name, kept in Redis through rdb and shared by
// every process that builds it with the same name (and prefix): l holds over the
// calls of all of them. Each process passes its own l, so give them the same one.
// The interval is counted in whole milliseconds (rounded up), by the Redis server's
// clock.
//
// l is a default: a limit stored in Redis for the same interval (SetLimit, or
// `spendguard rate set`) replaces its counts from the next Reserve on, in every
// process, read by Reserve's own script. Each Reserve that admits a call writes l
// next to the window when it differs from what is there, so that List shows it.
//
// Reserve and Settle are one Lua script each, one round trip: Reserve's script admits
// the call at the first instant it fits, in the order the scripts run, and the
// process sleeps until then without asking Redis again. A call whose context ends
// while it waits gives its place back (one more script). When Redis cannot be
// reached, Reserve and Settle return an error wrapping budget.ErrUnavailable: the call
// fails closed. It is safe for concurrent use.
//
// New makes no call to Redis. It returns an error for a nil client, an empty name or
// one containing '{' or '}', an interval under a millisecond, a limit that sets no
// count, or a bad option.
func New(rdb redis.UniversalClient, name string, l ratelimit.Limit, opts ...Option) (ratelimit.Limiter, error) {
	if isNil(rdb) {
		return nil, errors.New("redisrate: nil Redis client")
	}
	if name == "" || strings.ContainsAny(name, "{}") {
		return nil, fmt.Errorf("redisrate: limit name %q is empty or contains '{' or '}' (the name is the keys' hash tag)", name)
	}
	if err := window.Check(l.Interval, l.Tokens, l.Input, l.Output, l.Requests); err != nil {
		return nil, fmt.Errorf("redisrate: %q: %w", name, err)
	}
	if l.Interval < time.Millisecond {
		return nil, fmt.Errorf("redisrate: %q: interval %v is under a millisecond", name, l.Interval)
	}
	c := config{prefix: "spendguard-rate"}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.err != nil {
		return nil, fmt.Errorf("redisrate: %q: %w", name, c.err)
	}
	ms := intervalMs(l.Interval)
	width := window.Width(time.Duration(ms), 1)
	return &limiter{
		rdb: rdb, name: name, lim: l,
		keys:     keysOf(c.prefix, name),
		interval: ms, widthMs: int64(width), width: int64(width),
		limits: [4]any{clamp(l.Tokens), clamp(l.Input), clamp(l.Output), clamp(l.Requests)},
		own:    any(limitString(l)),
	}, nil
}

// intervalMs is an interval in whole milliseconds, rounded up.
func intervalMs(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// keysOf are the keys of the limit name: its window, its holds, its override.
func keysOf(prefix, name string) []string {
	base := "{" + name + "}"
	if prefix != "" {
		base = prefix + ":" + base
	}
	return []string{base + ":window", base + ":holds", base + ":limit"}
}

// limitString is l as the scripts keep it: "interval T I O R" (ms, then the counts).
func limitString(l ratelimit.Limit) string {
	return fmt.Sprintf("%d %d %d %d %d", intervalMs(l.Interval), clamp(l.Tokens), clamp(l.Input), clamp(l.Output), clamp(l.Requests))
}

func isNil(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case nil:
		return true
	case *redis.Client:
		return c == nil
	case *redis.ClusterClient:
		return c == nil
	case *redis.Ring:
		return c == nil
	}
	return false
}

func clamp(n uint64) uint64 { return min(n, maxCount) }

// Reserve implements ratelimit.Limiter, in one round trip. A nil ctx is
// context.Background().
func (l *limiter) Reserve(ctx context.Context, e ratelimit.Cost) (*ratelimit.Reservation, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	maxWait := int64(-1)
	if dl, ok := ctx.Deadline(); ok {
		maxWait = max(0, int64(time.Until(dl)/time.Millisecond))
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // never fails (Go ≥ 1.24)
	id := hex.EncodeToString(raw[:])
	res, err := reserveScript.Run(ctx, l.rdb, l.keys, l.interval, l.width,
		l.limits[0], l.limits[1], l.limits[2], l.limits[3], clamp(e.Input), clamp(e.Output), maxWait, id, l.own).Int64Slice()
	if err != nil {
		return nil, l.wrap("reserve", err)
	}
	// The limit in force: the process's own, or the override its script read.
	inForce := func(c []int64) ratelimit.Limit {
		return ratelimit.Limit{Interval: l.lim.Interval, Tokens: uint64(c[0]), Input: uint64(c[1]), Output: uint64(c[2]), Requests: uint64(c[3])}
	}
	switch {
	case len(res) == 5 && res[0] == -1:
		return nil, &ratelimit.Error{Limiter: l.name, Limit: inForce(res[1:]), Estimate: e, Never: true}
	case len(res) == 6 && res[0] == 0:
		return nil, &ratelimit.Error{Limiter: l.name, Limit: inForce(res[2:]), Estimate: e, Wait: time.Duration(res[1]) * time.Millisecond}
	case len(res) != 3 || res[0] != 1 || res[2] < 0:
		return nil, fmt.Errorf("redisrate: %q: reserve: unexpected reply %v", l.name, res)
	}
	wait := time.Duration(res[2]) * time.Millisecond
	r := &ratelimit.Reservation{Limiter: l.name, Estimate: e, Start: time.UnixMilli(res[1]), Waited: wait, ID: id}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
			defer cancel()
			_ = l.Settle(sctx, r, ratelimit.Cost{}, 0) // its lease gives it back if this fails
			return nil, ctx.Err()
		}
	}
	return r, nil
}

// Settle implements ratelimit.Limiter, in one round trip. Settles are idempotent by
// reservation id, from any process. A reservation whose slot no longer counts (its
// call outlived the interval) settles as a no-op. When Redis cannot be reached the
// error wraps budget.ErrUnavailable and the settle may be retried; if it never is,
// the reservation keeps its estimate until its slot stops counting.
func (l *limiter) Settle(ctx context.Context, r *ratelimit.Reservation, used ratelimit.Cost, retryAfter time.Duration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if r == nil || r.Limiter != l.name || len(r.ID) != 32 {
		return fmt.Errorf("redisrate: %q: Settle of a reservation this limit did not issue", l.name)
	}
	k := r.Start.UnixMilli() / l.widthMs
	ra := int64(0)
	if retryAfter > 0 {
		ra = max(1, int64((retryAfter+time.Millisecond-1)/time.Millisecond))
	}
	err := settleScript.Run(ctx, l.rdb, l.keys[:2], l.interval, l.width, r.ID, k,
		clamp(r.Estimate.Input), clamp(r.Estimate.Output), clamp(used.Input), clamp(used.Output), ra).Err()
	if err != nil {
		return l.wrap("settle", err)
	}
	return nil
}

// wrap names the limit and the operation, and marks the failures that mean Redis
// could not be reached (or could not serve now) with budget.ErrUnavailable.
func (l *limiter) wrap(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redisrate: %q: %s: %w", l.name, op, err)
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && !busy(rerr.Error()) {
		return fmt.Errorf("redisrate: %q: %s failed in Redis: %w", l.name, op, err)
	}
	if cc, ok := l.rdb.(*redis.ClusterClient); ok {
		cc.ReloadState(context.Background()) // a failover: find the new master now
	}
	return fmt.Errorf("%w: redisrate: %q: %s: %w", budget.ErrUnavailable, l.name, op, err)
}

func busy(msg string) bool {
	msg = strings.TrimPrefix(msg, "ERR ")
	for _, p := range [...]string{"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "max number of clients"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
