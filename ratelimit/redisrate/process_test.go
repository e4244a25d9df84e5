package redisrate_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/ratelimit"
	"github.com/spendguard/spendguard/ratelimit/redisrate"
)

// The helper process is this test binary run again with envHelper set: it makes
// envCalls calls from 4 goroutines through the limit envName, printing one line per
// call ("call START_MS EST_IN EST_OUT USED_IN USED_OUT RELEASED"), and exits non-zero
// on any error.
const (
	envHelper = "SPENDGUARD_RATE_HELPER"
	envRedis  = "SPENDGUARD_RATE_HELPER_REDIS"
	envName   = "SPENDGUARD_RATE_HELPER_NAME"
	envSeed   = "SPENDGUARD_RATE_HELPER_SEED"
	envCalls  = "SPENDGUARD_RATE_HELPER_CALLS"
)

// processLimit is the limit the four processes share.
var processLimit = ratelimit.Limit{Interval: 400 * time.Millisecond, Tokens: 3000, Requests: 40}

const maxEstimate = 400 // per call: input and output each < maxEstimate/2

func helperMain(mode string) int {
	rdb := helperClient()
	defer rdb.Close()
	lim, err := redisrate.New(rdb, os.Getenv(envName), processLimit)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	if mode == "hold" { // hold most of the limit, say so, and wait to be killed
		r, err := lim.Reserve(ctx, ratelimit.Cost{Input: processLimit.Tokens - 100})
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		fmt.Printf("held %d\n", r.Start.UnixMilli())
		time.Sleep(time.Hour)
		return 0
	}
	seed, _ := strconv.ParseUint(os.Getenv(envSeed), 10, 64)
	n, _ := strconv.Atoi(os.Getenv(envCalls))
	var mu sync.Mutex
	var wg sync.WaitGroup
	failed := false
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for range n {
				est := ratelimit.Cost{Input: rng.Uint64N(maxEstimate / 2), Output: rng.Uint64N(maxEstimate / 2)}
				r, err := lim.Reserve(ctx, est) // no deadline: no call may fail for the limit
				var used ratelimit.Cost
				released := 0
				if err == nil {
					switch rng.IntN(8) {
					case 0:
						released = 1 // a 429: nothing billed
					case 1:
						used = ratelimit.Cost{Input: est.Input + rng.Uint64N(40), Output: est.Output + rng.Uint64N(40)}
					default:
						used = ratelimit.Cost{Input: rng.Uint64N(est.Input + 1), Output: rng.Uint64N(est.Output + 1)}
					}
					err = lim.Settle(ctx, r, used, 0)
				}
				mu.Lock()
				if err != nil {
					fmt.Fprintln(os.Stderr, "helper:", err)
					failed = true
				} else {
					fmt.Printf("call %d %d %d %d %d %d\n", r.Start.UnixMilli(), est.Input, est.Output, used.Input, used.Output, released)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed {
		return 1
	}
	return 0
}

type call struct {
	start     time.Time
	est, used ratelimit.Cost
	released  bool
}

func (c call) overage() uint64 {
	if u, e := c.used.Input+c.used.Output, c.est.Input+c.est.Output; u > e {
		return u - e
	}
	return 0
}

// TestFourProcesses shares one limit between four OS processes of four goroutines
// each, on the server and on the cluster: no call fails; every span of one interval
// holds at most the limit plus the overage of its calls, and at most Requests
// requests; and the run lasts about its tokens divided by the rate (bounds below).
func TestFourProcesses(t *testing.T) { onEachRedis(t, testFourProcesses) }

func testFourProcesses(t *testing.T, rdb redis.UniversalClient) {
	const perGoroutine = 12
	name := uniqueName(t)
	var cmds []*exec.Cmd
	var outs []*bufio.Scanner
	for p := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envHelper+"=calls", redisEnv(rdb), envName+"="+name,
			envSeed+"="+strconv.Itoa(p+1), envCalls+"="+strconv.Itoa(perGoroutine))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		cmds, outs = append(cmds, cmd), append(outs, bufio.NewScanner(out))
	}
	var calls []call
	for i, sc := range outs {
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 7 || f[0] != "call" {
				continue
			}
			var v [6]uint64
			for j := range v {
				v[j], _ = strconv.ParseUint(f[j+1], 10, 64)
			}
			calls = append(calls, call{start: time.UnixMilli(int64(v[0])), est: ratelimit.Cost{Input: v[1], Output: v[2]},
				used: ratelimit.Cost{Input: v[3], Output: v[4]}, released: v[5] == 1})
		}
		require.NoError(t, cmds[i].Wait(), "process %d: a call failed", i)
	}
	require.Len(t, calls, 4*4*perGoroutine, "every call was admitted")

	l := processLimit
	slices.SortFunc(calls, func(a, b call) int { return a.start.Compare(b.start) })
	lo := 0
	var sumMax, used, over uint64
	fullest := 0.0
	for hi, c := range calls {
		for !calls[lo].start.After(c.start.Add(-l.Interval)) {
			lo++
		}
		var tok, o, req uint64
		for _, w := range calls[lo : hi+1] {
			if !w.released {
				tok, o, req = tok+w.used.Input+w.used.Output, o+w.overage(), req+1
			}
		}
		require.LessOrEqual(t, tok, l.Tokens+o, "tokens used in the interval ending at %v", c.start)
		require.LessOrEqual(t, req, l.Requests, "requests in the interval ending at %v", c.start)
		fullest = max(fullest, float64(tok)/float64(l.Tokens))
		if !c.released {
			used += c.used.Input + c.used.Output
			over += c.overage()
		}
		sumMax += max(c.est.Input+c.est.Output, c.used.Input+c.used.Output)
	}
	d := calls[len(calls)-1].start.Sub(calls[0].start)
	// At least: every interval holds at most the limit plus the run's overage.
	least := time.Duration(float64(l.Interval) * (float64(used)/float64(l.Tokens+over) - 1))
	// At most: a call waits only while the last interval and a slot count more than
	// the limit less its estimate, each call counting at most max(estimate, usage), so
	// every interval and slot of the run admits at least Tokens − maxEstimate of
	// that, or 1/Requests of the requests; plus two intervals for the ends.
	span := l.Interval + l.Interval/64
	byTokens := float64(sumMax) / float64(l.Tokens-maxEstimate)
	byRequests := float64(len(calls)) / float64(l.Requests)
	most := time.Duration((max(byTokens, byRequests) + 2) * float64(span))
	t.Logf("%d calls, %d tokens used in %v (bounds %v..%v); fullest interval %.0f%% of the limit",
		len(calls), used, d.Round(time.Millisecond), least.Round(time.Millisecond), most.Round(time.Millisecond), 100*fullest)
	require.GreaterOrEqual(t, d, least, "faster than the rate allows")
	require.LessOrEqual(t, d, most, "slower than the rate allows: calls waited for nothing")
}

