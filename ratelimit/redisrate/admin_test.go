package redisrate_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/ratelimit"
	"github.com/spendguard/spendguard/ratelimit/redisrate"
)

func TestSetLimit(t *testing.T) { onEachRedis(t, testSetLimit) }

func testSetLimit(t *testing.T, rdb redis.UniversalClient) {
	own := ratelimit.Limit{Interval: time.Hour, Tokens: 100, Requests: 10}
	t.Run("in force from the next reserve of a running limiter", func(t *testing.T) {
		name := uniqueName(t)
		lim := newLimit(t, rdb, name, own)
		reserve(t, lim, 90, 0)
		short, cancel := within(t, time.Second)
		defer cancel()
		_, err := lim.Reserve(short, ratelimit.Cost{Input: 20})
		require.ErrorAs(t, err, new(*ratelimit.Error), "90 + 20 > 100: it must wait")

		require.NoError(t, redisrate.SetLimit(ctx, rdb, name, ratelimit.Limit{Interval: time.Hour, Tokens: 1000}))
		r := reserve(t, lim, 500, 0) // above the process's own 100: the override is in force
		assert.Zero(t, r.Waited)

		require.NoError(t, redisrate.SetLimit(ctx, rdb, name, ratelimit.Limit{Interval: time.Hour, Tokens: 50, Output: 5}))
		_, err = lim.Reserve(ctx, ratelimit.Cost{Input: 40, Output: 20})
		var e *ratelimit.Error
		require.ErrorAs(t, err, &e)
		assert.True(t, e.Never, "20 output tokens never fit an override of 5")
		assert.Equal(t, ratelimit.Limit{Interval: time.Hour, Tokens: 50, Output: 5}, e.Limit, "the error names the limit in force")

		require.NoError(t, redisrate.SetLimit(ctx, rdb, name, ratelimit.Limit{}))
		short2, cancel2 := within(t, time.Second)
		defer cancel2()
		_, err = lim.Reserve(short2, ratelimit.Cost{Input: 40, Output: 20})
		require.ErrorAs(t, err, &e)
		assert.Equal(t, own, e.Limit, "unset: the process's own limit again")
		assert.False(t, e.Never, "60 fits 100, once the 590 counted stop counting")
	})
	t.Run("another interval is refused once a process wrote its own", func(t *testing.T) {
		name := uniqueName(t)
		require.NoError(t, redisrate.SetLimit(ctx, rdb, name, ratelimit.Limit{Interval: time.Minute, Tokens: 5}),
			"no process yet: nothing to compare with")
		lim := newLimit(t, rdb, name, own)
		reserve(t, lim, 90, 0) // the minute's override is not this hour's: 90 fits 100
		err := redisrate.SetLimit(ctx, rdb, name, ratelimit.Limit{Interval: time.Minute, Tokens: 5})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "per 1h0m0s")
		st := statusOf(t, rdb, name)
		assert.False(t, st.FromRedis, "the minute's override is in force nowhere")
		assert.Equal(t, own, st.Limit)
		assert.Equal(t, ratelimit.Limit{Interval: time.Minute, Tokens: 5}, st.Override)
	})
	t.Run("bad input changes nothing", func(t *testing.T) {
		name := uniqueName(t)
		require.NoError(t, redisrate.SetLimit(ctx, rdb, name, ratelimit.Limit{Interval: time.Hour, Tokens: 7}))
		for _, c := range []struct {
			name string
			l    ratelimit.Limit
			opts []redisrate.Option
		}{
			{name, ratelimit.Limit{Interval: time.Hour}, nil},
			{name, ratelimit.Limit{Tokens: 5}, nil},
			{name, ratelimit.Limit{Interval: time.Microsecond, Tokens: 5}, nil},
			{name, ratelimit.Limit{Interval: time.Hour, Requests: 1<<53 + 1}, nil},
			{"", ratelimit.Limit{Interval: time.Hour, Tokens: 5}, nil},
			{"a{b}", ratelimit.Limit{Interval: time.Hour, Tokens: 5}, nil},
			{name, ratelimit.Limit{Interval: time.Hour, Tokens: 5}, []redisrate.Option{redisrate.WithKeyPrefix("x}")}},
		} {
			assert.Error(t, redisrate.SetLimit(ctx, rdb, c.name, c.l, c.opts...), "%+v", c)
		}
		assert.Error(t, redisrate.SetLimit(ctx, nil, name, ratelimit.Limit{}))
		assert.Equal(t, ratelimit.Limit{Interval: time.Hour, Tokens: 7}, statusOf(t, rdb, name).Override)

		other := uniqueName(t)
		key := "spendguard-rate:{" + other + "}:limit"
		require.NoError(t, rdb.HSet(ctx, key, "a", "b").Err())
		err := redisrate.SetLimit(ctx, rdb, other, ratelimit.Limit{Interval: time.Hour, Tokens: 5})
		require.Error(t, err)
		assert.NotErrorIs(t, err, budget.ErrUnavailable)
		assert.Equal(t, "hash", rdb.Type(ctx, key).Val(), "a key of another type is left alone")
	})
}

