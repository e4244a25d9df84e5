package budget_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
)

// namedNil is a budget type of one's own whose methods dereference the receiver, as
// most do: called through a nil pointer, every one of them would panic.
type namedNil struct{ name string }

func (n *namedNil) Name() string { return n.name }
func (n *namedNil) TryReserve(_ context.Context, e uint64) (*budget.Reservation, error) {
	return budgetkit.NewReservation(n, n.name, e), nil
}
func (n *namedNil) Record(context.Context, *budget.Reservation, uint64, uint64) error { return nil }
func (n *namedNil) Release(context.Context, *budget.Reservation) error                { return nil }

// nilBudgets are the nil budgets a caller can hand over by mistake.
func nilBudgets() map[string]budget.TokenBudget {
	return map[string]budget.TokenBudget{
		"untyped nil":      nil,
		"nil *Atomic":      (*budget.Atomic)(nil),
		"nil user pointer": (*namedNil)(nil),
	}
}

func requireNilBudget(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, budget.ErrNilBudget)
	assert.False(t, errors.Is(err, budget.ErrDenied), "a nil budget is a mistake, not a denial")
}

func TestAllWithANilMemberGrantsNothing(t *testing.T) {
	for name, nb := range nilBudgets() {
		t.Run(name, func(t *testing.T) {
			global := budget.NewAtomic(1000, budget.WithName("global"))
			for _, all := range []budget.TokenBudget{budget.All(nb, global), budget.All(global, nb), budget.All(nb)} {
				r, err := all.TryReserve(ctx, 10)
				requireNilBudget(t, err)
				assert.Nil(t, r)
				rr, ok := all.(budgetkit.RangeReserver)
				require.True(t, ok, "a nil member does not hide the others' ranges")
				_, err = rr.TryReserveRange(ctx, 1, 10)
				requireNilBudget(t, err)
				assert.ErrorIs(t, all.Release(ctx, nil), budgetkit.ErrInvalidReservation)
				_ = all.(budgetkit.Named).Name() // never panics
			}
			assert.Equal(t, budget.Snapshot{Name: "global", Capacity: 1000, Remaining: 1000}, snap(t, global),
				"the other members' holds were rolled back")
		})
	}
}

func TestNewContextCarriesANilBudgetThatGrantsNothing(t *testing.T) {
	for name, nb := range nilBudgets() {
		t.Run(name, func(t *testing.T) {
			run := budget.NewAtomic(100, budget.WithName("run"))
			c := budget.NewContext(budget.NewContext(ctx, run), nb)
			list := budgetkit.FromContext(c)
			require.Len(t, list, 2, "a nil budget is not dropped: dropping it would lift its limit")
			assert.Same(t, run, list[0])
			require.NotNil(t, list[1])
			_, err := list[1].TryReserve(ctx, 1)
			requireNilBudget(t, err)
			assert.Contains(t, err.Error(), "budget.NewContext")
			_, err = budget.All(list...).TryReserve(ctx, 1)
			requireNilBudget(t, err)
			assert.ErrorIs(t, list[1].Record(ctx, nil, 1, 1), budgetkit.ErrInvalidReservation)
			_, err = list[1].(budget.Observable).Snapshot(ctx)
			requireNilBudget(t, err)
			assert.Zero(t, snap(t, run).Held)
		})
	}
	assert.NotNil(t, budgetkit.FromContext(budget.NewContext(nil, budget.NewAtomic(1))), "a nil ctx is Background") //nolint:staticcheck // bad input on purpose
}

func TestNilAtomicNeverPanics(t *testing.T) {
	var a *budget.Atomic
	_, err := a.TryReserve(ctx, 1)
	requireNilBudget(t, err)
	_, err = a.TryReserveRange(ctx, 1, 2)
	requireNilBudget(t, err)
	requireNilBudget(t, a.Record(ctx, nil, 1, 1))
	assert.ErrorIs(t, a.Release(ctx, nil), budgetkit.ErrInvalidReservation)
	r, err := budget.NewAtomic(10).TryReserve(ctx, 1)
	require.NoError(t, err)
	requireNilBudget(t, a.Release(ctx, r))
	_, err = a.Snapshot(ctx)
	requireNilBudget(t, err)
	assert.Zero(t, a.Remaining())
	assert.Empty(t, a.Name())
	assert.Nil(t, a.AlertFractions())
}

func TestAllOfOneIsThatBudget(t *testing.T) {
	a := budget.NewAtomic(10)
	assert.Same(t, a, budget.All(a))
	var none budget.TokenBudget = budget.All()
	r, err := none.TryReserve(ctx, 1<<62)
	require.NoError(t, err, "All() grants everything")
	require.NoError(t, none.Release(ctx, r))
}
