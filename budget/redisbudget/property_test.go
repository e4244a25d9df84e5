package redisbudget_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/budget/window"
	"github.com/spendguard/spendguard/internal/sat"
	"github.com/spendguard/spendguard/internal/testseed"
)

// snapEnd is the WindowEnd b's snapshots report (the model knows no windows).
func snapEnd(t *testing.T, b *redisbudget.Budget) time.Time { return snap(t, b).WindowEnd }

// seed is the run's seed, logged; SPENDGUARD_SEED replays a failure.
func seed(t *testing.T) uint64 { return testseed.Get(t) }

// model is the obvious sequential budget, the one budget.Atomic is tested against.
type model struct{ capacity, consumed, held uint64 }

func (m *model) remaining() uint64 {
	if c := sat.Add(m.consumed, m.held); c < m.capacity {
		return m.capacity - c
	}
	return 0
}

// TestAgreesWithModel runs random operation sequences against a Redis budget and the
// sequential model and requires the same decision and state after every step.
func TestAgreesWithModel(t *testing.T) { onEachRedis(t, testAgreesWithModel) }

func testAgreesWithModel(t *testing.T, rdb redis.UniversalClient) {
	rng := rand.New(rand.NewPCG(seed(t), 2))
	for run := range 20 {
		capacity := rng.Uint64N(2000)
		var opts []redisbudget.Option
		if run%2 == 1 { // the same rules inside one window (its keys, ids and TTLs)
			at := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
			opts = append(opts, redisbudget.WithWindow(window.Every(time.Hour)),
				redisbudget.WithClock(func() time.Time { return at }))
		}
		b := newBudget(t, rdb, capacity, opts...)
		m := &model{capacity: capacity}
		var open []*budget.Reservation
		for step := range 120 {
			where := func() string { return fmt.Sprintf("run %d step %d", run, step) }
			switch op := rng.IntN(10); {
			case op < 3:
				est := rng.Uint64N(capacity/2 + 2)
				r, err := b.TryReserve(ctx, est)
				if fits := m.remaining() > 0 && m.remaining() >= est; fits {
					require.NoError(t, err, where())
					require.Equal(t, est, r.Tokens())
					m.held += est
					open = append(open, r)
				} else {
					requireDenied(t, err, est, m.remaining())
				}
			case op < 4:
				lo := rng.Uint64N(capacity/4 + 2)
				hi := lo + rng.Uint64N(capacity+1)
				r, err := b.TryReserveRange(ctx, lo, hi)
				if left := m.remaining(); left > 0 && left >= lo {
					require.NoError(t, err, where())
					require.Equal(t, min(hi, left), r.Tokens(), where())
					m.held += r.Tokens()
					open = append(open, r)
				} else {
					requireDenied(t, err, lo, left)
				}
			case op < 8 && len(open) > 0:
				i := rng.IntN(len(open))
				r := open[i]
				open = append(open[:i], open[i+1:]...)
				m.held -= r.Tokens()
				if rng.IntN(4) == 0 {
					require.NoError(t, b.Release(ctx, r), where())
				} else {
					p, c := rng.Uint64N(r.Tokens()+20), rng.Uint64N(r.Tokens()/2+5)
					require.NoError(t, b.Record(ctx, r, p, c), where())
					m.consumed += p + c
				}
				if rng.IntN(3) == 0 { // a duplicate settle changes nothing
					require.NoError(t, b.Record(ctx, r, 7, 7), where())
					require.NoError(t, b.Release(ctx, budgetkit.NewReservation(b, budgetkit.ID(r), r.Tokens())), where())
				}
			default:
				require.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: capacity, Consumed: m.consumed,
					Held: m.held, Remaining: m.remaining(), WindowEnd: snapEnd(t, b)}, snap(t, b), where())
			}
		}
		require.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: capacity, Consumed: m.consumed,
			Held: m.held, Remaining: m.remaining(), WindowEnd: snapEnd(t, b)}, snap(t, b), "run %d", run)
	}
}

// TestConcurrentInvariants drives one budget from many goroutines with random
// interleavings of reserve, record, release and duplicate settles, while a sampler
// checks every snapshot (each one atomic in Redis).
func TestConcurrentInvariants(t *testing.T) { onEachRedis(t, testConcurrentInvariants) }

func testConcurrentInvariants(t *testing.T, rdb redis.UniversalClient) {
	s := seed(t)
	for _, overage := range []bool{false, true} {
		const capacity = 5000
		b := newBudget(t, rdb, capacity)
		var recorded atomic.Uint64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				sn, err := b.Snapshot(ctx)
				if !assert.NoError(t, err) {
					return
				}
				assert.GreaterOrEqual(t, sn.Consumed, last, "consumed never goes down")
				last = sn.Consumed
				if !overage {
					// Usage never exceeds its hold here, so committed = consumed + held
					// can only exceed capacity if a grant went beyond it.
					assert.LessOrEqual(t, sn.Consumed+sn.Held, uint64(capacity), "over capacity: %+v", sn)
				}
			}
		}()
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(s, uint64(g)))
				var open []*budget.Reservation
				settle := func(r *budget.Reservation) {
					if rng.IntN(4) == 0 {
						assert.NoError(t, b.Release(ctx, r))
					} else {
						u := rng.Uint64N(r.Tokens() + 1)
						if overage {
							u += rng.Uint64N(100)
						}
						assert.NoError(t, b.Record(ctx, r, u, 0))
						recorded.Add(u)
					}
					if rng.IntN(4) == 0 {
						assert.NoError(t, b.Record(ctx, r, 1000, 0), "duplicate")
					}
				}
				for range 120 {
					if len(open) > 0 && rng.IntN(2) == 0 {
						i := rng.IntN(len(open))
						settle(open[i])
						open = append(open[:i], open[i+1:]...)
						continue
					}
					var r *budget.Reservation
					var err error
					if rng.IntN(3) == 0 {
						r, err = b.TryReserveRange(ctx, rng.Uint64N(50), rng.Uint64N(600))
					} else {
						r, err = b.TryReserve(ctx, rng.Uint64N(600))
					}
					if errors.Is(err, budget.ErrDenied) {
						continue
					}
					if assert.NoError(t, err) {
						open = append(open, r)
					}
				}
				for _, r := range open {
					settle(r)
				}
			}()
		}
		wg.Wait()
		close(stop)
		sampler.Wait()
		sn := snap(t, b)
		want := recorded.Load()
		assert.Equal(t, want, sn.Consumed, "consumed is the sum of recorded usage (overage %v)", overage)
		assert.Zero(t, sn.Held, "nothing held once all is settled")
		if want >= capacity {
			_, err := b.TryReserve(ctx, 0)
			requireDenied(t, err, 0, 0)
		} else {
			assert.Equal(t, capacity-want, sn.Remaining)
		}
		t.Logf("overage %v: recorded %d of %d", overage, want, capacity)
	}
}