func statusOf(t *testing.T, rdb redis.UniversalClient, name string) redisrate.Status {
	t.Helper()
	l, err := redisrate.List(ctx, rdb, name)
	require.NoError(t, err)
	require.Len(t, l, 1, "limit %q", name)
	return l[0]
}

// dump is every key of the limits matching prefix, with its type, value and TTL.
func dump(t *testing.T, rdb redis.UniversalClient, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names {
		for _, k := range []string{":window", ":holds", ":limit"} {
			key := "spendguard-rate:{" + n + "}" + k
			v, err := rdb.Dump(ctx, key).Result()
			if err == redis.Nil {
				continue
			}
			require.NoError(t, err)
			ttl, err := rdb.PTTL(ctx, key).Result()
			require.NoError(t, err)
			out[key] = v + "|" + (ttl / time.Second).String()
		}
	}
	return out
}

func TestList(t *testing.T) { onEachRedis(t, testList) }

func testList(t *testing.T, rdb redis.UniversalClient) {
	base := uniqueName(t)
	a, b, c := base+"-a", base+"-b", base+"-c"
	own := ratelimit.Limit{Interval: time.Hour, Tokens: 1000, Requests: 3}
	la, lb := newLimit(t, rdb, a, own), newLimit(t, rdb, b, own)
	r1 := reserve(t, la, 100, 50)
	r2 := reserve(t, la, 10, 5)
	require.NoError(t, la.Settle(ctx, r1, ratelimit.Cost{Input: 60, Output: 20}, 0))
	_ = r2 // in flight
	rb := reserve(t, lb, 1, 1)
	before := time.Now()
	require.NoError(t, lb.Settle(ctx, rb, ratelimit.Cost{}, time.Minute)) // a 429
	require.NoError(t, redisrate.SetLimit(ctx, rdb, c, ratelimit.Limit{Interval: time.Hour, Input: 9}))

	keys := dump(t, rdb, a, b, c)
	l, err := redisrate.List(ctx, rdb, base+"-*")
	require.NoError(t, err)
	assert.Equal(t, keys, dump(t, rdb, a, b, c), "List wrote nothing")
	require.Len(t, l, 3)
	assert.Equal(t, []string{a, b, c}, []string{l[0].Name, l[1].Name, l[2].Name}, "sorted by name")

	sa := l[0]
	assert.Equal(t, own, sa.Limit)
	assert.Equal(t, own, sa.Default)
	assert.False(t, sa.FromRedis)
	assert.Equal(t, ratelimit.Cost{Input: 70, Output: 25}, sa.Counted, "the settled call at its usage, the other at its estimate")
	assert.Equal(t, uint64(2), sa.CountedRequests)
	assert.Equal(t, 1, sa.InFlight)
	assert.Equal(t, ratelimit.Cost{Input: 10, Output: 5}, sa.Held)
	assert.True(t, sa.PausedUntil.IsZero())
	assert.WithinDuration(t, time.Now(), sa.Now, 5*time.Second)

	sb := l[1]
	assert.Zero(t, sb.Counted, "a 429 gives everything back")
	assert.Zero(t, sb.CountedRequests)
	assert.WithinDuration(t, before.Add(time.Minute), sb.PausedUntil, 5*time.Second)

	sc := l[2]
	assert.True(t, sc.FromRedis, "an override no process has used yet")
	assert.Equal(t, ratelimit.Limit{Interval: time.Hour, Input: 9}, sc.Limit)
	assert.Zero(t, sc.Default)

	one, err := redisrate.List(ctx, rdb, a)
	require.NoError(t, err)
	require.Len(t, one, 1)
	assert.Equal(t, sa.Counted, one[0].Counted)

	t.Run("waiting until", func(t *testing.T) {
		name := uniqueName(t)
		l := newLimit(t, rdb, name, ratelimit.Limit{Interval: 300 * time.Millisecond, Requests: 1})
		reserve(t, l, 1, 0)
		done := make(chan error, 1)
		go func() { _, err := l.Reserve(ctx, ratelimit.Cost{Input: 1}); done <- err }()
		var st redisrate.Status
		require.Eventually(t, func() bool { st = statusOf(t, rdb, name); return !st.WaitingUntil.IsZero() }, 5*time.Second, time.Millisecond)
		assert.True(t, st.WaitingUntil.After(st.Now))
		require.NoError(t, <-done)
	})
}

