package budget

import (
	"context"

	"github.com/spendguard/spendguard/budget/internal/kithook"
)

// NewContext returns a copy of ctx that carries b in addition to the budgets ctx
// already carries, innermost last. Middleware reserves against every budget in the
// context, all-or-nothing, so a per-run budget nested under a per-tenant one limits a
// run by both.
//
// A nil b, or a nil pointer of a budget type (a nil *redisbudget.Budget from an
// unchecked error, say), is carried as a budget that refuses every reservation with an
// error wrapping ErrNilBudget: a call made with ctx fails instead of running without
// the missing limit. A nil ctx means context.Background().
func NewContext(ctx context.Context, b TokenBudget) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	b = orNil(b, "put in a context by budget.NewContext")
	outer := fromContext(ctx)
	list := make([]TokenBudget, len(outer)+1) // never share a backing array with the parent
	copy(list, outer)
	list[len(outer)] = b
	return context.WithValue(ctx, kithook.BudgetsKey{}, list)
}

// fromContext is budgetkit.FromContext.
func fromContext(ctx context.Context) []TokenBudget {
	list, _ := ctx.Value(kithook.BudgetsKey{}).([]TokenBudget)
	return list
}
