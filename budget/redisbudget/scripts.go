package redisbudget

import (
	"context"
	_ "embed"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts, one file each; common.lua (the keys, the counts) and reclaim.lua
// (leases) are concatenated in front of the scripts that use them, so that each is
// one self-contained EVAL.
var (
	//go:embed common.lua
	commonLua string
	//go:embed reclaim.lua
	reclaimLua string
	//go:embed reserve.lua
	reserveLua string
	//go:embed settle.lua
	settleLua string
	//go:embed snapshot.lua
	snapshotLua string
	//go:embed status.lua
	statusLua string
	//go:embed reset.lua
	resetLua string
	//go:embed capacity.lua
	capacityLua string

	reserveScript  = redis.NewScript(commonLua + reclaimLua + reserveLua)
	settleScript   = redis.NewScript(commonLua + settleLua)
	snapshotScript = redis.NewScript(commonLua + reclaimLua + snapshotLua)
	statusScript   = redis.NewScript(commonLua + statusLua)
	resetScript    = redis.NewScript(commonLua + resetLua)
	capacityScript = redis.NewScript(capacityLua)
)

// bounded runs f, whose Redis calls use ctx, and returns no later than ctx ends,
// however the client was built: go-redis applies a context's deadline to its reads and
// writes only with Options.ContextTimeoutEnabled, and a cancellation never, so a
// frozen server would hold the caller until the client's ReadTimeout, and its retries,
// ran out. When ctx ends first, bounded returns ctx's error at once and f goes on in
// its goroutine until the client returns; then late, if not nil, gets f's result
// there (a reserve's late grant is given back by it). A ctx that can never end costs
// nothing: f runs on the caller's goroutine.
func bounded[T any](ctx context.Context, c *config, f func(context.Context) (T, error), late func(T, error)) (T, error) {
	if ctx.Done() == nil {
		return f(ctx)
	}
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	p := &pending[T]{done: make(chan struct{})}
	go func() {
		p.v, p.err = f(ctx)
		if !p.state.CompareAndSwap(0, 1) { // the caller has left
			if late != nil {
				late(p.v, p.err)
			}
			c.late.Done()
		}
		close(p.done)
	}()
	select {
	case <-p.done:
		return p.v, p.err
	case <-ctx.Done():
		c.late.Add(1)
		if p.state.CompareAndSwap(0, 2) {
			return zero, ctx.Err()
		}
		c.late.Done() // f returned as ctx ended: its result stands
		<-p.done
		return p.v, p.err
	}
}

// pending is one bounded call: state 0 while f runs, 1 once f has returned to a
// waiting caller, 2 once the caller has left.
type pending[T any] struct {
	state atomic.Int32
	done  chan struct{}
	v     T
	err   error
}

// run runs a reserve or settle script: one EVALSHA (EVAL when the server does not have
// it), or with WithReplicaAck the script and a WAIT on one connection.
func (c *config) run(ctx context.Context, s *redis.Script, keys []string, args ...any) ([]int64, error) {
	if c.acks == 0 {
		return s.Run(ctx, c.rdb, keys, args...).Int64Slice()
	}
	// WAIT counts the replicas that have every write made on its own connection, so the
	// script goes to the master of the keys' slot directly, pipelined with the WAIT.
	node := c.rdb
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		node = m
	}
	var res *redis.Cmd
	var acked *redis.Cmd
	for _, sha := range [...]bool{true, false} {
		pipe := node.Pipeline()
		if sha {
			res = s.EvalSha(ctx, pipe, keys, args...)
		} else {
			res = s.Eval(ctx, pipe, keys, args...)
		}
		acked = pipe.Do(ctx, "wait", c.acks, c.ackTimeoutMs)
		_, _ = pipe.Exec(ctx) // the errors are the commands'
		if !sha || !redis.HasErrorPrefix(res.Err(), "NOSCRIPT") {
			break
		}
	}
	v, err := res.Int64Slice()
	var n int64
	if err == nil {
		n, err = acked.Int64()
	}
	if err != nil {
		return nil, err
	}
	if n < int64(c.acks) {
		return nil, fmt.Errorf("%w: %d of %d replicas acknowledged within %v", errNotReplicated, n, c.acks, c.ackTimeout)
	}
	return v, nil
}

// counts are what the snapshot and status scripts report.
type counts struct {
	consumed, held, capacity uint64
	fromRedis                bool
}

func (c counts) remaining() uint64 {
	if u := c.consumed + c.held; u < c.capacity { // each ≤ 2^53: no overflow
		return c.capacity - u
	}
	return 0
}

// readCounts runs the snapshot script (which reclaims expired holds) or the status
// script (which writes nothing) on one window's keys (hash, lease set, reclaimed set,
// capacity override), and returns the counts and, from status, the reply's rest.
func readCounts(ctx context.Context, rdb redis.UniversalClient, s *redis.Script, keys []string, args ...any) (counts, []int64, error) {
	res, err := s.Run(ctx, rdb, keys, args...).Int64Slice()
	if err != nil {
		return counts{}, nil, err
	}
	if len(res) < 4 || res[0] < 0 || res[1] < 0 || res[2] < 0 {
		return counts{}, nil, replyError{fmt.Errorf("unexpected reply %v", res)}
	}
	return counts{uint64(res[0]), uint64(res[1]), uint64(res[2]), res[3] == 1}, res[4:], nil
}