func TestListBadInput(t *testing.T) {
	rdb := client(t)
	_, err := redisrate.List(ctx, rdb, "a{")
	assert.Error(t, err)
	_, err = redisrate.List(ctx, nil, "")
	assert.Error(t, err)
	_, err = redisrate.List(ctx, rdb, "", redisrate.WithKeyPrefix("{"))
	assert.Error(t, err)

	base := uniqueName(t)
	good, bad := base+"-good", base+"-bad"
	reserve(t, newLimit(t, rdb, good, ratelimit.Limit{Interval: time.Hour, Tokens: 5}), 1, 1)
	require.NoError(t, rdb.Set(ctx, "spendguard-rate:{"+bad+"}:window", "not a hash", time.Minute).Err())
	l, err := redisrate.List(ctx, rdb, base+"*")
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad)
	assert.NotErrorIs(t, err, budget.ErrUnavailable)
	require.Len(t, l, 1, "the readable limit is still listed")
	assert.Equal(t, good, l[0].Name)

	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer down.Close()
	_, err = redisrate.List(ctx, down, "")
	assert.ErrorIs(t, err, budget.ErrUnavailable)
	assert.ErrorIs(t, redisrate.SetLimit(ctx, down, "x", ratelimit.Limit{}), budget.ErrUnavailable)
}

// Goroutines reserving while the limit is changed under them: no call whose script
// ran after SetLimit returned is admitted past the new limit, and the next reserve
// reports it.
func TestSetLimitUnderLoad(t *testing.T) {
	rdb := client(t)
	name := uniqueName(t)
	lim := newLimit(t, rdb, name, ratelimit.Limit{Interval: time.Hour, Requests: 100000})
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var starts []time.Time
	errs := make(chan error, 4)
	running := make(chan struct{}, 4)
	for range 4 {
		go func() {
			first := true
			for c.Err() == nil {
				r, err := lim.Reserve(c, ratelimit.Cost{Input: 1})
				if err != nil {
					if c.Err() == nil {
						errs <- err
						return
					}
					break
				}
				mu.Lock()
				starts = append(starts, r.Start)
				mu.Unlock()
				if first {
					running <- struct{}{}
					first = false
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		<-running
	}
	require.NoError(t, redisrate.SetLimit(ctx, rdb, name, ratelimit.Limit{Interval: time.Hour, Requests: 1}))
	set := time.Now()
	short, cancelShort := within(t, 200*time.Millisecond)
	defer cancelShort()
	_, err := lim.Reserve(short, ratelimit.Cost{Input: 1})
	var e *ratelimit.Error
	require.ErrorAs(t, err, &e, "no room under an override of 1 request")
	assert.Equal(t, uint64(1), e.Limit.Requests)
	cancel()
	for range 4 {
		assert.NoError(t, <-errs)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range starts {
		assert.False(t, s.After(set.Add(2*time.Millisecond)), "admitted at %v, after the override of 1 was set at %v", s, set)
	}
	t.Logf("%d calls admitted before the change", len(starts))
}
