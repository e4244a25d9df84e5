package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/redisbudget"
)

// badCapacity reports whether SetCapacity refused its capacity, the only error it
// returns without a call to Redis once the name has been checked (the range is the
// library's rule: 0 to 2^53).
func badCapacity(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !errors.Is(err, budget.ErrUnavailable) && !errors.Is(err, redisbudget.ErrNotBudget)
}

// listBudgets is Family.List with the keys it skipped (under the prefix, not a
// budget's), one line each.
func listBudgets(ctx context.Context, a *redisbudget.Family, pattern string) ([]redisbudget.Status, []string, error) {
	l, skipped, err := a.List(ctx, pattern)
	var lines []string
	for _, s := range skipped {
		lines = append(lines, strings.TrimPrefix(oneLine(s), "redisbudget: "))
	}
	return l, lines, err
}

// errUnknownBudget is wrapped by statusOf's and resetOf's errors for a budget Redis
// holds nothing of.
var errUnknownBudget = errors.New("unknown budget")

// statusOf is Family.Status, with an error wrapping errUnknownBudget for a budget
// Redis holds nothing of (no process has used it, or its keys expired, and it has no
// override).
func statusOf(ctx context.Context, a *redisbudget.Family, name string) (redisbudget.Status, error) {
	s, err := a.Status(ctx, name)
	if err == nil && !s.InRedis {
		err = fmt.Errorf("%w %q: nothing of it in Redis (no process has used it, or its keys expired)", errUnknownBudget, name)
	}
	return s, err
}

// resetOf is Family.Reset of a budget statusOf finds.
func resetOf(ctx context.Context, a *redisbudget.Family, name string) (uint64, error) {
	if _, err := statusOf(ctx, a, name); err != nil {
		return 0, err
	}
	return a.Reset(ctx, name)
}
