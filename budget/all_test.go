package budget_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
)

// failing is a budget whose store is down.
type failing struct{ budget.TokenBudget }

func (failing) TryReserve(context.Context, uint64) (*budget.Reservation, error) {
	return nil, budget.ErrUnavailable
}

// plain hides Atomic's RangeReserver.
type plain struct{ budget.TokenBudget }

func TestAllRollsBackWhenTheThirdDenies(t *testing.T) {
	a := budget.NewAtomic(1000, budget.WithName("a"))
	b := budget.NewAtomic(1000, budget.WithName("b"))
	c := budget.NewAtomic(100, budget.WithName("c"))
	all := budget.All(a, b, c)
	_, err := all.TryReserve(ctx, 200)
	requireDenied(t, err, 200, 100)
	var d *budget.DeniedError
	require.ErrorAs(t, err, &d)
	assert.Equal(t, "c", d.Budget)
	for _, x := range []*budget.Atomic{a, b} {
		assert.Zero(t, snap(t, x).Held, "%s rolled back", x.Name())
	}
}

func TestAllRollsBackOnError(t *testing.T) {
	a := budget.NewAtomic(1000)
	all := budget.All(a, failing{})
	_, err := all.TryReserve(ctx, 10)
	require.ErrorIs(t, err, budget.ErrUnavailable)
	assert.Equal(t, uint64(1000), a.Remaining())
}

func TestAllRecordsEveryMember(t *testing.T) {
	a := budget.NewAtomic(1000)
	b := budget.NewAtomic(500)
	all := budget.All(a, b)
	r, err := all.TryReserve(ctx, 300)
	require.NoError(t, err)
	assert.Equal(t, uint64(300), r.Tokens())
	require.NoError(t, all.Record(ctx, r, 100, 400)) // 200 beyond: debt in both
	require.NoError(t, all.Record(ctx, r, 100, 400)) // no-op
	for _, x := range []*budget.Atomic{a, b} {
		s := snap(t, x)
		assert.Equal(t, uint64(500), s.Consumed)
		assert.Zero(t, s.Held)
	}

	r, err = all.TryReserve(ctx, 0)
	requireDenied(t, err, 0, 0) // b is spent
	assert.Nil(t, r)
	assert.Zero(t, snap(t, a).Held)
}

func TestAllRelease(t *testing.T) {
	a, b := budget.NewAtomic(100), budget.NewAtomic(100)
	all := budget.All(a, b)
	r, err := all.TryReserve(ctx, 60)
	require.NoError(t, err)
	require.NoError(t, all.Release(ctx, r))
	require.NoError(t, all.Release(ctx, r))
	assert.Equal(t, uint64(100), a.Remaining())
	assert.Equal(t, uint64(100), b.Remaining())
	assert.ErrorIs(t, all.Release(ctx, nil), budgetkit.ErrInvalidReservation)
	foreign, _ := a.TryReserve(ctx, 1)
	assert.ErrorIs(t, all.Record(ctx, foreign, 1, 1), budgetkit.ErrInvalidReservation)
	assert.ErrorIs(t, all.Release(ctx, budgetkit.NewReservation(nil, "", 0)), budgetkit.ErrInvalidReservation)
}

func TestAllRangeGrantsTheSmallest(t *testing.T) {
	a := budget.NewAtomic(1000, budget.WithName("a"))
	b := budget.NewAtomic(300, budget.WithName("b"))
	c := budget.NewAtomic(500, budget.WithName("c"))
	all := budget.All(a, b, c)
	rr, ok := all.(budgetkit.RangeReserver)
	require.True(t, ok)
	r, err := rr.TryReserveRange(ctx, 100, 800)
	require.NoError(t, err)
	assert.Equal(t, uint64(300), r.Tokens())
	require.NoError(t, all.Record(ctx, r, 200, 0))
	for _, x := range []*budget.Atomic{a, b, c} {
		s := snap(t, x)
		assert.Equal(t, uint64(200), s.Consumed, x.Name())
		assert.Zero(t, s.Held, x.Name())
	}
	_, err = rr.TryReserveRange(ctx, 150, 800)
	requireDenied(t, err, 150, 100)
	assert.Zero(t, snap(t, a).Held)

	_, ok = budget.All(a, plain{b}).(budgetkit.RangeReserver)
	assert.False(t, ok, "not a RangeReserver unless every member is")
}