// TestKilledProcessLeaksNothing kills -9 a process holding most of the limit: its
// hold counts until its slot stops counting, one interval after its admission, and
// then the whole limit is there again, and the hold is forgotten.
func TestKilledProcessLeaksNothing(t *testing.T) { onEachRedis(t, testKilledProcessLeaksNothing) }

func testKilledProcessLeaksNothing(t *testing.T, rdb redis.UniversalClient) {
	name := uniqueName(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=hold", redisEnv(rdb), envName+"="+name)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	require.True(t, sc.Scan(), "the helper did not get its hold: %v", sc.Err())
	held, err := strconv.ParseInt(strings.TrimPrefix(sc.Text(), "held "), 10, 64)
	require.NoError(t, err, sc.Text())
	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no settle
	_ = cmd.Wait()

	lim, err := redisrate.New(rdb, name, processLimit)
	require.NoError(t, err)
	r, err := lim.Reserve(ctx, ratelimit.Cost{Input: processLimit.Tokens}) // the whole limit
	require.NoError(t, err)
	gap := r.Start.Sub(time.UnixMilli(held))
	require.GreaterOrEqual(t, gap, processLimit.Interval, "the dead process's hold stopped counting early")
	require.LessOrEqual(t, gap, processLimit.Interval+processLimit.Interval/64+time.Millisecond, "the dead process's hold leaked")
	require.NoError(t, lim.Settle(ctx, r, ratelimit.Cost{}, 0))
	// The next call after the dead hold's slot stopped counting forgets it.
	r, err = lim.Reserve(ctx, ratelimit.Cost{Input: 1})
	require.NoError(t, err)
	require.NoError(t, lim.Settle(ctx, r, ratelimit.Cost{}, 0))
	holds, err := rdb.ZCard(ctx, "spendguard-rate:{"+name+"}:holds").Result()
	require.NoError(t, err)
	require.Zero(t, holds, "the dead process's hold is remembered after its slot stopped counting")
}
