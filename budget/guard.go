package budget

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Guard limits unit-cost work, such as tool dispatches or rows read, that has no
// estimate to settle: a unit is taken before the work and, when the work should not
// count, given back.
type Guard interface {
	// TryAcquire takes cost units and reports whether they were available. false
	// with a nil error is a denial; an error is a failure of the guard itself.
	TryAcquire(ctx context.Context, cost uint64) (bool, error)
	// Release gives cost units back.
	Release(ctx context.Context, cost uint64) error
}

// AtomicGuard is an in-process Guard, lock-free.
type AtomicGuard struct {
	capacity uint64
	used     atomic.Uint64
}

// NewAtomicGuard returns a guard of capacity units. A capacity of 0 denies everything.
func NewAtomicGuard(capacity uint64) *AtomicGuard { return &AtomicGuard{capacity: capacity} }

// TryAcquire takes cost units when that many are left. A cost of 0 is granted while
// anything is left and denied once nothing is. It never blocks and ignores ctx.
func (g *AtomicGuard) TryAcquire(_ context.Context, cost uint64) (bool, error) {
	for {
		u := g.used.Load()
		if u >= g.capacity || g.capacity-u < cost {
			return false, nil
		}
		if g.used.CompareAndSwap(u, u+cost) {
			return true, nil
		}
	}
}

// Release gives cost units back. Releasing more than is in use frees everything and
// returns an error saying by how much the release overshot.
func (g *AtomicGuard) Release(_ context.Context, cost uint64) error {
	for {
		u := g.used.Load()
		n, over := u-cost, uint64(0)
		if cost > u {
			n, over = 0, cost-u
		}
		if g.used.CompareAndSwap(u, n) {
			if over > 0 {
				return fmt.Errorf("budget: guard released %d units more than were acquired", over)
			}
			return nil
		}
	}
}

// Used is the number of units currently taken.
func (g *AtomicGuard) Used() uint64 { return g.used.Load() }

// Remaining is the number of units that can still be taken.
func (g *AtomicGuard) Remaining() uint64 {
	u := g.used.Load()
	if u >= g.capacity {
		return 0
	}
	return g.capacity - u
}

var _ Guard = (*AtomicGuard)(nil)