// TestAllConcurrentNeverOvergrantsAnyMember checks, at every grant, that the grants
// still outstanding plus the usage recorded never exceed the smaller member's capacity
// (usage never exceeds the estimate here, so that would be an over-grant), and after,
// that every member recorded every call's usage.
func TestAllConcurrentNeverOvergrantsAnyMember(t *testing.T) {
	a := budget.NewAtomic(5000)
	b := budget.NewAtomic(3000)
	all := budget.All(a, b)
	var wg sync.WaitGroup
	var outstanding, recorded, overGrants atomic.Uint64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				r, err := all.TryReserve(ctx, uint64(10+i%50))
				if err != nil {
					assert.True(t, errors.Is(err, budget.ErrDenied))
					continue
				}
				if outstanding.Add(r.Tokens())+recorded.Load() > 3000 {
					overGrants.Add(1)
				}
				outstanding.Add(-r.Tokens())
				assert.NoError(t, all.Record(ctx, r, 1, uint64(i%7)))
				recorded.Add(1 + uint64(i%7))
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, overGrants.Load(), "a grant went beyond b's capacity")
	assert.Equal(t, recorded.Load(), snap(t, b).Consumed)
	sa, sb := snap(t, a), snap(t, b)
	assert.Equal(t, sa.Consumed, sb.Consumed)
	assert.Zero(t, sa.Held+sb.Held)
	assert.LessOrEqual(t, sb.Consumed, uint64(3000))
}

func TestAllFailOpenIsReported(t *testing.T) {
	open := failOpen{}
	all := budget.All(budget.NewAtomic(10), open)
	r, err := all.TryReserve(ctx, 5)
	require.NoError(t, err)
	assert.True(t, r.FailedOpen(), "a member that failed open makes the call not fully accounted for")
	require.NoError(t, all.Release(ctx, r))
}

type failOpen struct{}

func (f failOpen) TryReserve(_ context.Context, n uint64) (*budget.Reservation, error) {
	return budgetkit.NewFailOpen(f, n), nil
}
func (f failOpen) Record(context.Context, *budget.Reservation, uint64, uint64) error { return nil }
func (f failOpen) Release(context.Context, *budget.Reservation) error                { return nil }
func (f failOpen) Consumed(context.Context) (uint64, error)                          { return 0, nil }

func TestContextBudgets(t *testing.T) {
	assert.Nil(t, budgetkit.FromContext(ctx))
	assert.Nil(t, budgetkit.FromContext(nil)) // bad input must not panic
	a, b, c := budget.NewAtomic(1), budget.NewAtomic(2), budget.NewAtomic(3)
	ca := budget.NewContext(ctx, a)
	cab := budget.NewContext(ca, b)
	cac := budget.NewContext(ca, c) // siblings must not share storage
	assert.Equal(t, []budget.TokenBudget{a}, budgetkit.FromContext(ca))
	assert.Equal(t, []budget.TokenBudget{a, b}, budgetkit.FromContext(cab))
	assert.Equal(t, []budget.TokenBudget{a, c}, budgetkit.FromContext(cac))
}

func TestAllWithoutMembersGrants(t *testing.T) {
	none := budget.All()
	r, err := none.TryReserve(ctx, math.MaxUint64)
	require.NoError(t, err)
	require.NoError(t, none.Record(ctx, r, 3, 4))
	bad := budgetkit.NewReservation(none, "", 1) // issued by none, but without member holds
	assert.ErrorIs(t, none.Release(ctx, bad), budgetkit.ErrInvalidReservation)
}
