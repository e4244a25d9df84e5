package ratelimit_test

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/internal/testseed"
	"github.com/spendguard/spendguard/ratelimit"
)

// call is one admitted call as the property tests see it.
type call struct {
	seq       uint64
	start     time.Time
	est, used ratelimit.Cost
	released  bool
}

func (c call) usedTokens() uint64 { return c.used.Input + c.used.Output }
func (c call) overage() (in, out, tot uint64) {
	pos := func(a, b uint64) uint64 {
		if a > b {
			return a - b
		}
		return 0
	}
	return pos(c.used.Input, c.est.Input), pos(c.used.Output, c.est.Output),
		pos(c.used.Input+c.used.Output, c.est.Input+c.est.Output)
}

// checkWindows asserts the package's bound: in every span of one interval, the calls
// admitted hold at most the limit plus their overage, and at most Requests requests.
// The span ending at each admission is the worst one ending near it.
func checkWindows(t *testing.T, l ratelimit.Limit, calls []call) {
	t.Helper()
	slices.SortFunc(calls, func(a, b call) int { return a.start.Compare(b.start) })
	lo := 0
	var worst float64
	for hi := range calls {
		for !calls[lo].start.After(calls[hi].start.Add(-l.Interval)) {
			lo++
		}
		var in, out, tot, oin, oout, otot, req uint64
		for _, c := range calls[lo : hi+1] {
			if c.released {
				continue
			}
			in, out, tot, req = in+c.used.Input, out+c.used.Output, tot+c.usedTokens(), req+1
			a, b, d := c.overage()
			oin, oout, otot = oin+a, oout+b, otot+d
		}
		if l.Tokens > 0 {
			require.LessOrEqual(t, tot, l.Tokens+otot, "tokens in the interval ending at call %d", hi)
			worst = max(worst, float64(tot)/float64(l.Tokens+otot))
		}
		if l.Input > 0 {
			require.LessOrEqual(t, in, l.Input+oin, "input tokens in the interval ending at call %d", hi)
		}
		if l.Output > 0 {
			require.LessOrEqual(t, out, l.Output+oout, "output tokens in the interval ending at call %d", hi)
		}
		if l.Requests > 0 {
			require.LessOrEqual(t, req, l.Requests, "requests in the interval ending at call %d", hi)
		}
	}
	t.Logf("%d calls; fullest interval at %.0f%% of limit+overage", len(calls), 100*worst)
}

// TestPropertyWindow runs goroutines that reserve random estimates and settle random
// usage (mostly under the estimate, sometimes over, sometimes a 429's zero), and
// checks the bound over every interval, the arrival order, and that the run took at
// least as long as its tokens need at the rate.
func TestPropertyWindow(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	for round := range 3 {
		l := ratelimit.Limit{Interval: 30 * time.Millisecond}
		switch round {
		case 0:
			l.Tokens, l.Requests = 1000, 12
		case 1:
			l.Input, l.Output = 700, 300
		case 2:
			l.Tokens, l.Input = 900, 800
		}
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			lim, err := ratelimit.New("p", l)
			require.NoError(t, err)
			var mu sync.Mutex
			var calls []call
			var wg sync.WaitGroup
			for g := range 8 {
				s := rng.Uint64()
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(s, uint64(g)))
					for range 25 {
						est := ratelimit.Cost{Input: r.Uint64N(200), Output: r.Uint64N(200)}
						res, err := lim.Reserve(ctx, est)
						if !assert.NoError(t, err) {
							return
						}
						c := call{start: res.Start, est: est}
						c.seq, _ = strconv.ParseUint(res.ID, 10, 64)
						switch r.IntN(8) {
						case 0: // a 429
							c.released = true
						case 1: // over the estimate
							c.used = ratelimit.Cost{Input: est.Input + r.Uint64N(50), Output: est.Output + r.Uint64N(50)}
						default:
							c.used = ratelimit.Cost{Input: r.Uint64N(est.Input + 1), Output: r.Uint64N(est.Output + 1)}
						}
						assert.NoError(t, lim.Settle(ctx, res, c.used, 0))
						mu.Lock()
						calls = append(calls, c)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			require.Len(t, calls, 200)

			// Arrival order: admissions numbered in the order they reached the limiter
			// start in that order.
			slices.SortFunc(calls, func(a, b call) int { return int(a.seq) - int(b.seq) })
			for i := 1; i < len(calls); i++ {
				require.False(t, calls[i].start.Before(calls[i-1].start), "call %d admitted before call %d, which arrived first", calls[i].seq, calls[i-1].seq)
			}
			first, last := calls[0].start, calls[len(calls)-1].start
			checkWindows(t, l, calls)

			// The run took as long as its tokens need: every interval held at most the
			// limit plus the run's overage.
			var used, over uint64
			for _, c := range calls {
				if !c.released {
					used += c.usedTokens()
					_, _, o := c.overage()
					over += o
				}
			}
			if l.Tokens > 0 {
				need := time.Duration(float64(l.Interval) * (float64(used)/float64(l.Tokens+over) - 1))
				assert.GreaterOrEqual(t, last.Sub(first), need, "%d tokens went through faster than the rate allows", used)
			}
		})
	}
}
