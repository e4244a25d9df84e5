package budget_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/sat"
	"github.com/spendguard/spendguard/internal/testseed"
)

// seed is the run's seed, logged; SPENDGUARD_SEED replays a failure.
func seed(t *testing.T) uint64 { return testseed.Get(t) }

// model is the obvious, sequential budget every implementation must agree with.
type model struct{ capacity, consumed, held uint64 }

func (m *model) committed() uint64 { return sat.Add(m.consumed, m.held) }
func (m *model) remaining() uint64 {
	if c := m.committed(); c < m.capacity {
		return m.capacity - c
	}
	return 0
}

// TestAtomicAgreesWithModel runs random operation sequences against Atomic and the
// sequential model and requires the same decision and the same state after each step.
func TestAtomicAgreesWithModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 1))
	for run := 0; run < 200; run++ {
		capacity := rng.Uint64N(2000)
		b := budget.NewAtomic(capacity)
		m := &model{capacity: capacity}
		var open []*budget.Reservation
		for step := 0; step < 200; step++ {
			switch op := rng.IntN(10); {
			case op < 4: // reserve
				est := rng.Uint64N(capacity/2 + 2)
				r, err := b.TryReserve(ctx, est)
				fits := m.committed() < capacity && m.remaining() >= est
				require.Equal(t, fits, err == nil, "run %d step %d: reserve %d with %+v", run, step, est, *m)
				if fits {
					m.held += est
					open = append(open, r)
				} else {
					requireDenied(t, err, est, m.remaining())
				}
			case op < 5: // range
				lo := rng.Uint64N(capacity/4 + 2)
				hi := lo + rng.Uint64N(capacity+1)
				r, err := b.TryReserveRange(ctx, lo, hi)
				fits := m.committed() < capacity && m.remaining() >= lo
				require.Equal(t, fits, err == nil)
				if fits {
					want := min(hi, m.remaining())
					require.Equal(t, want, r.Tokens())
					m.held += want
					open = append(open, r)
				}
			case op < 8 && len(open) > 0: // record, sometimes beyond the estimate
				i := rng.IntN(len(open))
				r := open[i]
				p, c := rng.Uint64N(r.Tokens()+1), rng.Uint64N(r.Tokens()/2+1)
				if rng.IntN(5) == 0 {
					c += rng.Uint64N(500)
				}
				require.NoError(t, b.Record(ctx, r, p, c))
				m.held -= r.Tokens()
				m.consumed += p + c
				open = append(open[:i], open[i+1:]...)
				require.NoError(t, b.Record(ctx, r, p, c), "double settle is a no-op")
			case len(open) > 0: // release
				i := rng.IntN(len(open))
				require.NoError(t, b.Release(ctx, open[i]))
				m.held -= open[i].Tokens()
				open = append(open[:i], open[i+1:]...)
			}
			s := snap(t, b)
			require.Equal(t, budget.Snapshot{Capacity: capacity, Consumed: m.consumed, Held: m.held, Remaining: m.remaining()}, s,
				"run %d step %d", run, step)
		}
	}
}

// TestAtomicInvariantsUnderConcurrency hammers one budget from many goroutines with
// random reserve/record/release and checks, at every grant, that the grants still
// outstanding plus the usage recorded never exceed capacity when nobody records beyond
// their estimate, and after, that Consumed is exactly the sum of recorded usage and
// nothing is held.
//
// outstanding is added to after a grant and taken from before its settle, and
// recorded after the settle, so outstanding ≤ held and recorded ≤ consumed at every
// instant: their sum exceeding capacity proves an over-grant.
func TestAtomicInvariantsUnderConcurrency(t *testing.T) {
	s0 := seed(t)
	for _, debt := range []bool{false, true} {
		const capacity = 10_000
		b := budget.NewAtomic(capacity)
		var recorded, outstanding, overGrants atomic.Uint64
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(s0, uint64(g)))
				for i := 0; i < 3000; i++ {
					var r *budget.Reservation
					var err error
					if rng.IntN(4) == 0 {
						r, err = b.TryReserveRange(ctx, rng.Uint64N(50), 50+rng.Uint64N(500))
					} else {
						r, err = b.TryReserve(ctx, rng.Uint64N(400))
					}
					if err != nil {
						assert.ErrorIs(t, err, budget.ErrDenied)
						continue
					}
					if o := outstanding.Add(r.Tokens()); !debt && o+recorded.Load() > capacity {
						overGrants.Add(1)
					}
					if rng.IntN(3) == 0 {
						outstanding.Add(-r.Tokens())
						assert.NoError(t, b.Release(ctx, r))
						continue
					}
					u := rng.Uint64N(r.Tokens() + 1)
					if debt && rng.IntN(10) == 0 {
						u += rng.Uint64N(1000)
					}
					outstanding.Add(-r.Tokens())
					assert.NoError(t, b.Record(ctx, r, u/2, u-u/2))
					recorded.Add(u)
					assert.NoError(t, b.Record(ctx, r, 1, 1)) // double settle: no-op
				}
			}()
		}
		wg.Wait()
		s := snap(t, b)
		assert.Equal(t, recorded.Load(), s.Consumed, "debt=%v: Consumed is the sum of recorded usage", debt)
		assert.Zero(t, s.Held, "debt=%v: nothing held once all settled", debt)
		assert.Zero(t, overGrants.Load(), "debt=%v: a grant went beyond capacity", debt)
	}
}
